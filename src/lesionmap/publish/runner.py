"""Build the book: execute the chapters with papermill in ``_toc.yml`` order, then render with Jupyter Book.

The committed chapters are MyST text notebooks (``book/**/*.md``). The runner converts each to a notebook
with jupytext, executes it with papermill into a staging tree (``_build/executed/``) that mirrors the
repository's layout, copies the plain pages and configuration beside them, writes the offline assets, and
runs ``jupyter-book build --all -W -n --keep-going`` on the staging tree with execution off. The text
sources and the executed notebooks never share a folder, so Sphinx never sees a document twice, and
papermill never writes into a jupytext-paired notebook.

Each run (cohort, size, seed, chapter parameters) has its own folder, ``_build/runs/<run key>/`` with its
``executed/`` notebooks and ``results/``; ``_build/executed`` and ``_build/results`` point at the last run's.
The main chapters read the stages earlier chapters cached (``CHAPTER_PREREQUISITES``): each starts once the
chapters it reads are done, or once they have said that those stages are cached (``book.stages_ready``), so
independent ones run side by side (Chapter 3 beside 4, 5 beside 6, Chapters 3 and 4 beside the rest of
Chapter 2, which caches what they read in its first cell, Chapter 5 beside the rest of Chapter 3); the standalone
appendices read their own data and run beside them; the findings ledger starts once the chain is done; the build
record runs last. Each kernel gets its share of the cores as BLAS/OpenMP threads, and is forked from the build's
kernel zygote once it has imported the numerical stack (``lesionmap.publish.zygote``; ``LESIONMAP_FORK_KERNELS=0``
turns it off).
"""

from __future__ import annotations

import json
import logging
import os
import platform
import shutil
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterable
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from jupyter_client.manager import AsyncKernelManager
from jupyter_core.paths import jupyter_runtime_dir
from traitlets import Dict, Unicode

from lesionmap import logs
from lesionmap.book import RUN_KEY_ENV, STAGES_READY_ENV, run_folder, run_key
from lesionmap.config import (
    DEFAULT_BUILD_DIR,
    DEFAULT_COHORT,
    DEFAULT_SEED,
    NOTEBOOK_ENV,
    TEACHING_MAX_PATIENTS,
)
from lesionmap.publish import offline
from lesionmap.publish.zygote import ForkedKernelProvisioner, KernelZygote, fork_enabled

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[3]
STATIC_DIR = Path("book") / "_static"
#: Files and folders copied verbatim into the staging tree next to the executed chapters.
_STAGED_FILES = ("_config.yml", "_toc.yml", "book/references.bib")

#: Chapters that read only their own data (no stage of the main chain): they run beside the chain.
STANDALONE_CHAPTERS = ("real_data", "validation", "recovery")

#: The chapters each chain chapter reads the stages of (``lesionmap.pipeline``): a chapter starts once these are
#: done, so chapters that do not depend on each other run at the same time (Chapters 3 and 4, then 5 and 6).
#: A chain chapter not listed here waits for every chain chapter before it.
CHAPTER_PREREQUISITES = {
    "01_data": (),
    "02_growth": ("01_data",),
    "03_phenotypes": ("02_growth",),
    "04_sequences": ("02_growth",),
    "05_treatment": ("03_phenotypes", "04_sequences"),
    "06_prediction": ("04_sequences",),
}

#: Chapters that gather what the chain chapters wrote (the findings ledger): each starts once every chain chapter is
#: done, beside a standalone appendix still running.
AFTER_CHAIN_CHAPTERS = ("ledger",)

#: Chapters that report on the whole build (timings, parameters): they run after every other chapter, in this order.
CLOSING_CHAPTERS = ("reproducibility",)

#: Parameters of the teaching profile (``n_patients`` between 1 and ``TEACHING_MAX_PATIENTS``), by chapter, so that
#: a class gets the whole book in about a minute on 2 cores: half of saemix's SAEM iterations (enough for a few
#: hundred patients; the real-data appendix fits a fifth of its 1,472 real patients), fewer simulated replicates, k
#: up to 8, fewer resamples, three outer folds instead of five, a replicate study of two cohorts of 100 patients on
#: one worker (the chapters hold the other core). The chapters glue every one of these values into their prose, and
#: the build record lists them. A value given with ``-p`` wins.
TEACHING_PARAMETERS = {
    "02_growth": {"saem_k1": 150, "saem_k2": 50, "vpc_replicates": 50},
    "03_phenotypes": {"comparison_saem_k1": 150, "comparison_saem_k2": 50},
    "04_sequences": {"k_max": 8, "stability_bootstrap": 3},
    "06_prediction": {"outer_folds": 3, "inner_folds": 3, "permutation_repeats": 3},
    "real_data": {"saem_k1": 150, "saem_k2": 50, "real_patient_share": 0.2},
    "recovery": {"study_replicates": 2, "study_patients": 100, "study_workers": 1, "saem_k1": 150, "saem_k2": 50},
}


