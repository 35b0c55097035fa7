"""The dashboard's app for tests (tests/test_dashboard*.py): its configuration on a real
Mosquitto, a TestClient that browses to it by a loopback name (the app refuses any other
Host header, TestClient's own "testserver" too), `legwake dashboard` served as a process
for a browser, a desk publishing to it, waiting, and an office's log of three workdays for
the history view."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from starlette.testclient import TestClient

from dashboard.app import create_app
from dashboard.fleet import Fleet
from edge.config import Config, DashboardConfig, LogConfig, MqttConfig
from edge.processes import free_port
from edge.store import Store
from tests.mosquitto import Mosquitto, Subscriber
from tests.running import start, stop, wait_http
from tests.sittings import workday

LOCAL = "http://127.0.0.1"  # TestClient's base_url: a Host the app answers
TOKEN = "s3cret-token-for-tests-0123"  # a [dashboard] token for the tests
STATE = {"t": 12.0, "posture": "upright", "confidence": 0.9,
         "sites": {s: {"pressure_mmhg": 20.0, "time_to_numbness_s": None} for s in (
             "sciatic_left", "sciatic_right", "thigh_left", "thigh_right", "peroneal_left",
             "peroneal_right")},
         "sensors": {"mat": "ok", "imu_left": "ok", "imu_right": "stale"},
         "seat": {"map_mmhg": [[0] * 16 for _ in range(16)], "load_n": 500.0},
         "sitting_s": 600.0, "last_break": None, "time": "2026-11-20T10:00:00Z"}
ALERT = {"t": 30.0, "event": "alert", "id": "20261120T100000000000Z-a1", "kind": "numbness",
         "site": "peroneal_left", "posture": "crossed_left_over_right",
         "time_to_numbness_s": 170.0, "message": "Uncross your legs.",
         "time": "2026-11-20T10:00:30Z"}


def feed(fleet: Fleet, topic: str, body: Any, now: float = 0.0,
         desk: str = "office/desk-1") -> list[dict[str, Any]]:
    """One message to the fleet on `<prefix>/<desk>/<topic>`: text as it is, else JSON."""
    payload = body.encode() if isinstance(body, str) else json.dumps(body).encode()
    return fleet.message(f"{fleet.prefix}/{desk}/{topic}", payload, now)


def config_for(broker: Mosquitto, tmp_path: Path, prefix: str, **dashboard: Any) -> Config:
    return Config(mqtt=MqttConfig(host=broker.host, port=broker.port, topic_prefix=prefix,
                                  outbox_path=str(tmp_path / "outbox.db")),
                  log=LogConfig(path=str(tmp_path / "legwake.db")),
                  dashboard=DashboardConfig(**dashboard))


def client_of(config: Config, **options: Any) -> TestClient:
    """A TestClient of the app of `config` on a loopback Host; enter it to run the app."""
    return TestClient(create_app(config), base_url=LOCAL, **options)


def wait_until(check: Callable[[], Any], timeout: float = 10.0, what: str = "it") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.05)
    raise TimeoutError(f"waited {timeout} s for {what}")


@contextlib.contextmanager
def live_dashboard(broker: Mosquitto, tmp_path: Path, **dashboard: Any
                   ) -> Iterator[tuple[TestClient, Subscriber, str]]:
    """The app on `broker` under a prefix of its own, connected, and a client of that broker
    playing the desks (publishing) and listening to the commands."""
    prefix = f"dash{time.monotonic_ns() % 10**9}"
    desk = Subscriber(broker, [f"{prefix}/+/+/cmd/#"])
    with desk, client_of(config_for(broker, tmp_path, prefix, **dashboard)) as client:
        wait_until(lambda: client.get("/healthz").json()["broker_connected"], what="broker")
        yield client, desk, prefix


@contextlib.contextmanager
def served_dashboard(broker: Mosquitto, tmp_path: Path, prefix: str, **dashboard: Any
                     ) -> Iterator[str]:
    """`legwake dashboard` as a process on a free port of 127.0.0.1, on `broker` under
    `prefix`, with these [dashboard] settings; its URL. It must stop cleanly (exit 0)."""
    port = free_port()
    settings = "".join(f"{key} = {json.dumps(value)}\n" for key, value in dashboard.items())
    config = tmp_path / "config.toml"
    config.write_text(f'[mqtt]\nhost = "{broker.host}"\nport = {broker.port}\n'
                      f'topic_prefix = "{prefix}"\noutbox_path = "{tmp_path / "outbox.db"}"\n'
                      f'[log]\npath = "{tmp_path / "legwake.db"}"\n[mat]\nzero_file = ""\n'
                      f"[dashboard]\nport = {port}\n{settings}")
    process = start(["dashboard", "--config", str(config)], tmp_path, "dashboard")
    try:
        wait_http(f"http://127.0.0.1:{port}/healthz", process, tmp_path / "dashboard.log")
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(process)
    assert process.returncode == 0, (tmp_path / "dashboard.log").read_text()


def write_office_log(path: Path) -> Path:
    """desk-1 on 2026-11-16 and -17, desk-2 on the 17th (UTC mornings)."""
    store = Store(str(path))
    store.record(workday(datetime(2026, 11, 16, 8, 0, tzinfo=UTC), hours=3, seed=3)
                 + workday(datetime(2026, 11, 17, 8, 0, tzinfo=UTC), hours=2, seed=4)
                 + workday(datetime(2026, 11, 17, 9, 0, tzinfo=UTC), hours=2, seed=5,
                           desk="desk-2", person="p-4"))
    store.close()
    return path
