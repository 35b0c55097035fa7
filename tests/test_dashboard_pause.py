"""Pausing a desk's nudges from its card, in headless Chromium: the buttons publish the
desk's cmd/pause on a real Mosquitto (schemas/cmd-pause.json), and the card shows the
pause the agent publishes (its retained `pause`, schemas/pause.json, played here by a
paho client): until when, until resumed, or nothing once it ran out or was resumed."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from edge.timefmt import iso_utc
from tests.dashboard_app import STATE, served_dashboard, wait_until
from tests.mosquitto import Subscriber

PREFIX = "pausing"
BASE = f"{PREFIX}/office/desk-1"
CARD = "document.querySelector('.desk[data-desk=\"office/desk-1\"]')"


def script(browser: Any, expression: str) -> Any:
    return browser.execute_script(f"return {expression};")


def shown(browser: Any) -> tuple[str, bool, bool]:
    """The card's pause text, and whether its pause controls and its Resume show."""
    return tuple(script(browser, f"[{CARD}.querySelector('.pause-state').textContent, "
                                 f"!{CARD}.querySelector('.pause-controls').hidden, "
                                 f"!{CARD}.querySelector('.resume').hidden]"))


def agent_pause(desk: Subscriber, paused: bool, until: datetime | None) -> None:
    desk.publish(f"{BASE}/pause", json.dumps({
        "paused": paused, "until": None if until is None else iso_utc(until),
        "time": iso_utc(datetime.now(UTC))}), retain=True)


def test_the_desk_card_pauses_and_resumes_nudges(browser, broker, tmp_path):
    with served_dashboard(broker, tmp_path, PREFIX) as url, \
            Subscriber(broker, [f"{BASE}/cmd/pause"]) as desk:
        try:
            desk.publish(f"{BASE}/state", json.dumps(STATE), retain=True, qos=0)
            browser.get(url + "/")
            wait_until(lambda: script(browser, f"!!{CARD}"), what="the desk")
            assert shown(browser) == ("", True, False)
            options = script(browser, f"[...{CARD}.querySelectorAll('.pause-for option')]"
                                      ".map((o) => o.textContent)")
            assert options == ["30 min", "60 min", "until resumed"]

            def choose(label: str) -> None:
                browser.execute_script(
                    f"const s = {CARD}.querySelector('.pause-for');"
                    f" s.value = [...s.options].find((o) => o.textContent === '{label}').value;")
                browser.find_element("css selector", ".desk .pause-send").click()

            choose("60 min")
            [sent] = desk.wait_count(f"{BASE}/cmd/pause", 1)
            assert json.loads(sent.payload) == {"minutes": 60}
            choose("until resumed")
            sent = desk.wait_count(f"{BASE}/cmd/pause", 2)[-1]
            assert json.loads(sent.payload) == {"paused": True}

            until = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=60)
            agent_pause(desk, True, until)
            clock = script(browser, f"new Date('{iso_utc(until)}').toLocaleTimeString([], "
                                    "{hour: '2-digit', minute: '2-digit'})")
            wait_until(lambda: shown(browser) == (f"Nudges paused until {clock}", False, True),
                       what="paused until")
            agent_pause(desk, True, None)
            wait_until(lambda: shown(browser) == ("Nudges paused", False, True),
                       what="paused until resumed")

            browser.find_element("css selector", ".desk .resume").click()
            sent = desk.wait_count(f"{BASE}/cmd/pause", 3)[-1]
            assert json.loads(sent.payload) == {"paused": False}
            agent_pause(desk, False, None)
            wait_until(lambda: shown(browser) == ("", True, False), what="resumed")

            # A pause that runs out ends on the card by itself.
            agent_pause(desk, True, datetime.now(UTC) + timedelta(seconds=2))
            wait_until(lambda: shown(browser)[0].startswith("Nudges paused until"),
                       what="a short pause")
            wait_until(lambda: shown(browser) == ("", True, False), timeout=5,
                       what="the pause over")
        finally:
            desk.publish(f"{BASE}/state", "", retain=True)
            desk.publish(f"{BASE}/pause", "", retain=True)