class BuildError(RuntimeError):
    """A build step failed; the message says which step and what to do."""


@dataclass
class BuildOptions:
    """What one build runs: the cohort (a list of folders to pool), its size and seed, which chapters, extra
    papermill parameters (the reader options among them: sdtm_map, evaluator, unknown_location,
    location_conflicts)."""

    cohort: str | list[str] = DEFAULT_COHORT
    n_patients: int = 0
    seed: int = DEFAULT_SEED
    chapters: list[str] | None = None
    parameters: dict = field(default_factory=dict)
    build_dir: Path = Path(DEFAULT_BUILD_DIR)
    html: bool = True
    root: Path = REPO_ROOT
    #: Chapters executed at the same time; 0 = one per available core.
    jobs: int = 0

    @property
    def teaching(self) -> bool:
        """The teaching profile: a small simulated cohort (``n_patients`` from 1 to ``TEACHING_MAX_PATIENTS``)."""
        return 0 < int(self.n_patients) <= TEACHING_MAX_PATIENTS

    @property
    def run_key(self) -> str:
        """The key of this run's folder: cohort, size, seed and the chapter parameters given."""
        return run_key(self.cohort, self.n_patients, self.seed, self.parameters)

    def profile_parameters(self, doc: str) -> dict:
        """What the teaching profile sets in one chapter (empty for a full build), less what ``-p`` gives."""
        profile = TEACHING_PARAMETERS.get(Path(doc).name, {}) if self.teaching else {}
        return {k: v for k, v in profile.items() if k not in self.parameters}

    def parameters_for(self, doc: str, own: dict) -> dict:
        """The papermill parameters of one chapter: the common ones it takes, its teaching profile, ``-p``."""
        common = {k: v for k, v in self.chapter_parameters().items() if k in own}
        profile = {k: v for k, v in self.profile_parameters(doc).items() if k in own}
        given = {k: v for k, v in self.parameters.items() if k in own}
        return {**common, **profile, **given}

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
        raise BuildError(f"unknown parameter(s) {', '.join(unknown)}: the chapters take {', '.join(sorted(known))}")


class LocalKernelManager(AsyncKernelManager):
    """A chapter's kernel: local IPC sockets instead of TCP ports (nothing listens on the network, so there is
    nothing to encrypt), and the runner's variables in its environment (quiet progress bars, the run key)."""

    kernel_env = Dict(help="variables added to the kernel's environment").tag(config=True)
    kernel_cwd = Unicode("", help="the kernel's working directory ('' for the runner's)").tag(config=True)
    #: The build's kernel zygote (``lesionmap.publish.zygote``), which forks the kernel when it is ready.
    zygote: KernelZygote | None = None

    def __init__(self, **kwargs):
        kwargs.setdefault("transport", "ipc")
        super().__init__(**kwargs)
        if self.transport == "ipc" and not os.path.isabs(self.ip):
            # jupyter_client would put the sockets in the current folder; the runtime folder is private (0700)
            runtime = Path(jupyter_runtime_dir())
            runtime.mkdir(mode=0o700, parents=True, exist_ok=True)
            self.ip = str(runtime / f"lesionmap-{uuid.uuid4().hex[:12]}-ipc")

    async def _async_pre_start_kernel(self, **kw):
        kw["env"] = {**(kw.get("env") or os.environ), **self.kernel_env}
        if self.kernel_cwd:
            kw["cwd"] = self.kernel_cwd
        if self.zygote is not None and self.provisioner is None:
            self.kernel_id = self.kernel_id or str(uuid.uuid4())
            self.provisioner = ForkedKernelProvisioner(
                kernel_id=self.kernel_id, kernel_spec=self.kernel_spec, parent=self
            )
            self.provisioner.zygote = self.zygote
        return await super()._async_pre_start_kernel(**kw)


#: Variables that cap the BLAS and OpenMP threads of a process.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS")


