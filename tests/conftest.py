"""Shared fixtures: real Mosquitto brokers (tests/mosquitto.py), headless Chromium
(tests/browser.py), the dashboard's history on an office's log (tests/dashboard_app.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import browser as chromium_browser
from tests.mosquitto import Mosquitto


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mosquitto]:
    """One plain broker for the session; tests keep apart by their own topics."""
    with Mosquitto(tmp_path_factory.mktemp("mosquitto")) as shared:
        yield shared


@pytest.fixture
def make_broker(tmp_path: Path) -> Iterator[Callable[..., Mosquitto]]:
    """A started broker of the test's own (to stop, restart, pause), killed at teardown."""
    brokers: list[Mosquitto] = []

    def make(**options: Any) -> Mosquitto:
        own = Mosquitto(tmp_path / f"mosquitto-{len(brokers)}", **options)
        brokers.append(own)
        own.start()
        return own

    yield make
    for own in brokers:
        own.close()


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    """Headless Chromium (a selenium WebDriver) with a fresh profile, quit at teardown;
    the test is skipped when this machine has no /usr/bin/chromium."""
    reason = chromium_browser.missing()
    if reason:
        pytest.skip(reason)
    with chromium_browser.chromium(tmp_path / "chromium-profile") as driver:
        yield driver


# --- the dashboard (tests/dashboard_app.py; imported here only when a test asks) ----------


@pytest.fixture(scope="session")
def office_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A log of three workdays at two desks (tests/dashboard_app.py), read only by tests."""
    from tests.dashboard_app import write_office_log

    return write_office_log(tmp_path_factory.mktemp("history") / "fleet.db")


@pytest.fixture
def dashboard_history(broker: Mosquitto, tmp_path: Path, office_log: Path) -> Iterator[Any]:
    """A running dashboard (a TestClient) whose history view reads `office_log`."""
    from tests.dashboard_app import client_of, config_for

    with client_of(config_for(broker, tmp_path, "hist", db=str(office_log))) as client:
        yield client
