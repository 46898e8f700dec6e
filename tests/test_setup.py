"""The set-up contract: one pinned stack, the pins that build offline, conda in step with pip."""

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def pinned() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            assert version, f"requirements.txt: '{line}' is not pinned with =="
            pins[name.lower().replace("_", "-")] = version
    return pins


def test_whole_stack_is_pinned_with_offline_safe_versions():
    pins = pinned()
    assert pins["jupyter-book"] == "1.0.4.post1"
    assert int(pins["pandas"].split(".")[0]) == 2
    for package in ("papermill", "jupytext", "altair", "vl-convert-python", "lifelines", "scikit-learn",
                    "scikit-posthocs", "pyreadstat", "pandera", "django-static-mathjax", "pytest"):
        assert package in pins, f"{package} missing from requirements.txt"


def test_environment_yml_installs_the_same_pins():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert "python=3.11" in env["dependencies"]
    pip_section = next(d for d in env["dependencies"] if isinstance(d, dict))["pip"]
    assert "-r requirements.txt" in pip_section


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text()
    readme = (ROOT / "README.md").read_text()
    assert "make test" in ci and "make test" in readme and "make book" in readme


def test_every_chapter_has_one_parameters_cell():
    from lesionmap.runner import chapter_notebooks, notebook_parameters

    chapters = chapter_notebooks(ROOT)
    assert chapters, "no executable chapter found in _toc.yml"
    for doc in chapters:
        params = notebook_parameters(doc, ROOT)
        assert {"cohort", "n_patients", "seed", "build_dir"} <= set(params), doc
        text = (ROOT / f"{doc}.md").read_text()
        assert text.count(":tags: [parameters]") == 1, f"{doc}: exactly one parameters cell"


def test_papermill_reads_every_parameter_of_every_chapter():
    """papermill's own parser must see every parameter (it skips a line whose comment holds '=')."""
    import jupytext
    from papermill.translators import PythonTranslator

    from lesionmap.runner import chapter_notebooks, notebook_parameters

    for doc in chapter_notebooks(ROOT):
        notebook = jupytext.read(ROOT / f"{doc}.md")
        cell = next(c for c in notebook.cells if "parameters" in c.get("metadata", {}).get("tags", []))
        seen = {p.name for p in PythonTranslator.inspect(cell)}
        assert seen == set(notebook_parameters(doc, ROOT)), doc
