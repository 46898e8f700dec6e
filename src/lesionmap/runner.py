"""Build the book: execute the chapters with papermill in ``_toc.yml`` order, then render with Jupyter Book.

The committed chapters are MyST text notebooks (``book/**/*.md``). The runner converts each to a notebook
with jupytext, executes it with papermill into a staging tree (``_build/executed/``) that mirrors the
repository's layout, copies the plain pages and configuration beside them, writes the offline assets, and
runs ``jupyter-book build --all -W -n --keep-going`` on the staging tree with execution off. The text
sources and the executed notebooks never share a folder, so Sphinx never sees a document twice, and
papermill never writes into a jupytext-paired notebook.
"""

from __future__ import annotations

import json
import platform
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from lesionmap import offline

REPO_ROOT = Path(__file__).resolve().parents[2]
STATIC_DIR = Path("book") / "_static"
#: Files and folders copied verbatim into the staging tree next to the executed chapters.
_STAGED_FILES = ("_config.yml", "_toc.yml", "book/references.bib")


class BuildError(RuntimeError):
    """A build step failed; the message says which step and what to do."""


@dataclass
class BuildOptions:
    """What one build runs: the cohort, its size and seed, which chapters, extra papermill parameters."""

    cohort: str = "mcrc"
    n_patients: int = 0
    seed: int = 20230417
    chapters: list[str] | None = None
    parameters: dict = field(default_factory=dict)
    build_dir: Path = Path("_build")
    html: bool = True
    root: Path = REPO_ROOT

    def chapter_parameters(self) -> dict:
        """The papermill parameters every chapter receives."""
        return {
            "cohort": self.cohort,
            "n_patients": int(self.n_patients),
            "seed": int(self.seed),
            "build_dir": str(self.build_dir),
            **self.parameters,
        }


def toc_documents(root: Path = REPO_ROOT) -> list[str]:
    """Every document of ``_toc.yml`` in reading order, as paths without extension."""
    toc = yaml.safe_load((Path(root) / "_toc.yml").read_text(encoding="utf-8"))
    documents = [toc["root"]]

    def walk(entries):
        for entry in entries or ():
            if "file" in entry:
                documents.append(entry["file"])
            walk(entry.get("sections"))
            walk(entry.get("chapters"))

    for part in toc.get("parts", ()):
        walk(part.get("chapters"))
    walk(toc.get("chapters"))
    return documents


def is_notebook(path: Path) -> bool:
    """A MyST page is a notebook when its front matter names a kernel (jupytext's MyST format)."""
    text = Path(path).read_text(encoding="utf-8")
    if not text.startswith("---"):
        return False
    front = text.split("---", 2)[1]
    meta = yaml.safe_load(front) or {}
    return "kernelspec" in meta


def chapter_notebooks(root: Path = REPO_ROOT) -> list[str]:
    """The executable chapters, in ``_toc.yml`` order."""
    return [doc for doc in toc_documents(root) if is_notebook(Path(root) / f"{doc}.md")]


def notebook_parameters(doc: str, root: Path = REPO_ROOT) -> dict[str, str]:
    """Names and default expressions of the ``parameters`` cell of one chapter."""
    import jupytext

    notebook = jupytext.read(Path(root) / f"{doc}.md")
    for cell in notebook.cells:
        if "parameters" in cell.get("metadata", {}).get("tags", []):
            names = {}
            for line in cell.source.splitlines():
                code = line.split("#", 1)[0]
                if "=" in code and not code.startswith((" ", "\t")):
                    name, value = code.split("=", 1)
                    names[name.strip()] = value.strip()
            return names
    raise BuildError(f"{doc}.md has no cell tagged 'parameters': every chapter needs one")


def _select(chapters: list[str], wanted: list[str] | None) -> list[str]:
    if not wanted:
        return chapters
    selected = []
    for name in wanted:
        matches = [c for c in chapters if Path(c).name == name or Path(c).name.startswith(f"{name}_") or c == name]
        if not matches:
            known = ", ".join(Path(c).name for c in chapters)
            raise BuildError(f"unknown chapter '{name}': choose from {known}")
        selected += [m for m in matches if m not in selected]
    return [c for c in chapters if c in selected]


def _check_parameters(options: BuildOptions, chapters: list[str]) -> None:
    known = set()
    for doc in chapters:
        known |= set(notebook_parameters(doc, options.root))
    unknown = sorted(set(options.parameters) - known)
    if unknown:
        raise BuildError(
            f"unknown parameter(s) {', '.join(unknown)}: the chapters take {', '.join(sorted(known))}"
        )


def execute_chapter(doc: str, options: BuildOptions, staging: Path) -> float:
    """Execute one chapter with papermill into the staging tree; return its run time in seconds."""
    import jupytext
    import papermill

    source = options.root / f"{doc}.md"
    target = staging / f"{doc}.ipynb"
    target.parent.mkdir(parents=True, exist_ok=True)
    notebook = jupytext.read(source)
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    jupytext.write(notebook, target, fmt="ipynb")
    own = notebook_parameters(doc, options.root)
    parameters = {k: v for k, v in options.chapter_parameters().items() if k in own}
    start = time.perf_counter()
    try:
        papermill.execute_notebook(
            str(target),
            str(target),
            parameters=parameters,
            kernel_name="python3",
            progress_bar=False,
            cwd=str(options.root),
        )
    except papermill.PapermillExecutionError as error:
        raise BuildError(
            f"chapter {doc} failed in cell {error.exec_count}: {error.ename}: {error.evalue} "
            f"(the executed notebook is {target})"
        ) from None
    elapsed = time.perf_counter() - start
    merge_parameter_cells(target)
    return elapsed


