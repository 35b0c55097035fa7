"""Shared fixtures: real Mosquitto brokers (tests/mosquitto.py), headless Chromium
(tests/browser.py)."""

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
