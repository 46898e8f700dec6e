"""The set-up contract: one lock generated from pyproject.toml, the pins that build offline, conda in step."""

import re
import tomllib

import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from conftest import ROOT

LOCK = ROOT / "requirements.txt"
#: How uv marks a requirement that pyproject.toml declares directly.
DECLARED = "lesionmap (pyproject.toml)"


def read_lock(text: str) -> tuple[dict[str, str], dict[str, set[str]]]:
    """The pins of a uv-compiled lock and, for each, the packages it is there for (its "via" lines)."""
    pins, via, current = {}, {}, None
    for line in text.splitlines():
        if not line.strip() or line.startswith("#") and not line.startswith("    #"):
            continue
        if not line.startswith(" "):
            requirement = line.split(";")[0].strip()
            name, _, version = requirement.partition("==")
            assert version, f"requirements.txt: '{line}' is not pinned with =="
            current = canonicalize_name(re.sub(r"\[.*\]", "", name))
            pins[current], via[current] = version, set()
            continue
        comment = line.strip().lstrip("#").strip()
        comment = comment.removeprefix("via").strip()
        if comment:
            via[current].add(comment if comment == DECLARED else canonicalize_name(comment.split()[0]))
    return pins, via


#: The environment the lock is compiled for (the Makefile's LOCK_PYTHON_VERSION, on this machine's platform).
LOCK_TARGET = {"python_version": "3.11", "python_full_version": "3.11.0"}


def declared_requirements() -> list[Requirement]:
    """Every requirement of pyproject.toml: the core and every extra (the lock holds them all)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    lines = project["dependencies"] + [r for extra in project["optional-dependencies"].values() for r in extra]
    return [Requirement(line) for line in lines]


def pinned() -> dict[str, str]:
    return read_lock(LOCK.read_text())[0]


def lock_problems(lock_text: str, declared: list[Requirement]) -> list[str]:
    """Where a lock is out of step with the declared requirements (empty when in step)."""
    pins, via = read_lock(lock_text)
    names = {canonicalize_name(r.name) for r in declared}
    problems = []
    for requirement in declared:
        name = canonicalize_name(requirement.name)
        if requirement.marker is not None and not requirement.marker.evaluate(LOCK_TARGET):
            continue  # for another platform than the lock's (uv compiles for this one, Python 3.11)
        if name not in pins:
            problems.append(f"{requirement} is declared but not pinned (run `make lock`)")
        elif not requirement.specifier.contains(Version(pins[name]), prereleases=True):
            problems.append(f"{name}=={pins[name]} does not satisfy {requirement} (run `make lock`)")
    for name, reasons in via.items():
        if DECLARED in reasons and name not in names:
            problems.append(f"{name} is pinned as a direct requirement but pyproject.toml no longer declares it")
        if not reasons:
            problems.append(f"{name} is pinned but required by nothing (an orphan pin)")
        for reason in reasons - {DECLARED}:
            if reason not in pins:
                problems.append(f"{name} is pinned for {reason}, which the lock does not hold")
    return problems


def test_whole_stack_is_pinned_with_offline_safe_versions():
    pins = pinned()
    assert pins["jupyter-book"] == "1.0.4.post1"
    assert int(pins["pandas"].split(".")[0]) == 2
    for package in (
        "papermill",
        "jupytext",
        "altair",
        "vl-convert-python",
        "lifelines",
        "scikit-learn",
        "scikit-posthocs",
        "pyreadstat",
        "pandera",
        "django-static-mathjax",
        "pytest",
    ):
        assert package in pins, f"{package} missing from requirements.txt"


def test_lock_is_in_step_with_pyproject():
    """Every declared requirement has a pin that satisfies it; every pin traces back to a declared one."""
    assert lock_problems(LOCK.read_text(), declared_requirements()) == []
    assert "make lock" in LOCK.read_text().splitlines()[1], "the lock says how to regenerate it"


def test_lock_check_catches_a_stale_lock():
    """The check above can fail: a new declaration, a tightened range, a dropped one, an orphan."""
    text = LOCK.read_text()
    declared = declared_requirements()
    assert any("not pinned" in p for p in lock_problems(text, declared + [Requirement("not-a-real-package>=1")]))
    numpy = pinned()["numpy"]
    tightened = [Requirement(f"numpy>{numpy}") if r.name == "numpy" else r for r in declared]
    assert any("does not satisfy" in p for p in lock_problems(text, tightened))
    other_platform = Requirement("not-a-real-package>=1; sys_platform == 'no-such-platform'")
    assert lock_problems(text, declared + [other_platform]) == []
    dropped = [r for r in declared if r.name != "lifelines"]
    assert any("no longer declares" in p for p in lock_problems(text, dropped))
    assert any("orphan" in p for p in lock_problems(text + "stray-package==1.0\n", declared))


def test_python_versions_declared():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    from packaging.specifiers import SpecifierSet

    supported = SpecifierSet(project["requires-python"])
    assert all(version in supported for version in ("3.11", "3.12", "3.13"))
    assert "3.10" not in supported
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")


def test_book_stack_is_an_extra_not_the_core():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    core = {canonicalize_name(Requirement(r).name) for r in project["dependencies"]}
    assert not core & {"jupyter-book", "papermill", "ipykernel", "vl-convert-python", "myst-nb"}
    assert {"book", "study", "test", "bench", "lint"} <= set(project["optional-dependencies"])


def test_environment_yml_installs_the_same_pins():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert "python=3.11" in env["dependencies"]
    pip_section = next(d for d in env["dependencies"] if isinstance(d, dict))["pip"]
    assert "-r requirements.txt" in pip_section


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text()
    readme = (ROOT / "README.md").read_text()
    assert "make test" in ci and "make test" in readme and "make book" in readme
    assert ci.index("make lint") < ci.index("make test"), "CI lints before it tests"


def test_one_default_seed():
    """The chapters' default seed is the package's (a parameters cell must hold a literal, so it is checked)."""
    from lesionmap.config import DEFAULT_SEED
    from lesionmap.publish.runner import chapter_notebooks, notebook_parameters

    for doc in chapter_notebooks(ROOT):
        assert int(notebook_parameters(doc, ROOT)["seed"]) == DEFAULT_SEED, doc


def test_every_chapter_has_one_parameters_cell():
    from lesionmap.publish.runner import chapter_notebooks, notebook_parameters

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

    from lesionmap.publish.runner import chapter_notebooks, notebook_parameters

    for doc in chapter_notebooks(ROOT):
        notebook = jupytext.read(ROOT / f"{doc}.md")
        cell = next(c for c in notebook.cells if "parameters" in c.get("metadata", {}).get("tags", []))
        seen = {p.name for p in PythonTranslator.inspect(cell)}
        assert seen == set(notebook_parameters(doc, ROOT)), doc
