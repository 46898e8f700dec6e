"""Chapter kernels forked from a process that has already imported the numerical stack.

Every chapter runs in a fresh IPython kernel, and importing numpy, pandas, scipy.stats, scikit-learn, lifelines
and altair was most of each kernel's start: a one-cell notebook importing them took 5.6 s here, against 1.1 s in
a forked kernel, and a build starts eleven kernels. A build now starts one *zygote*, a small process
(``zygote_server``) that imports those libraries once (``zygote_server.PRELOADED``) and then forks a child for
each kernel, which becomes the kernel. Each chapter still starts from a clean process: what it finds already
imported is third-party code whose import reads nothing of the kernel's environment. The kernel's own stack
(ipykernel, IPython, lesionmap's analysis) is imported in the child, because ipykernel reads its parent's pid
from the environment when it is imported.

``KernelZygote`` starts and stops the zygote and asks it for kernels; ``ForkedKernelProvisioner`` is the
jupyter_client provisioner that launches a kernel through it (``lesionmap.publish.runner`` uses it while the
zygote runs, and launches a kernel the usual way until the zygote is ready). POSIX only (``os.fork``); set
``LESIONMAP_FORK_KERNELS=0`` to launch every kernel the usual way.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from jupyter_client.provisioning import LocalProvisioner

from lesionmap.publish import zygote_server
from lesionmap.publish.zygote_server import read_line

log = logging.getLogger(__name__)

#: Environment variable that turns the zygote off ("0").
FORK_ENV = "LESIONMAP_FORK_KERNELS"


def fork_enabled() -> bool:
    """Whether builds fork their kernels from a zygote (``os.fork`` exists, ``LESIONMAP_FORK_KERNELS`` is not 0)."""
    return hasattr(os, "fork") and os.environ.get(FORK_ENV, "1") != "0"


class KernelZygote:
    """A running zygote process: ``start`` it (it imports in the background), ``spawn`` kernels, ``close`` it.

    ``spawn`` returns None while the zygote is still importing, or if it has failed, so that the caller launches
    that kernel the usual way instead of waiting. The zygote exits when the process that started it does."""

    def __init__(self, env: dict[str, str], cwd: str | Path, runtime_dir: str | Path):
        self.env = dict(env)
        self.cwd = str(cwd)
        runtime = Path(runtime_dir)
        runtime.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.socket_path = str(runtime / f"lesionmap-zygote-{uuid.uuid4().hex[:12]}.sock")
        self.process: subprocess.Popen | None = None
        self._ready_pipe: int | None = None
        self._ready = False
        self._lock = threading.Lock()

    def start(self) -> KernelZygote:
        read_end, write_end = os.pipe()
        self.process = subprocess.Popen(
            [sys.executable, "-m", zygote_server.__name__, self.socket_path, str(write_end), str(os.getpid())],
            env=self.env,
            cwd=self.cwd,
            stdin=subprocess.DEVNULL,
            pass_fds=(write_end,),
        )
        os.close(write_end)
        self._ready_pipe = read_end
        return self

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    @property
    def ready(self) -> bool:
        """True once the zygote has imported its modules and listens (checked without waiting)."""
        with self._lock:
            if not self.running:
                return False
            if not self._ready and self._ready_pipe is not None:
                readable, _, _ = select.select([self._ready_pipe], [], [], 0)
                if readable:
                    self._ready = os.read(self._ready_pipe, len(zygote_server.READY)) == zygote_server.READY
                    os.close(self._ready_pipe)
                    self._ready_pipe = None
            return self._ready

    def wait_ready(self, timeout: float = 60.0) -> bool:
        """Wait until the zygote is ready (tests and benchmarks); False if it failed or timed out."""
        deadline = time.monotonic() + timeout
        while not self.ready:
            if not self.running or self._ready_pipe is None or time.monotonic() > deadline:
                return False
            time.sleep(0.05)
        return True

    def spawn(self, cmd: list[str], env: dict[str, str], cwd: str | Path) -> int | None:
        """Fork a kernel running ``cmd`` (``python -m module args``, with this Python) with ``env`` in ``cwd``;
        its pid, or None when the zygote is not ready, cannot run ``cmd``, or the kernel's environment differs
        from the zygote's in what the zygote's imports read (the thread caps)."""
        if (
            not self.ready
            or len(cmd) < 3
            or cmd[1] != "-m"
            or os.path.realpath(cmd[0]) != os.path.realpath(sys.executable)
        ):
            return None
        differing = [name for name in IMPORT_TIME_VARIABLES if env.get(name) != self.env.get(name)]
        if differing:
            log.debug("kernel launched without the zygote: %s differ", ", ".join(differing))
            return None
        request = json.dumps({"module": cmd[2], "argv": cmd[3:], "env": env, "cwd": str(cwd)}).encode()
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
                client.settimeout(30)
                client.connect(self.socket_path)
                client.sendall(request + b"\n")
                reply = read_line(client)
        except OSError as error:
            log.warning("the kernel zygote did not answer (%s); launching the kernel the usual way", error)
            return None
        return int(json.loads(reply)["pid"])

    def close(self) -> None:
        if self.running:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self._ready_pipe is not None:
            os.close(self._ready_pipe)
            self._ready_pipe = None
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.socket_path)


#: Variables read by the zygote's imports (BLAS and OpenMP thread pools are sized when numpy loads): a kernel
#: whose values differ is launched the usual way.
IMPORT_TIME_VARIABLES = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "JE_ARROW_MALLOC_CONF",
)


class ForkedProcess:
    """The handle of a kernel forked by the zygote: the part of ``subprocess.Popen`` that jupyter_client uses.

    The kernel is the zygote's child, not ours, so its exit status is not ours to read: ``poll`` says whether
    it is still running (the zygote reaps its children as they end) and reports 0 once it is gone."""

    stdin = stdout = stderr = None

    def __init__(self, pid: int):
        self.pid = pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            try:
                os.kill(self.pid, 0)
            except (ProcessLookupError, PermissionError):  # PermissionError: the pid is another user's now
                self.returncode = 0
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(f"kernel {self.pid}", timeout)
            time.sleep(0.02)
        return self.returncode

    def send_signal(self, signum: int) -> None:
        if self.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signum)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


class ForkedKernelProvisioner(LocalProvisioner):
    """A local provisioner whose kernels the build's zygote forks (``zygote``, a ``KernelZygote``; the usual
    launch where it is not ready). Everything else (connection files, signals to the kernel's process group,
    shutdown) is ``LocalProvisioner``'s."""

    zygote: KernelZygote | None = None

    async def launch_kernel(self, cmd: list[str], **kwargs: Any):
        env = dict(kwargs.get("env") or os.environ)
        cwd = kwargs.get("cwd") or os.getcwd()
        pid = self.zygote.spawn(cmd, env, cwd) if self.zygote is not None else None
        if pid is None:
            return await super().launch_kernel(cmd, **kwargs)
        log.debug("kernel forked by the zygote: pid %d", pid)
        self.process = ForkedProcess(pid)
        self.pid = pid
        self.pgid = pid  # the child starts its own session
        self.cwd = cwd
        return self.connection_info
