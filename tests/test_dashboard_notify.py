"""The dashboard notifies, in headless Chromium: one click turns notifications on (and the
page remembers it); a new alert while the page is in the background (another tab in
front) is a notification from the service worker with Acknowledge and Snooze, and a chime;
the worker's answer to Acknowledge and Snooze reaches the desk's cmd/ topics on a real
Mosquitto, signed in with the page's own session cookie; the page installs (manifest and
icons); without a service worker the page falls back to `new Notification`. The
dashboard is `legwake dashboard` (tests/dashboard_app.py)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser import evaluate_in_worker
from tests.dashboard_app import ALERT, STATE, TOKEN, served_dashboard, wait_until
from tests.mosquitto import Mosquitto, Subscriber

PREFIX = "notify"
BASE = f"{PREFIX}/office/desk-1"
KEY = f"office/desk-1/{ALERT['id']}"
SECOND = {**ALERT, "id": "20261120T101500000000Z-a2", "time": "2026-11-20T10:15:00Z",
          "message": "Shift your weight off the left thigh."}

# Before any page script: count the chime's tones, log the page's visibility, and (for the
# fallback test) record `new Notification(...)` calls.
SPIES = """
window.spied = {tones: 0, visibility: [], notifications: []};
const start = OscillatorNode.prototype.start;
OscillatorNode.prototype.start = function (...args) {
  window.spied.tones++;
  return start.apply(this, args);
};
document.addEventListener("visibilitychange",
                          () => window.spied.visibility.push(document.visibilityState));
