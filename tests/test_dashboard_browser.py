"""The dashboard in headless Chromium: the real agent on the simulated desk publishing to a
real Mosquitto, `legwake dashboard` serving the page, a person watching it and pressing
acknowledge. Screenshots go to tests/artifacts/."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge.processes import free_port
from tests.browser import ARTIFACTS, broken_images, full_page_screenshot
from tests.mosquitto import Mosquitto, Subscriber
from tests.running import start, stop, wait_http

SPEED = 30  # crossed_legs: upright 3-5 min, then crossed; the alert ~10 min into it
PREFIX = "browserdash"


def write_config(path: Path, broker: Mosquitto, port: int) -> Path:
    path.write_text(f"""
[mqtt]
host = "{broker.host}"
port = {broker.port}
topic_prefix = "{PREFIX}"
outbox_path = "{path.parent / 'outbox.db'}"
[log]
path = "{path.parent / 'legwake.db'}"
[mat]
zero_file = ""
[dashboard]
port = {port}
""")
    return path


@pytest.fixture
def served(broker: Mosquitto, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    port = free_port()
    config = write_config(tmp_path / "config.toml", broker, port)
    dashboard = start(["dashboard", "--config", str(config)], tmp_path, "dashboard")
    try:
        wait_http(f"http://127.0.0.1:{port}/healthz", dashboard, tmp_path / "dashboard.log")
        yield f"http://127.0.0.1:{port}", config
    finally:
        stop(dashboard)
    assert dashboard.returncode == 0, (tmp_path / "dashboard.log").read_text()


def wait_for(driver, script: str, timeout: float, what: str):
    """Until the JavaScript expression is truthy; its value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = driver.execute_script(f"return {script};")
        if value:
            return value
        time.sleep(0.2)
    raise TimeoutError(f"waited {timeout} s for {what}")


DESK = "document.querySelector('.desk[data-desk=\"office/desk-1\"]')"


@pytest.mark.slow
def test_a_desk_goes_from_upright_to_crossed_legs_and_its_alert_is_acknowledged(
        browser, broker, served, tmp_path):
    url, config = served
    browser.get(url + "/")
    assert wait_for(browser, "!document.getElementById('no-desks').hidden && "
                    "document.getElementById('no-desks').textContent", 10, "the empty page")
    agent = start(["run", "--sim", "crossed_legs", "--speed", str(SPEED), "--config",
                   str(config)], tmp_path, "agent")
    try:
        with Subscriber(broker, [f"{PREFIX}/+/+/cmd/ack",
                                 f"{PREFIX}/+/+/cmd/feedback"]) as commands:
            wait_for(browser, f"{DESK} && {DESK}.dataset.posture === 'upright'", 60,
                     "the desk, upright")
            assert browser.execute_script(f"return {DESK}.dataset.status") == "online"
            assert browser.execute_script(
                f"return {DESK}.querySelector('.posture').textContent") == "Upright"
            assert int(browser.execute_script(
                f"return {DESK}.querySelector('.heatmap').dataset.cells")) > 40
            # Each thigh unit's chip carries its battery, as the simulated unit reports it.
            thigh = wait_for(browser, f"{DESK}.querySelector('.sensors [data-sensor=imu_left]')"
                             ".textContent.match(/^Left thigh \\d+ %$/)", 30, "the battery")
            assert 90 <= int(thigh[0].split()[2]) <= 100
            full_page_screenshot(browser, ARTIFACTS / "dashboard-upright.png")

            wait_for(browser, f"{DESK}.dataset.posture === 'crossed_left_over_right'", 60,
                     "crossed legs")
            assert browser.execute_script(f"return {DESK}.querySelector('.posture')"
                                          ".textContent") == "Legs crossed, left over right"
            # The crossed leg's nerve load rises and its countdown runs before any alert.
            countdown = wait_for(browser, f"{DESK}.querySelector('.gauge[data-leg=left]')"
                                 ".dataset.ttn", 60, "a time to numbness, left leg")
            assert int(countdown) > 0
            # How sure, as a person reads it: "in 8 to 21 min".
            band = wait_for(browser, f"{DESK}.querySelector('.gauge[data-leg=left] .band')"
                            ".textContent", 10, "the band, left leg")
            assert re.fullmatch(r"in \d+ to \d+ min( or more)?|in \d+ min or more", band), band

            alert = wait_for(browser, "document.querySelector('li.alert[data-status=open]"
                             "[data-kind=numbness]')", 90, "the alert, live")
            assert "Uncross" in alert.find_element("css selector", ".message").text
            assert browser.execute_script(
                f"return {DESK}.querySelector('.gauge[data-leg=left]').dataset.level") \
                in ("alert", "warn")
            full_page_screenshot(browser, ARTIFACTS / "dashboard-alert.png")

            key = alert.get_attribute("data-alert")
            alert.find_element("css selector", "button.ack").click()
            [ack] = commands.wait_count(f"{PREFIX}/office/desk-1/cmd/ack", 1, timeout=10)
            assert key.endswith("/" + json.loads(ack.payload)["id"])
            wait_for(browser, f"document.querySelector('li.alert[data-alert=\"{key}\"]')"
                     ".dataset.status === 'acknowledged'", 10, "acknowledged")
            badge = browser.execute_script(
                f"return document.querySelector('li.alert[data-alert=\"{key}\"] "
                ".alert-status').textContent")
            assert badge.startswith("Acknowledged")
            full_page_screenshot(browser, ARTIFACTS / "dashboard-acknowledged.png")

            # The person's feedback: this alert was a false alarm, then the leg fell asleep.
            assert wait_for(browser, f"{DESK}.querySelector('.sensitivity').textContent", 10,
                            "the sensitivity") == "Sensitivity 1.00 (nothing reported yet)"
            alert.find_element("css selector", "button.false-alarm").click()
            [fine] = commands.wait_count(f"{PREFIX}/office/desk-1/cmd/feedback", 1, timeout=10)
            assert json.loads(fine.payload) == {"alert": key.rsplit("/", 1)[1], "numb": False}
            browser.execute_script(f"{DESK}.querySelector('.asleep[data-leg=left]').click()")
            asleep = commands.wait_count(f"{PREFIX}/office/desk-1/cmd/feedback", 2,
                                         timeout=10)[1]
            assert json.loads(asleep.payload) == {"leg": "left", "numb": True}
            shown = wait_for(browser, f"{DESK}.querySelector('.sensitivity').textContent"
                             ".match(/from 2 reports/) && "
                             f"{DESK}.querySelector('.sensitivity').textContent", 20,
                             "the sensitivity learned from two reports")
            assert shown.startswith("Sensitivity ")
            assert "false alarm sent" in browser.execute_script(
                f"return document.querySelector('li.alert[data-alert=\"{key}\"] "
                ".alert-status').textContent")
            full_page_screenshot(browser, ARTIFACTS / "dashboard-feedback.png")
    finally:
        stop(agent)
    assert agent.returncode == 0, (tmp_path / "agent.log").read_text()
    # The agent said goodbye (its retained status): the desk shows offline.
    wait_for(browser, f"{DESK}.dataset.status === 'offline'", 10, "offline")

    browser.get(url + "/history")
    wait_for(browser, "document.readyState === 'complete'", 10, "the history page")
    assert browser.find_element("id", "summary").text
    images = browser.find_elements("css selector", "article.report img.figure")
    assert len(images) == 6  # with the sensitivity the feedback taught
    assert broken_images(browser) == []
    assert browser.find_elements("css selector", "a.csv")
    full_page_screenshot(browser, ARTIFACTS / "dashboard-history.png")