def kernel_threads(options: BuildOptions) -> int:
    """Threads each kernel may use: the cores shared among the chapters that run at the same time (k-means and
    BLAS would otherwise start a thread per core in every kernel, and two kernels on two cores then spin
    against each other)."""
    return max(1, _cores() // _jobs(options))


def kernel_environment(options: BuildOptions, marker: Path | None = None) -> dict[str, str]:
    """What every chapter's kernel gets in its environment from the runner: the notebook flag (quiet progress
    bars), the run key, the thread caps of ``kernel_threads`` and, given ``marker`` (``ready_marker``), the file
    the chapter creates once its stages are cached (``book.stages_ready``)."""
    threads = str(kernel_threads(options))
    env = {NOTEBOOK_ENV: "1", RUN_KEY_ENV: options.run_key, **dict.fromkeys(THREAD_VARIABLES, threads)}
    if marker is not None:
        env[STAGES_READY_ENV] = str(marker)
    return env


def kernel_manager_class(
    options: BuildOptions, marker: Path | None = None, zygote: KernelZygote | None = None
) -> type[LocalKernelManager]:
    """A kernel-manager class whose kernels carry this build's environment (and are forked by ``zygote``)."""
    traits = {
        "kernel_env": Dict(kernel_environment(options, marker)),
        "kernel_cwd": Unicode(str(options.root)),
        "zygote": zygote,
    }
    return type("ChapterKernelManager", (LocalKernelManager,), traits)


def start_zygote(options: BuildOptions) -> KernelZygote | None:
    """The build's kernel zygote, started (None where ``fork_enabled`` says no): it imports the numerical stack
    with the kernels' environment while the first chapters start the usual way."""
    if not fork_enabled():
        return None
    env = {**os.environ, **kernel_environment(options)}
    return KernelZygote(env, options.root, jupyter_runtime_dir()).start()


def ready_folder(staging: Path) -> Path:
    """Where a run's chapters say that their stages are cached (one marker file each, cleared at each build)."""
    return staging.parent / "ready"


def ready_marker(staging: Path, doc: str) -> Path:
    """The file a chapter creates (``book.stages_ready``) once the stages later chapters read are cached."""
    return ready_folder(staging) / Path(doc).name


def execute_chapter(doc: str, options: BuildOptions, staging: Path, zygote: KernelZygote | None = None) -> float:
    """Execute one chapter with papermill into the staging tree (its kernel forked by ``zygote`` when one is
    given and ready); return its run time in seconds."""
    import jupytext
    import papermill

    source = options.root / f"{doc}.md"
    target = staging / f"{doc}.ipynb"
    target.parent.mkdir(parents=True, exist_ok=True)
    notebook = jupytext.read(source)
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    jupytext.write(notebook, target, fmt="ipynb")
    parameters = options.parameters_for(doc, notebook_parameters(doc, options.root))
    start = time.perf_counter()
    try:
        papermill.execute_notebook(
            str(target),
            str(target),
            parameters=parameters,
            kernel_name="python3",
            progress_bar=False,
            # papermill rewrites the whole notebook at every cell's start and end by default (3 s of a teaching
            # build); it still writes it once at the end, and at a failing cell before it raises.
            request_save_on_cell_execute=False,
            shutdown_kernel="immediate",  # every cell has run; a polite shutdown only waits 0.2 s more per chapter
            kernel_manager_class=kernel_manager_class(options, ready_marker(staging, doc), zygote),
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
    tagged = {
        tag: [c for c in notebook.cells if tag in c.get("metadata", {}).get("tags", [])]
        for tag in ("parameters", "injected-parameters")
    }
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
        str(Path(sys.executable).with_name("jupyter-book")),
        "build",
        "--all",
        "-W",
        "-n",
        "--keep-going",
        str(staging),
        "--path-output",
        str(output / "book"),
    ]
    result = subprocess.run(command, capture_output=True, text=True, cwd=options.root)
    log = output / "jupyter-book.log"
    log.write_text(result.stdout + result.stderr, encoding="utf-8")
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).splitlines()[-40:])
        raise BuildError(f"jupyter-book build failed (full log: {log}):\n{tail}")
    return output / "book" / "_build" / "html"


def schedule(chapters: list[str]) -> tuple[dict[str, list[str]], list[str]]:
    """What each chapter waits for, and the closing chapters that run after all the others.

    Returns ``(prerequisites, closing)``: ``prerequisites`` maps every chapter but the closing ones, in the
    order given, to the chapters it must follow: those named in ``CHAPTER_PREREQUISITES`` (the stages each
    chapter reads), every earlier chain chapter for a chain chapter not named there, nothing for a standalone
    chapter, every chain chapter for one of ``AFTER_CHAIN_CHAPTERS``. A prerequisite that is not among
    ``chapters`` is left out (a build of some chapters only).
    """
    name = lambda doc: Path(doc).name  # noqa: E731
    closing = [doc for doc in chapters if name(doc) in CLOSING_CHAPTERS]
    by_name = {name(doc): doc for doc in chapters}
    prerequisites, earlier_chain = {}, []
    for doc in chapters:
        if name(doc) in CLOSING_CHAPTERS or name(doc) in AFTER_CHAIN_CHAPTERS:
            continue
        if name(doc) in STANDALONE_CHAPTERS:
            prerequisites[doc] = []
            continue
        if name(doc) in CHAPTER_PREREQUISITES:
            prerequisites[doc] = [by_name[n] for n in CHAPTER_PREREQUISITES[name(doc)] if n in by_name]
        else:
            prerequisites[doc] = list(earlier_chain)
        earlier_chain.append(doc)
    for doc in chapters:
        if name(doc) in AFTER_CHAIN_CHAPTERS:
            prerequisites[doc] = list(earlier_chain)
    return prerequisites, closing


