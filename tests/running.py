"""legwake's own commands as processes for end-to-end tests: started with their stderr in a
log file beside them, waited for over HTTP, stopped as a person would (SIGINT)."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from edge import processes


def start(args: list[str], cwd: Path, name: str) -> subprocess.Popen:
    """`python -m edge ARGS` in `cwd`, its stderr appended to cwd/<name>.log."""
    with open(cwd / f"{name}.log", "a") as log:
        return subprocess.Popen([sys.executable, "-m", "edge", *args], cwd=cwd,
                                stdout=subprocess.DEVNULL, stderr=log)


def stop(process: subprocess.Popen) -> None:
    processes.stop([(process, signal.SIGINT)], timeout=20)


def wait_http(url: str, process: subprocess.Popen, log: Path, timeout: float = 30.0) -> None:
    """Until the dashboard's /healthz at `url` says it is connected to the broker."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, log.read_text()
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                if json.load(answer)["broker_connected"]:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"{url} did not answer: {log.read_text()}")


async def until(predicate, agent: asyncio.Task, timeout: float = 20.0) -> None:
    """Until `predicate()` holds, while the in-process `agent` task runs: its failure is
    raised at once, rather than waited out."""
    async def poll() -> None:
        while not predicate():
            if agent.done():
                agent.result()
            await asyncio.sleep(0.05)
    await asyncio.wait_for(poll(), timeout)