#: The first line of the one parameter block a reader sees.
PARAMETER_HEADER = "# Parameters of this run (the chapter's defaults where the build passed none)"


def merge_parameter_cells(notebook_path: Path) -> None:
    """One visible parameter block per executed chapter: the values used, defaults folded away.

    papermill keeps the chapter's ``parameters`` cell (the defaults) and adds an ``injected-parameters`` cell
    after it (the values passed). The injected cell is rewritten to list every parameter in the defaults'
    order, with the value this run used and the default's comment, and the defaults cell is tagged
    ``remove-cell`` so that the HTML shows one block. Without an injected cell, or once merged, nothing changes.
    """
    import nbformat

    notebook = nbformat.read(str(notebook_path), as_version=4)
    tagged = {tag: [c for c in notebook.cells if tag in c.get("metadata", {}).get("tags", [])]
              for tag in ("parameters", "injected-parameters")}
    if not tagged["parameters"] or not tagged["injected-parameters"]:
        return
    defaults, injected = tagged["parameters"][0], tagged["injected-parameters"][0]
    if injected.source.startswith(PARAMETER_HEADER):
        return
    passed = {}
    for line in injected.source.splitlines():
        if "=" in line and not line.lstrip().startswith("#"):
            name, value = line.split("=", 1)
            passed[name.strip()] = value.strip()
    lines = [PARAMETER_HEADER]
    for line in defaults.source.splitlines():
        code, _, comment = line.partition("#")
        name = code.split("=", 1)[0].strip() if "=" in code else ""
        if name in passed:
            line = f"{name} = {passed.pop(name)}" + (f"  # {comment.strip()}" if comment.strip() else "")
        lines.append(line)
    lines += [f"{name} = {value}" for name, value in passed.items()]
    injected.source = "\n".join(lines)
    defaults.metadata["tags"] = [*defaults.metadata.get("tags", []), "remove-cell"]
    nbformat.write(notebook, str(notebook_path))


def _stage_static_files(options: BuildOptions, staging: Path) -> None:
    for name in _STAGED_FILES:
        source = options.root / name
        if source.is_dir():
            shutil.copytree(source, staging / name, dirs_exist_ok=True)
        elif source.exists():
            (staging / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, staging / name)
    for doc in toc_documents(options.root):
        source = options.root / f"{doc}.md"
        if not source.exists():
            raise BuildError(f"_toc.yml lists {doc}, but {source} does not exist")
        if not is_notebook(source):
            (staging / doc).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, staging / f"{doc}.md")
    offline.write_static_assets(staging / STATIC_DIR)


def render_html(options: BuildOptions, staging: Path) -> Path:
    """Run the strict Jupyter Book build on the staging tree; return the HTML folder."""
    missing = [doc for doc in chapter_notebooks(options.root) if not (staging / f"{doc}.ipynb").exists()]
    if missing:
        raise BuildError(
            f"cannot render: chapters not executed yet: {', '.join(missing)} (run `python -m lesionmap build` "
            "without --chapters once)"
        )
    output = (options.root / options.build_dir).resolve()
    command = [
        str(Path(sys.executable).with_name("jupyter-book")), "build", "--all", "-W", "-n", "--keep-going",
        str(staging), "--path-output", str(output / "book"),
    ]
    result = subprocess.run(command, capture_output=True, text=True, cwd=options.root)
    log = output / "jupyter-book.log"
    log.write_text(result.stdout + result.stderr, encoding="utf-8")
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).splitlines()[-40:])
        raise BuildError(f"jupyter-book build failed (full log: {log}):\n{tail}")
    return output / "book" / "_build" / "html"


def build(options: BuildOptions) -> dict:
    """Execute the chapters and render the book; return a record of the build (also written as JSON)."""
    options.root = Path(options.root).resolve()
    build_dir = (options.root / options.build_dir).resolve()
    staging = build_dir / "executed"
    chapters = _select(chapter_notebooks(options.root), options.chapters)
    _check_parameters(options, chapters)
    staging.mkdir(parents=True, exist_ok=True)
    results_dir = build_dir / "results"
    results_dir.mkdir(parents=True, exist_ok=True)
    record_path = results_dir / "build.json"
    record = json.loads(record_path.read_text()) if record_path.exists() else {}
    record.update(
        {
            "parameters": options.chapter_parameters(),
            "python": platform.python_version(),
            "machine": f"{platform.machine()}, {platform.system()} {platform.release()}",
        }
    )
    timings = record.setdefault("chapter_seconds", {})
    _stage_static_files(options, staging)
    for doc in chapters:
        print(f"[lesionmap] executing {doc} ...", flush=True)
        timings[doc] = round(execute_chapter(doc, options, staging), 1)
        print(f"[lesionmap]   done in {timings[doc]:.1f} s", flush=True)
        record_path.write_text(json.dumps(record, indent=2), encoding="utf-8")
    if options.html:
        print("[lesionmap] rendering HTML with jupyter-book ...", flush=True)
        start = time.perf_counter()
        html = render_html(options, staging)
        record["render_seconds"] = round(time.perf_counter() - start, 1)
        record["html"] = str(html)
        print(f"[lesionmap] book written to {html / 'index.html'}", flush=True)
    record_path.write_text(json.dumps(record, indent=2), encoding="utf-8")
    return record