def critical_path(prerequisites: dict[str, list[str]], seconds: dict[str, float]) -> dict[str, float]:
    """Each chapter's longest chain of work to the end of the run: its own time (``seconds``, e.g. the previous
    build's; 1 s where unknown) plus the longest path among the chapters that wait for it."""
    waiting = {doc: [d for d, needs in prerequisites.items() if doc in needs] for doc in prerequisites}
    path: dict[str, float] = {}

    def longest(doc: str, trail: tuple = ()) -> float:
        if doc not in path:
            if doc in trail:
                raise BuildError(f"chapters wait for each other: {sorted(trail)}")
            after = [longest(d, (*trail, doc)) for d in waiting[doc]]
            path[doc] = float(seconds.get(doc, 1.0)) + max(after, default=0.0)
        return path[doc]

    for doc in prerequisites:
        longest(doc)
    return path


def run_in_order(
    prerequisites: dict[str, list[str]],
    run,
    jobs: int,
    seconds: dict[str, float] | None = None,
    stages_cached=None,
    finished_only: Iterable[str] = (),
    poll_seconds: float = 0.2,
) -> None:
    """Call ``run(doc)`` for every chapter of ``prerequisites`` on ``jobs`` threads, each once its
    prerequisites are done, or, for a running prerequisite, once ``stages_cached(prerequisite)`` says that the
    stages it writes for later chapters are cached (it is polled every ``poll_seconds``); the chapters of
    ``finished_only`` (those that read what their prerequisites write last, like the ledger) wait for the end.
    Among the chapters ready, the one with the longest ``critical_path`` starts first (``seconds``: each
    chapter's expected time, e.g. from the last build; without it, the mapping's order, the chain before the
    standalone appendices). The first error stops new starts and is raised."""
    order = list(prerequisites)
    path = critical_path(prerequisites, seconds or {})
    priority = sorted(order, key=lambda d: (-path[d], order.index(d))) if seconds else order
    done: set[str] = set()
    started: set[str] = set()

    to_the_end = set(finished_only)

    def satisfied(doc: str, prerequisite: str) -> bool:
        if prerequisite in done:
            return True
        early = stages_cached is not None and doc not in to_the_end and prerequisite in started
        return early and stages_cached(prerequisite)

    with ThreadPoolExecutor(max_workers=max(1, jobs), thread_name_prefix="chapter") as pool:
        running = {}
        while len(done) < len(order):
            ready = [d for d in priority if d not in started and all(satisfied(d, p) for p in prerequisites[d])]
            for doc in ready[: max(1, jobs) - len(running)]:
                started.add(doc)
                running[pool.submit(run, doc)] = doc
            if not running:
                raise BuildError(f"chapters wait for each other: {sorted(set(order) - done)}")
            waiting = stages_cached is not None and any(d not in started for d in order)
            finished, _ = wait(running, timeout=poll_seconds if waiting else None, return_when=FIRST_COMPLETED)
            for future in finished:
                doc = running.pop(future)
                future.result()
                done.add(doc)


def point_to_last_run(build_dir: Path, run_dir: Path) -> None:
    """Make ``<build_dir>/results`` and ``<build_dir>/executed`` show the last run's (links, or copies where
    the file system has no symbolic links)."""
    for name in ("results", "executed"):
        link, target = build_dir / name, run_dir / name
        if link.is_symlink() or link.is_file():
            link.unlink()
        elif link.is_dir():
            shutil.rmtree(link)
        try:
            link.symlink_to(target.relative_to(build_dir), target_is_directory=True)
        except OSError:
            shutil.copytree(target, link)


def _cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return max(1, os.cpu_count() or 1)


def _jobs(options: BuildOptions) -> int:
    return options.jobs if options.jobs > 0 else _cores()


