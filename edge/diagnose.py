"""`legwake diagnose`: what an installer needs to see when something does not work.

Each check returns a `Finding` (ok, warn or fail, and one line of detail) and
never raises: a diagnosis that crashes on the broken thing it should report is
no use. Secrets never appear (the config is printed redacted). The files the
configuration names (TLS files, the outbox's and the logs' directories) are checked by
`edge.config.check_environment`, as `legwake check-config` and the commands' start-up do.
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from edge.config import Config, ConfigError, check_environment, config_to_toml
from edge.processes import accepts_connections

PACKAGES = ("legwake", "numpy", "numba", "pyserial", "bleak", "bumble", "paho-mqtt",
            "sqlite-utils", "click", "cobs")


@dataclass(frozen=True, slots=True)
class Finding:
    check: str
    status: str  # "ok", "warn" or "fail"
    detail: str


def versions() -> Finding:
    found = []
    for name in PACKAGES:
        try:
            found.append(f"{name} {importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            found.append(f"{name} missing")
    status = "fail" if any(v.endswith("missing") for v in found) else "ok"
    return Finding("versions", status,
                   f"python {platform.python_version()} on {platform.machine()}; "
                   + ", ".join(found))


def serial_ports(config: Config) -> Finding:
    from serial.tools import list_ports

    ports = "ports seen: " + (", ".join(sorted(p.device for p in list_ports.comports()))
                              or "none")
    wanted = config.mat.port
    if not wanted:
        return Finding("serial", "ok", f"no mat configured; {ports}")
    if not os.path.exists(wanted):
        return Finding("serial", "fail", f"{wanted} does not exist (is the mat plugged in?); "
                       f"{ports}")
    if not os.access(wanted, os.R_OK | os.W_OK):
        return Finding("serial", "fail", f"{wanted} is not readable and writable by this user "
                       f"(add it to the dialout group); {ports}")
    return Finding("serial", "ok", f"{wanted} is there; {ports}")


def ble_adapter(config: Config) -> Finding:
    if config.imu.transport != "ble":
        return Finding("ble", "ok", f"thigh units over {config.imu.transport}: no adapter needed")
    if config.ble.backend == "sim":
        host, port = _tcp_target(config.ble.sim_hci)
        reachable = accepts_connections(host, port, timeout=2.0)
        return Finding("ble", "ok" if reachable else "fail",
                       f"simulated radio at {config.ble.sim_hci}: "
                       + ("reachable" if reachable
                          else "not reachable (is `legwake sim` running?)"))
    adapters = sorted(p.name for p in Path("/sys/class/bluetooth").glob("hci*"))
    if adapters:
        return Finding("ble", "ok", "Bluetooth adapters: " + ", ".join(adapters))
    return Finding("ble", "fail", "no Bluetooth adapter under /sys/class/bluetooth "
                   "(is BlueZ running and the adapter enabled?)")


def broker(config: Config) -> Finding:
    mqtt = config.mqtt
    where = f"{mqtt.host}:{mqtt.port}"
    started = time.monotonic()
    if accepts_connections(mqtt.host, mqtt.port, timeout=2.0):
        return Finding("broker", "ok", f"{where} accepts connections "
                       f"({(time.monotonic() - started) * 1000:.0f} ms)"
                       + (", TLS" if mqtt.tls else ""))
    return Finding("broker", "fail", f"{where} is not reachable: alerts queue in the outbox "
                   "until it is")


def numba_cache() -> Finding:
    import edge.model  # sets NUMBA_CACHE_DIR
    from edge.model import backend, warmup

    cache = Path(os.environ["NUMBA_CACHE_DIR"])
    try:
        cache.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        return Finding("numba", "fail", f"cache dir {cache} cannot be created: {error}")
    if not os.access(cache, os.W_OK):
        return Finding("numba", "fail", f"cache dir {cache} is not writable")
    started = time.perf_counter()
    warmup()
    seconds = time.perf_counter() - started
    entries = sum(1 for _ in cache.rglob("*.nbi"))
    ahead = backend.name() == "ahead-of-time"
    hint = "" if ahead else " (scripts/setup.sh builds them ahead of time: less memory)"
    return Finding("numba", "ok" if ahead else "warn",
                   f"model kernels: {backend.name()}{hint}; JIT cache {cache} ({entries} "
                   f"kernels); model ready in {seconds:.2f} s; edge.model from "
                   f"{Path(edge.model.__file__).parent}")


def files(config: Config, config_file: str | os.PathLike[str] | None = None) -> Finding:
    """The files every command will use: fail on what check_environment refuses, warn on
    a secret in a `config_file` that others can read."""
    try:
        warnings = check_environment(config, config_file=config_file)
    except ConfigError as error:
        return Finding("files", "fail", "; ".join(error.errors + error.warnings))
    if warnings:
        return Finding("files", "warn", "; ".join(warnings))
    mqtt = config.mqtt
    tls = [name for name in (mqtt.ca_file, mqtt.cert_file, mqtt.key_file) if name]
    logs = [name for name in (mqtt.outbox_path, config.log.path, config.collect.db) if name]
    return Finding("files", "ok", (f"readable: {', '.join(tls)}; " if tls else "")
                   + f"can be written: {', '.join(logs)}")


def _tcp_target(transport: str) -> tuple[str, int]:
    host, _, port = transport.partition(":")[2].rpartition(":")
    return host, int(port) if port.isdigit() else 0


def run_checks(config: Config, *,
               config_file: str | os.PathLike[str] | None = None) -> list[Finding]:
    """Every check, in order; `config_file` is where `config` came from, if a file."""
    checks: list[Callable[[], Finding]] = [
        versions, lambda: files(config, config_file), lambda: serial_ports(config),
        lambda: ble_adapter(config), lambda: broker(config), numba_cache]
    findings = []
    for check in checks:
        try:
            findings.append(check())
        except Exception as error:  # noqa: BLE001 - a diagnosis reports, it does not crash
            name = getattr(check, "__name__", "check")
            findings.append(Finding(name, "fail", f"{type(error).__name__}: {error}"))
    return findings


def redacted_config(config: Config) -> str:
    return config_to_toml(config, redact=True)
