"""The kernel zygote's process (``lesionmap.publish.zygote``): it imports the numerical stack once, then forks a
kernel for each request. Standard library only, so that the zygote imports nothing but ``PRELOADED`` (and this
module) before it forks."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import sys

#: What the zygote imports before it forks kernels: the numerical stack every chapter imports, and nothing that
#: reads the kernel's environment at import time.
PRELOADED = (
    "numpy",
    "pandas",
    "pyarrow.parquet",
    "scipy.optimize",
    "scipy.sparse",
    "scipy.special",
    "scipy.stats",
    "sklearn.cluster",
    "sklearn.linear_model",
    "sklearn.metrics",
    "sklearn.model_selection",
    "lifelines",
    "altair",
    "yaml",
)

READY = b"ready\n"


def read_line(connection: socket.socket) -> bytes:
    data = b""
    while not data.endswith(b"\n"):
        chunk = connection.recv(65536)
        if not chunk:
            raise OSError("connection closed before a full line")
        data += chunk
    return data


def _become_kernel(request: dict) -> None:
    """In the forked child: take the kernel's session, environment, folder and stdin, then run its module."""
    import runpy

    os.setsid()
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    env = dict(request["env"])
    env["JPY_PARENT_PID"] = str(os.getppid())  # ipykernel exits when its parent (the zygote) does
    os.environ.clear()
    os.environ.update(env)
    os.chdir(request["cwd"])
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    sys.argv = [request["module"], *request["argv"]]
    runpy.run_module(request["module"], run_name="__main__", alter_sys=True)


def _reap(signum, frame) -> None:
    """Reap every kernel that has ended, at once (no zombies), so that its CPU time counts in the zygote's
    children's, and so in the build's (``/usr/bin/time make book``)."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def serve(socket_path: str, ready_fd: int, owner_pid: int) -> None:
    """The zygote: import ``PRELOADED``, say so on ``ready_fd``, then fork a kernel for each request, until it is
    stopped or the process that started it (``owner_pid``) has gone."""
    import importlib

    for module in PRELOADED:
        with contextlib.suppress(ImportError):
            importlib.import_module(module)
    signal.signal(signal.SIGCHLD, _reap)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(socket_path)
    listener.listen(8)
    listener.settimeout(1.0)
    os.write(ready_fd, READY)
    os.close(ready_fd)
    while os.getppid() == owner_pid:
        try:
            connection, _ = listener.accept()
        except TimeoutError:
            continue
        with connection:
            connection.settimeout(30)
            request = json.loads(read_line(connection))
            pid = os.fork()
            if pid == 0:
                listener.close()
                connection.close()
                status = 0
                try:
                    _become_kernel(request)
                except SystemExit as done:
                    status = done.code if isinstance(done.code, int) else 0
                except BaseException:  # noqa: BLE001 - the kernel's own error, shown on its stderr
                    import traceback

                    traceback.print_exc()
                    status = 1
                finally:
                    sys.stdout.flush()
                    sys.stderr.flush()
                    os._exit(status)
            connection.sendall(json.dumps({"pid": pid}).encode() + b"\n")


if __name__ == "__main__":
    serve(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
