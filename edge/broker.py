"""A Mosquitto of our own on 127.0.0.1, for `legwake demo` when no broker is configured.

Owns one `mosquitto` process and its files in a directory it is given: the
configuration (one listener on 127.0.0.1 and a free port, anonymous clients, no
persistence unless asked) and the log, which also takes the process's own output, so
a broker that cannot start says why. `start` returns once the port accepts
connections; `stop` sends SIGTERM, waits, then SIGKILLs. The process is a child in the
sense of `edge.processes`: in a session of its own, and killed if we die. The tests'
broker (tests/mosquitto.py) is this class with persistence, TLS and passwords added.

Must not touch: a broker it did not start (a system Mosquitto on 1883 is left alone:
the port is always a free one), or anything outside its directory.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from pathlib import Path
from typing import Self

from edge import processes
from edge.processes import HOST, free_port

__all__ = ["HOST", "BrokerError", "LocalBroker", "free_port", "mosquitto_binary"]

INSTALL_HINT = "install mosquitto (scripts/setup.sh)"


class BrokerError(RuntimeError):
    """The local broker cannot be found or started; the message says why."""


def mosquitto_binary() -> str:
    """The `mosquitto` executable: on PATH, else Debian's /usr/sbin (not on a user's PATH)."""
    found = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    if not os.access(found, os.X_OK):
        raise BrokerError(f"no mosquitto executable on PATH or at /usr/sbin/mosquitto: "
                          f"{INSTALL_HINT}")
    return found


class LocalBroker:
    """One mosquitto process with its configuration and log in `directory`, on one port
    (a free one unless given), the same port across restarts."""

    def __init__(self, directory: str | os.PathLike[str], *, host: str = HOST,
                 port: int | None = None, persistence: bool = False,
                 allow_anonymous: bool = True) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.host = host
        self.port = port if port is not None else free_port(host)
        self.persistence = persistence
        self.allow_anonymous = allow_anonymous
        self.config_path = self.directory / "mosquitto.conf"
        self.log_path = self.directory / "mosquitto.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.write_config()

    def config_lines(self) -> list[str]:
        """The configuration file's lines; a subclass adds its own."""
        lines = [
            f"listener {self.port} {self.host}",
            f"allow_anonymous {'true' if self.allow_anonymous else 'false'}",
            f"persistence {'true' if self.persistence else 'false'}",
        ]
        if self.persistence:
            lines.append(f"persistence_location {self.directory}/")
        lines += [
            f"log_dest file {self.log_path}",
            "log_type error", "log_type warning", "log_type notice", "log_type information",
            "connection_messages true",
        ]
        if os.geteuid() == 0:
            # Run as root, mosquitto would switch to the user "mosquitto", which cannot
            # write to a directory private to root (tempfile.mkdtemp's, pytest's).
            lines.append("user root")
        return lines

    def write_config(self) -> None:
        """(Re)write the configuration file; a running broker reads it at its next start."""
        self.config_path.write_text("\n".join(self.config_lines()) + "\n")

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self, timeout: float = 10.0) -> None:
        """Start mosquitto and return once its port accepts connections; BrokerError (with
        the log's tail) if it exits first or does not listen within `timeout` seconds."""
        if self.running:
            raise BrokerError("mosquitto is already running")
        binary = mosquitto_binary()
        with self.log_path.open("ab") as output:  # what it prints before its log opens
            self.process = processes.spawn([binary, "-c", str(self.config_path)],
                                           stdout=output, stderr=subprocess.STDOUT)
        try:
            processes.wait_until_listening(self.process, self.host, self.port,
                                           timeout=timeout, name="mosquitto",
                                           explain=self.log_tail)
        except (RuntimeError, TimeoutError) as error:
            processes.kill(self.process)
            self.process = None
            raise BrokerError(str(error)) from None

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM (mosquitto then saves what it persists and exits), SIGKILL after
        `timeout` seconds."""
        if self.process is None:
            return
        processes.stop([(self.process, signal.SIGTERM)], timeout=timeout)
        self.process = None

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def log_tail(self, lines: int = 20) -> str:
        return processes.file_tail(self.log_path, lines)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