def timing_table(record: dict) -> str:
    """The chapter times of a build record as a plain-text table (printed at the end of ``make book``)."""
    rows = [(doc, f"{seconds:.1f}") for doc, seconds in record.get("chapter_seconds", {}).items()]
    rows += [("(chapters, wall clock)", f"{record['execute_seconds']:.1f}")] if "execute_seconds" in record else []
    rows += [("(HTML, jupyter-book)", f"{record['render_seconds']:.1f}")] if "render_seconds" in record else []
    rows += [("(whole build)", f"{record['total_seconds']:.1f}")] if "total_seconds" in record else []
    width = max([len("chapter")] + [len(doc) for doc, _ in rows])
    lines = [f"{'chapter':<{width}}  seconds", f"{'-' * width}  -------"]
    lines += [f"{doc:<{width}}  {seconds:>7}" for doc, seconds in rows]
    return "\n".join(lines)


def build(options: BuildOptions) -> dict:
    """Execute the chapters and render the book; return a record of the build (also written as JSON)."""
    started = time.perf_counter()
    options.root = Path(options.root).resolve()
    build_dir = (options.root / options.build_dir).resolve()
    chapters = _select(chapter_notebooks(options.root), options.chapters)
    _check_parameters(options, chapter_notebooks(options.root))  # a parameter of any chapter (e.g. the reader's)
    run_dir = run_folder(build_dir, options.run_key)
    staging = run_dir / "executed"
    results_dir = run_dir / "results"
    staging.mkdir(parents=True, exist_ok=True)
    results_dir.mkdir(parents=True, exist_ok=True)
    point_to_last_run(build_dir, run_dir)
    record_path = results_dir / "build.json"
    record = json.loads(record_path.read_text()) if record_path.exists() else {}
    record.update(
        {
            "run": options.run_key,
            "profile": "teaching" if options.teaching else "full",
            "profile_parameters": {doc: p for doc in chapters if (p := options.profile_parameters(doc))},
            "parameters": options.chapter_parameters(),
            "python": platform.python_version(),
            "machine": f"{platform.machine()}, {platform.system()} {platform.release()}",
        }
    )
    timings = record.setdefault("chapter_seconds", {})
    expected = dict(timings)  # the last build's times of this run, for the order of the chapters
    _stage_static_files(options, staging)
    # The offline assets (vl-convert bundles Vega for about 2 s) are written beside the first chapters.
    assets_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="assets")
    assets = assets_pool.submit(offline.write_static_assets, staging / STATIC_DIR)
    assets_pool.shutdown(wait=False)
    lock = threading.Lock()
    bar = logs.progress(total=len(chapters), desc="chapters", unit="chapter")

    def run_chapter(doc: str) -> None:
        log.info("executing %s ...", doc)
        seconds = round(execute_chapter(doc, options, staging, zygote), 1)
        with lock:
            timings[doc] = seconds
            record_path.write_text(json.dumps(record, indent=2), encoding="utf-8")
            bar.update()
        log.info("  %s done in %.1f s", doc, seconds)

    prerequisites, closing = schedule(chapters)
    jobs = min(_jobs(options), len(prerequisites)) or 1
    log.info("run %s: %d chapter(s), %d at a time", options.run_key, len(chapters), jobs)
    shutil.rmtree(ready_folder(staging), ignore_errors=True)  # markers of an earlier build
    start = time.perf_counter()
    # a zygote serves the kernels that start after the first ones: none when every chapter starts at once
    zygote = start_zygote(options) if len(chapters) > jobs else None
    try:
        run_in_order(
            prerequisites,
            run_chapter,
            jobs,
            expected,
            stages_cached=lambda doc: ready_marker(staging, doc).exists(),
            finished_only=[doc for doc in prerequisites if Path(doc).name in AFTER_CHAIN_CHAPTERS],
        )
        for doc in closing:
            run_chapter(doc)
    finally:
        bar.close()
        if zygote is not None:
            zygote.close()
    record["execute_seconds"] = round(time.perf_counter() - start, 1)
    record["chapter_seconds"] = {doc: timings[doc] for doc in chapter_notebooks(options.root) if doc in timings}
    assets.result()
    if options.html:
        log.info("rendering HTML with jupyter-book ...")
        start = time.perf_counter()
        html = render_html(options, staging)
        record["render_seconds"] = round(time.perf_counter() - start, 1)
        record["html"] = str(html)
        log.info("book written to %s", html / "index.html")
    record["total_seconds"] = round(time.perf_counter() - started, 1)
    record_path.write_text(json.dumps(record, indent=2), encoding="utf-8")
    log.info("chapter times (seconds):\n%s", timing_table(record))
    return record