const Real = window.Notification;
window.Notification = class extends Real {
  constructor(title, options) {
    super(title, options);
    window.spied.notifications.push({title, options});
  }
};
"""
NO_SERVICE_WORKER = "delete Navigator.prototype.serviceWorker;"
NOTIFICATIONS = ("navigator.serviceWorker.ready.then((r) => r.getNotifications()).then((ns) =>"
                 " ns.map((n) => ({title: n.title, body: n.body, tag: n.tag, data: n.data,"
                 " actions: n.actions.map((a) => a.action)})))")


@pytest.fixture
def desk(broker: Mosquitto) -> Iterator[Subscriber]:
    """desk-1 online with a state, listening to its commands."""
    with Subscriber(broker, [f"{PREFIX}/+/+/cmd/#"]) as desk:
        desk.publish(f"{BASE}/status", "online", retain=True)
        desk.publish(f"{BASE}/state", json.dumps(STATE), retain=True, qos=0)
        try:
            yield desk
        finally:
            desk.publish(f"{BASE}/status", "", retain=True)
            desk.publish(f"{BASE}/state", "", retain=True)


def script(browser: Any, expression: str) -> Any:
    return browser.execute_script(f"return {expression};")


def open_live_page(browser: Any, url: str, *extra: str) -> None:
    browser.execute_cdp_cmd("Browser.grantPermissions", {"permissions": ["notifications"],
                                                         "origin": url})
    browser.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument",
                            {"source": "\n".join((SPIES, *extra))})
    browser.get(url + "/login")
    browser.find_element("css selector", "input[name=token]").send_keys(TOKEN)
    browser.find_element("css selector", "main.login button[type=submit]").click()
    wait_until(lambda: script(browser, "document.querySelector('.desk[data-desk=\"office/"
                                       "desk-1\"]') && document.body.dataset.stream") ==
               "open", what="the live page, signed in")


def turn_notifications_on(browser: Any) -> None:
    button = browser.find_element("id", "notify")
    assert (button.text, button.get_attribute("aria-pressed")) == ("Notify me", "false")
    button.click()
    wait_until(lambda: button.get_attribute("aria-pressed") == "true", what="turned on")
    assert button.text == "Notifications on"
    assert script(browser, "localStorage.getItem('legwake.notifications')") == "on"


def to_the_background(browser: Any, url: str) -> str:
    """Another tab of the dashboard in front: the live page is hidden. Its handle."""
    live = browser.current_window_handle
    browser.switch_to.new_window("tab")
    browser.get(url + "/history")
    return live


def test_a_new_alert_in_the_background_notifies_and_acknowledge_reaches_the_desk(
        browser, broker, desk, tmp_path):
    with served_dashboard(broker, tmp_path, PREFIX, token=TOKEN) as url:
        open_live_page(browser, url)
        assert script(browser, "navigator.serviceWorker.ready.then((r) => r.active.scriptURL)"
                      ) == f"{url}/sw.js"
        turn_notifications_on(browser)
        browser.refresh()  # remembered
        wait_until(lambda: browser.find_element("id", "notify").get_attribute("aria-pressed")
                   == "true", what="still on after a reload")
        tones = script(browser, "window.spied.tones")

        # In front, a new alert shows in the feed only.
        desk.publish(f"{BASE}/alert", json.dumps(SECOND))
        wait_until(lambda: script(browser, "document.querySelectorAll('li.alert').length"),
                   what="the alert in the feed")
        time.sleep(0.5)
        assert script(browser, NOTIFICATIONS) == []

        live = to_the_background(browser, url)
        desk.publish(f"{BASE}/alert", json.dumps(ALERT))
        [shown] = wait_until(lambda: script(browser, NOTIFICATIONS), what="a notification")
        assert shown == {"title": "Numbness · desk-1", "body": "Uncross your legs.",
                         "tag": KEY, "actions": ["ack", "snooze"],
                         "data": {"desk": "office/desk-1", "id": ALERT["id"], "key": KEY,
                                  "snooze_minutes": 15}}
        browser.switch_to.window(live)
        assert "hidden" in script(browser, "window.spied.visibility")
        wait_until(lambda: script(browser, "window.spied.tones") == tones + 2,
                   what="the chime's two tones")

        # The notification's Acknowledge: what its notificationclick does, in the worker.
        def in_worker(expression: str) -> Any:
            return evaluate_in_worker(tmp_path / "chromium-profile", f"{url}/sw.js",
                                      expression)

        answered = in_worker(f"self.registration.getNotifications({{tag: {json.dumps(KEY)}}})"
                             ".then(([n]) => answer('ack', n.data))")
        assert answered == {"sent": "ack", "status": 200, "error": None}
        [ack] = desk.wait_count(f"{BASE}/cmd/ack", 1)
        assert json.loads(ack.payload) == {"id": ALERT["id"]}
        wait_until(lambda: script(browser, f"document.querySelector('li.alert[data-alert="
                                           f"\"{KEY}\"]').dataset.status") == "acknowledged",
                   what="acknowledged on the page")
        wait_until(lambda: script(browser, NOTIFICATIONS) == [], what="the notification gone")

        # Snooze, for the other alert; and a command the dashboard refuses says why.
        second = {"desk": "office/desk-1", "id": SECOND["id"], "snooze_minutes": 15}
        snoozed = in_worker(f"answer('snooze', {json.dumps(second)})")
        assert snoozed == {"sent": "snooze", "status": 200, "error": None}
        [snooze] = desk.wait_count(f"{BASE}/cmd/snooze", 1)
        assert json.loads(snooze.payload) == {"id": SECOND["id"], "minutes": 15}
        refused = in_worker("answer('ack', {desk: 'office/desk-9', id: 'x'})")
        assert refused["status"] == 404 and "no desk" in refused["error"]


def test_without_a_service_worker_the_page_falls_back_to_a_plain_notification(
        browser, broker, desk, tmp_path):
    with served_dashboard(broker, tmp_path, PREFIX, token=TOKEN) as url:
        open_live_page(browser, url, NO_SERVICE_WORKER)
        turn_notifications_on(browser)
        live = to_the_background(browser, url)
        desk.publish(f"{BASE}/alert", json.dumps(ALERT))
        time.sleep(1.0)
        browser.switch_to.window(live)
        wait_until(lambda: script(browser, "window.spied.notifications.length"),
                   what="a notification")
        [shown] = script(browser, "window.spied.notifications")
        assert shown["title"] == "Numbness · desk-1"
        assert shown["options"]["tag"] == KEY and "actions" not in shown["options"]


def test_the_page_installs_on_a_phone(browser, broker, desk, tmp_path):
    with served_dashboard(broker, tmp_path, PREFIX, token=TOKEN) as url:
        open_live_page(browser, url)
        script(browser, "navigator.serviceWorker.ready.then(() => true)")
        manifest = browser.execute_cdp_cmd("Page.getAppManifest", {})
        assert manifest["url"] == f"{url}/manifest.webmanifest"
        assert manifest["errors"] == []
        parsed = json.loads(manifest["data"])
        assert (parsed["short_name"], parsed["display"], parsed["start_url"]) == \
            ("legwake", "standalone", "/")
        errors = browser.execute_cdp_cmd("Page.getInstallabilityErrors", {})
        assert errors["installabilityErrors"] == []
        assert script(browser, "document.querySelector('meta[name=theme-color]').content") \
            == parsed["theme_color"]
        broken = script(browser, f"Promise.all({json.dumps([i['src'] for i in parsed['icons']])}"
                        ".map((src) => new Promise((done) => { const i = new Image();"
                        " i.onload = () => done(i.naturalWidth ? null : src);"
                        " i.onerror = () => done(src); i.src = src; })))")
        assert broken == [None] * len(parsed["icons"])
