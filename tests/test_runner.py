"""The book runner's scheduling, parameters, kernel environment and time table (no chapter is executed)."""

import ast
import threading
import time

import pytest

from conftest import ROOT
from lesionmap import logs
from lesionmap.config import NOTEBOOK_ENV
from lesionmap.publish.runner import (
    TEACHING_PARAMETERS,
    BuildError,
    BuildOptions,
    _cores,
    _jobs,
    chapter_notebooks,
    critical_path,
    kernel_environment,
    kernel_manager_class,
    kernel_threads,
    notebook_parameters,
    run_in_order,
    schedule,
    timing_table,
)


def test_standalone_appendices_run_beside_the_chain_the_ledger_after_it_and_the_build_record_last():
    chapters = chapter_notebooks(ROOT)
    prerequisites, closing = schedule(chapters)
    chain = [doc for doc in chapters if doc.startswith("book/chapters/")]
    assert list(prerequisites)[: len(chain)] == chain  # the chain first: it starts first when cores are free
    for standalone in ("real_data", "validation", "recovery"):
        assert prerequisites[f"book/appendix/{standalone}"] == []
    assert closing == ["book/appendix/reproducibility"]
    assert prerequisites["book/appendix/ledger"] == chain  # the ledger gathers the chain's ledgers, no appendix's
    scheduled = list(prerequisites) + closing
    assert sorted(scheduled) == sorted(chapters) and len(scheduled) == len(set(scheduled))
    # Chapters 3 and 4 both read Chapter 2's stages only; 5 reads both; 6 reads 4
    assert prerequisites["book/chapters/03_phenotypes"] == prerequisites["book/chapters/04_sequences"]
    assert set(prerequisites["book/chapters/05_treatment"]) == {
        "book/chapters/03_phenotypes",
        "book/chapters/04_sequences",
    }
    assert prerequisites["book/chapters/06_prediction"] == ["book/chapters/04_sequences"]
    # a subset build drops what it does not run; an unknown chain chapter waits for every chain chapter before it
    subset, _ = schedule(["book/chapters/01_data", "book/chapters/04_sequences", "book/chapters/07_new"])
    assert subset == {
        "book/chapters/01_data": [],
        "book/chapters/04_sequences": [],
        "book/chapters/07_new": ["book/chapters/01_data", "book/chapters/04_sequences"],
    }


def test_chapters_start_only_after_their_prerequisites_and_side_by_side_otherwise():
    prerequisites = {"a": [], "b": ["a"], "c": ["a"], "d": ["b", "c"], "side": []}
    events, lock = [], threading.Lock()
    running, most = set(), [0]

    def run(doc):
        with lock:
            events.append(("start", doc))
            running.add(doc)
            most[0] = max(most[0], len(running))
        time.sleep(0.05)
        with lock:
            running.discard(doc)
            events.append(("end", doc))

    run_in_order(prerequisites, run, jobs=2)
    position = {event: i for i, event in enumerate(events)}
    for doc, needs in prerequisites.items():
        for need in needs:
            assert position[("end", need)] < position[("start", doc)]
    assert most[0] == 2 and events[0] == ("start", "a")
    with pytest.raises(BuildError, match="wait for each other"):
        run_in_order({"x": ["y"], "y": ["x"]}, run, jobs=2)

    # with expected times, the chapter with the longest work ahead of it starts first
    events.clear()
    run_in_order({"short": [], "long": [], "after": ["long"]}, run, jobs=1, seconds={"short": 5, "long": 3, "after": 4})
    assert [doc for kind, doc in events if kind == "start"] == ["long", "short", "after"]  # 3 + 4 > 5 > 4
    assert critical_path({"a": [], "b": ["a"]}, {"a": 2.0}) == {"a": 3.0, "b": 1.0}

    def fail(doc):
        raise RuntimeError(f"{doc} failed")

    with pytest.raises(RuntimeError, match="a failed"):
        run_in_order({"a": [], "b": ["a"]}, fail, jobs=2)


def test_a_chapter_may_start_once_its_prerequisite_has_cached_its_stages():
    """``stages_cached`` lets a dependent start while its prerequisite runs on; without it, it waits for the end."""
    events, lock = [], threading.Lock()
    cached = threading.Event()

    def run(doc):
        with lock:
            events.append(("start", doc))
        if doc == "chain":
            cached.set()  # the stages are cached early; the chapter goes on with its exercises
            assert wait_for(lambda: ("end", "next") in events), "the dependent never ran beside its prerequisite"
        with lock:
            events.append(("end", doc))

    def wait_for(condition, seconds=5.0):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if condition():
                return True
            time.sleep(0.01)
        return False

    prerequisites = {"chain": [], "next": ["chain"]}
    run_in_order(prerequisites, run, jobs=2, stages_cached=lambda doc: cached.is_set(), poll_seconds=0.01)
    assert events.index(("end", "next")) < events.index(("end", "chain"))

    # a prerequisite that never says so is waited for to the end, and so is one whose dependent reads what it
    # writes last (the ledger), marker or not
    def slow_chain(doc):
        with lock:
            events.append(("start", doc))
        if doc == "chain":
            time.sleep(0.2)
        with lock:
            events.append(("end", doc))

    for cached, finished_only, next_waits in ((False, [], True), (True, [], False), (True, ["next"], True)):
        events.clear()
        run_in_order(
            prerequisites,
            slow_chain,
            jobs=2,
            stages_cached=lambda doc, cached=cached: cached,
            finished_only=finished_only,
            poll_seconds=0.01,
        )
        assert (events.index(("end", "chain")) < events.index(("start", "next"))) is next_waits


