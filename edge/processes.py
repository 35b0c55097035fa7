"""Child processes of a legwake command that runs others (`legwake demo`), and the local
ports they listen on.

Owns starting a child so that it never outlives the command, and stopping it: `spawn`
puts the child in a session of its own, so a Ctrl-C at the terminal reaches the parent
only and the parent decides the order of the shutdown (the agent must publish its
offline status while the broker still runs), and asks the kernel to SIGKILL the child
if the parent dies (Linux PR_SET_PDEATHSIG), so even a parent killed with SIGKILL
leaves nothing running. `stop` sends a signal, waits, then SIGKILLs. Also: a free
port, and waiting until a child's port accepts connections.

PR_SET_PDEATHSIG fires when the THREAD that started the child ends, not the process
(prctl(2)): spawn children from a thread that lives as long as they should, such as the
main thread.

Must not touch: what the children do (their commands and configuration are their
callers'), or any process it did not start.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from typing import IO

HOST = "127.0.0.1"

_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
# Resolved here, before any fork: the child between fork and exec only calls it.
_prctl = ctypes.CDLL(None, use_errno=True).prctl if sys.platform == "linux" else None


def free_port(host: str = HOST) -> int:
    """A TCP port nobody listens on now (the kernel's pick), for a child to listen on."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def port_is_free(host: str, port: int) -> bool:
    """True if a server could listen on host:port now (binding as uvicorn and Mosquitto
    do), False if something else listens there; OSError if host is no address of ours."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                return False
            raise
    return True


def accepts_connections(host: str, port: int, timeout: float = 0.5) -> bool:
    """True if something accepts a TCP connection on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _die_with_parent(parent_pid: int) -> Callable[[], None]:
    def in_child() -> None:
        if _prctl is not None:
            _prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        if os.getppid() != parent_pid:  # the parent died before the line above
            os.kill(os.getpid(), signal.SIGKILL)

    return in_child


def spawn(args: Sequence[str], *, stdout: IO[bytes] | int | None = subprocess.DEVNULL,
          stderr: IO[bytes] | int | None = subprocess.DEVNULL,
          env: dict[str, str] | None = None,
          cwd: str | os.PathLike[str] | None = None) -> subprocess.Popen[bytes]:
    """Start `args` in a session of its own, killed by the kernel if this process dies."""
    # preexec_fn runs in the child between fork and exec, where another thread's lock
    # could deadlock it: ours takes none (a prctl resolved before the fork, getppid, kill).
    return subprocess.Popen(
        list(args), stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr, env=env,
        cwd=cwd, start_new_session=True,
        preexec_fn=_die_with_parent(os.getpid()))  # noqa: PLW1509


def wait_until_listening(process: subprocess.Popen[bytes], host: str, port: int, *,
                         timeout: float, name: str,
                         explain: Callable[[], str] = lambda: "") -> None:
    """Return once host:port accepts connections; RuntimeError if `process` exits first,
    TimeoutError after `timeout` seconds. Either message ends with `explain()` (a log's
    tail)."""
    deadline = time.monotonic() + timeout
    while not accepts_connections(host, port):
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited ({process.returncode}) before listening on "
                               f"{host}:{port}" + _tail(explain()))
        if time.monotonic() > deadline:
            raise TimeoutError(f"{name} not listening on {host}:{port} after {timeout:g} s"
                               + _tail(explain()))
        time.sleep(0.02)


def _tail(text: str) -> str:
    return f":\n{text.rstrip()}" if text.strip() else ""


def stop(processes: Sequence[tuple[subprocess.Popen[bytes], int]], *,
         timeout: float = 10.0, give_up: Callable[[], bool] = lambda: False) -> None:
    """Send each running process its signal at once, wait up to `timeout` seconds (or until
    `give_up()` is true) for them all, then SIGKILL those still running; returns once
    every one has been reaped."""
    for process, signum in processes:
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signum)
    deadline = time.monotonic() + timeout
    while (any(process.poll() is None for process, _ in processes)
           and time.monotonic() < deadline and not give_up()):
        time.sleep(0.02)
    for process, _ in processes:
        kill(process)


def kill(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL (if still running) and reap."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
    process.wait()


def file_tail(path: str | os.PathLike[str], lines: int = 20) -> str:
    """The last `lines` lines of a text file, or "" if there is none."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 64 * 1024))
            text = f.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])
