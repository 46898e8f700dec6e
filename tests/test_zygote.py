"""Chapter kernels forked from the build's zygote (``lesionmap.publish.zygote``): a real zygote, real kernels."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import nbformat
import papermill
import pytest
from jupyter_core.paths import jupyter_runtime_dir

from lesionmap.book import RUN_KEY_ENV, STAGES_READY_ENV
from lesionmap.publish.runner import BuildOptions, kernel_environment, kernel_manager_class, start_zygote
from lesionmap.publish.zygote import FORK_ENV, ForkedProcess, KernelZygote, fork_enabled

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="the zygote forks its kernels (POSIX only)")

PROBE = """
import json, os, subprocess, sys
print(json.dumps({
    "preloaded": "pandas" in sys.modules and "lesionmap.pipeline" not in sys.modules,
    "pid": os.getpid(), "ppid": os.getppid(), "pgid": os.getpgid(0), "cwd": os.getcwd(),
    "run_key": os.environ.get(RUN_KEY), "marker": os.environ.get(MARKER),
    "threads": os.environ.get("OMP_NUM_THREADS"),
    "subprocess": subprocess.run([sys.executable, "-c", "pass"]).returncode,
}))
"""


def run_cell(tmp_path, source: str, options, zygote, marker=None) -> str:
    """Execute a one-cell notebook the way the runner does (its kernel manager, forked by ``zygote`` when
    ready) and return the cell's last printed text."""
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source)])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path, target = tmp_path / "cell.ipynb", tmp_path / "cell-out.ipynb"
    nbformat.write(notebook, path)
    papermill.execute_notebook(
        str(path),
        str(target),
        kernel_name="python3",
        progress_bar=False,
        shutdown_kernel="immediate",
        kernel_manager_class=kernel_manager_class(options, marker, zygote),
    )
    return nbformat.read(target, as_version=4).cells[-1].outputs[-1]["text"]


def run_probe(tmp_path, options, zygote, marker=None) -> dict:
    source = f"RUN_KEY, MARKER = {RUN_KEY_ENV!r}, {STAGES_READY_ENV!r}\n{PROBE}"
    return json.loads(run_cell(tmp_path, source, options, zygote, marker))


def gone(pid: int, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


@pytest.fixture
def zygote():
    options = BuildOptions(n_patients=300)
    running = start_zygote(options)
    assert running is not None and running.wait_ready(timeout=120), "the zygote did not start"
    yield options, running
    running.close()


def test_a_forked_kernel_has_the_stack_imported_and_the_kernels_own_environment(zygote, tmp_path):
    options, running = zygote
    marker = tmp_path / "ready-marker"
    probe = run_probe(tmp_path, options, running, marker)
    # forked by the zygote, in a session of its own, with the numerical stack imported and the analysis not
    assert probe["ppid"] == running.process.pid and probe["pgid"] == probe["pid"]
    assert probe["preloaded"]
    # the environment, folder and thread caps are the kernel's, not the zygote's
    assert probe["run_key"] == options.run_key and probe["marker"] == str(marker)
    assert probe["cwd"] == str(options.root)
    assert probe["threads"] == kernel_environment(options)["OMP_NUM_THREADS"]
    assert probe["subprocess"] == 0  # the zygote reaps its children on SIGCHLD; its kernels wait for their own
    assert gone(probe["pid"]), "the kernel outlived its notebook"
    # a second kernel is a new process
    assert run_probe(tmp_path, options, running)["pid"] != probe["pid"]


def test_without_a_ready_zygote_the_kernel_starts_the_usual_way(tmp_path):
    options = BuildOptions(n_patients=300)
    idle = KernelZygote(dict(os.environ), options.root, jupyter_runtime_dir())  # never started
    probe = run_probe(tmp_path, options, idle)
    assert probe["ppid"] == os.getpid() and not probe["preloaded"]
    assert probe["run_key"] == options.run_key


@pytest.mark.skipif(not os.path.exists("/proc/self/stat"), reason="reads the zygote's /proc/<pid>/stat (Linux)")
def test_the_kernels_cpu_time_counts_in_the_builds(zygote, tmp_path):
    """``/usr/bin/time make book`` reports the kernels' CPU time: the zygote waits for its kernels, so that their
    time adds to its children's (cutime and cstime in /proc/<pid>/stat), which adds to ours when we reap the zygote."""
    options, running = zygote
    busy = "import os, time\nend = time.process_time() + 1.0\nwhile time.process_time() < end:\n    pass\n"
    parent = int(run_cell(tmp_path, busy + "print(os.getppid())", options, running))
    assert parent == running.process.pid  # forked, not our own child

    def children_cpu_seconds() -> float:  # cutime + cstime (16th and 17th fields), as process_time counts both
        fields = Path(f"/proc/{running.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[13]) + int(fields[14])) / os.sysconf("SC_CLK_TCK")

    deadline = time.monotonic() + 10
    while children_cpu_seconds() < 1.0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert children_cpu_seconds() >= 0.9


def test_the_zygote_declines_kernels_it_cannot_fork_alike(zygote):
    options, running = zygote
    env = {**os.environ, **kernel_environment(options)}
    cwd = str(options.root)
    assert running.spawn(["/bin/sh", "-c", "true"], env, cwd) is None
    assert running.spawn(["/usr/bin/python3-elsewhere", "-m", "ipykernel_launcher"], env, cwd) is None
    # numpy sized its thread pools when the zygote imported it: a kernel with other caps is not forked
    assert running.spawn([sys.executable, "-m", "ipykernel_launcher"], {**env, "OMP_NUM_THREADS": "7"}, cwd) is None


def test_closing_the_zygote_stops_it_and_removes_its_socket(zygote):
    _, running = zygote
    pid = running.process.pid
    running.close()
    assert gone(pid) and not os.path.exists(running.socket_path)
    assert not running.ready and running.spawn([sys.executable, "-m", "ipykernel_launcher"], {}, ".") is None


def test_forking_can_be_turned_off(monkeypatch):
    monkeypatch.setenv(FORK_ENV, "0")
    assert not fork_enabled()
    assert start_zygote(BuildOptions(n_patients=300)) is None
    monkeypatch.setenv(FORK_ENV, "1")
    assert fork_enabled()


def test_a_forked_process_handle_reports_its_end():
    child = os.fork()
    if child == 0:
        time.sleep(30)
        os._exit(0)
    handle = ForkedProcess(child)
    assert handle.poll() is None
    handle.kill()
    os.waitpid(child, 0)  # ours to reap here; the zygote reaps its own
    assert handle.wait(timeout=10) == 0 and handle.poll() == 0