def test_stages_ready_creates_the_runners_marker_only_in_a_build(tmp_path, monkeypatch):
    from lesionmap import book
    from lesionmap.publish.runner import kernel_environment, ready_marker

    marker = ready_marker(tmp_path / "executed", "book/chapters/02_growth")
    assert marker == tmp_path / "ready" / "02_growth"
    monkeypatch.delenv(book.STAGES_READY_ENV, raising=False)
    book.stages_ready()  # outside a build: nothing to tell
    assert not marker.exists()
    env = kernel_environment(BuildOptions(n_patients=300), marker)
    monkeypatch.setenv(book.STAGES_READY_ENV, env[book.STAGES_READY_ENV])
    book.stages_ready()
    assert marker.exists()
    assert book.STAGES_READY_ENV not in kernel_environment(BuildOptions(n_patients=300))


def test_teaching_profile_sets_only_parameters_the_chapters_take():
    chapters = {doc.rsplit("/", 1)[-1]: doc for doc in chapter_notebooks(ROOT)}
    for name, profile in TEACHING_PARAMETERS.items():
        own = notebook_parameters(chapters[name], ROOT)
        assert set(profile) <= set(own), (name, set(profile) - set(own))
        for key, value in profile.items():
            assert value < ast.literal_eval(own[key]), f"{name}: the teaching profile must lighten {key}"


def test_teaching_profile_scales_the_real_data_appendix():
    own = notebook_parameters("book/appendix/real_data", ROOT)
    teaching = BuildOptions(n_patients=300).parameters_for("book/appendix/real_data", own)
    full = BuildOptions(n_patients=0).parameters_for("book/appendix/real_data", own)
    assert teaching["saem_k1"] < int(own["saem_k1"]) and "saem_k1" not in full
    assert own["real_patient_share"] == "1.0" and 0 < teaching["real_patient_share"] < 1
    given = BuildOptions(n_patients=300, parameters={"saem_k1": 400}).parameters_for("book/appendix/real_data", own)
    assert given["saem_k1"] == 400, "a parameter given with -p wins over the profile"
    chain = BuildOptions(n_patients=300).parameters_for(
        "book/chapters/01_data", notebook_parameters("book/chapters/01_data", ROOT)
    )
    assert chain == {"cohort": "mcrc", "n_patients": 300, "seed": BuildOptions().seed, "build_dir": "_build"}


def test_kernels_get_the_run_key_and_quiet_progress_over_ipc():
    options = BuildOptions(n_patients=300, seed=7, parameters={"saem_k1": 50})
    env = kernel_environment(options)
    assert env[NOTEBOOK_ENV] == "1" and env["LESIONMAP_RUN_KEY"] == options.run_key
    assert options.run_key.startswith("mcrc-n300-s7-p")
    # chapters running side by side share the cores: one chapter at a time gets them all
    assert env["OMP_NUM_THREADS"] == str(kernel_threads(options)) == str(max(1, _cores() // _jobs(options)))
    alone = kernel_environment(BuildOptions(n_patients=300, jobs=1))
    assert int(alone["OPENBLAS_NUM_THREADS"]) == _cores()
    manager = kernel_manager_class(options)()
    assert manager.transport == "ipc" and manager.ip.startswith("/")
    assert manager.kernel_env == env and manager.kernel_cwd == str(options.root)


def test_progress_is_quiet_in_a_notebook_kernel(monkeypatch):
    class Terminal:
        def isatty(self):
            return True

    monkeypatch.setattr(logs, "_quiet", False)  # another test in this process may have run the CLI with -q
    monkeypatch.delenv(NOTEBOOK_ENV, raising=False)
    assert logs.progress_enabled(Terminal())
    monkeypatch.setenv(NOTEBOOK_ENV, "1")
    assert not logs.progress_enabled(Terminal())
    monkeypatch.delenv(NOTEBOOK_ENV)
    assert not logs.progress_enabled(open(__file__))


@pytest.mark.parametrize(
    "record", [{"chapter_seconds": {"a/b": 1.25, "a/longer_name": 10.0}, "execute_seconds": 9.5, "render_seconds": 2.0}]
)
def test_timing_table(record):
    table = timing_table(record).splitlines()
    assert table[0].split() == ["chapter", "seconds"]
    assert [line.split()[-1] for line in table[2:]] == ["1.2", "10.0", "9.5", "2.0"]


FAILING_CHAPTER = """---
jupytext:
  text_representation:
    extension: .md
    format_name: myst
kernelspec:
  display_name: Python 3
  language: python
  name: python3
---

# A chapter that fails

```{code-cell} ipython3
:tags: [parameters]

seed = 1  # seed
```

```{code-cell} ipython3
value = seed + 1
```

```{code-cell} ipython3
raise ValueError(f"broken at {value}")
```
"""


def test_a_failing_chapter_names_its_cell_and_leaves_the_executed_notebook(tmp_path):
    import nbformat

    from lesionmap.publish.runner import execute_chapter

    (tmp_path / "book").mkdir()
    (tmp_path / "book" / "broken.md").write_text(FAILING_CHAPTER)
    options = BuildOptions(seed=7, root=tmp_path)
    with pytest.raises(BuildError, match=r"chapter book/broken failed in cell \d+: ValueError: broken at 8"):
        execute_chapter("book/broken", options, tmp_path / "staging")
    executed = nbformat.read(str(tmp_path / "staging" / "book" / "broken.ipynb"), as_version=4)
    outputs = [output for cell in executed.cells for output in cell.get("outputs", [])]
    assert any(output.get("ename") == "ValueError" for output in outputs)
