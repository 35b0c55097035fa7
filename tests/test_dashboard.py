"""The dashboard's app against a real Mosquitto and a real log: the live picture, commands,
the token gate, the history view and its downloads. (The page itself, in Chromium:
tests/test_dashboard_browser.py; what an attacker tries: tests/test_dashboard_hostile.py;
the app's test set-up: tests/dashboard_app.py.)"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import logging
import struct
import time
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from dashboard.fleet import DeskKey, Fleet
from edge.config import ConfigError, DashboardConfig, load_config
from edge.store import Store
from tests.dashboard_app import (
    ALERT,
    STATE,
    TOKEN,
    client_of,
    config_for,
    feed,
    live_dashboard,
    wait_until,
)
from tests.mosquitto import Mosquitto, Subscriber
from tests.sittings import workday

# --- the fleet, alone ---------------------------------------------------------------------


def test_the_fleet_follows_a_desk_and_its_alerts():
    fleet = Fleet("legwake", stale_after_s=30)
    [update] = feed(fleet, "status", "online")
    assert update["desk"]["status"] == "online" and update["desk"]["state"] is None
    [update] = feed(fleet, "state", STATE, now=5.0)
    assert update["desk"]["state"]["posture"] == "upright"
    [update] = feed(fleet, "alert", ALERT)
    assert update["alert"]["status"] == "open"
    assert update["alert"]["key"] == f"office/desk-1/{ALERT['id']}"
    assert feed(fleet, "alert", ALERT) == []  # delivered twice (QoS 1): shown once
    [update] = feed(fleet, "cmd/ack", {"id": ALERT["id"]})
    assert update["alert"]["status"] == "acknowledged"
    assert feed(fleet, "cmd/ack", {"id": ALERT["id"]}) == []
    [update] = feed(fleet, "event", {"t": 210.0, "event": "outcome", "id": "x-e9",
                                     "alert_id": ALERT["id"], "kind": "numbness",
                                     "acknowledged": True, "snoozed": False, "moved": True,
                                     "response_s": 41.0, "responded": "acknowledged",
                                     "time": "2026-11-20T10:03:30Z"})
    assert update["alert"]["outcome"]["moved"] is True
    assert update["alert"]["status"] == "acknowledged"
    # No state for longer than stale_after_s: stale, until the next state.
    assert fleet.tick(20.0) == []
    [update] = fleet.tick(40.0)
    assert update["desk"]["stale"] is True
    feed(fleet, "state", STATE, now=41.0)
    assert fleet.tick(42.0) == []
    assert fleet.snapshot()["desks"][0]["stale"] is False
    [update] = feed(fleet, "status", "offline")
    assert update["desk"]["status"] == "offline"


def test_the_fleet_snoozes_and_keeps_the_newest_alerts():
    fleet = Fleet("legwake", alerts_kept=3)
    for n in range(5):
        feed(fleet, "alert", {**ALERT, "id": f"a{n}"})
    assert [a["id"] for a in fleet.snapshot()["alerts"]] == ["a4", "a3", "a2"]
    [update] = feed(fleet, "cmd/snooze", {"minutes": 15, "id": "a3"})
    assert update["alert"]["status"] == "snoozed" and update["alert"]["snoozed_min"] == 15
    # A snooze without an id answers every open alert of the desk.
    updates = feed(fleet, "cmd/snooze", {"minutes": 30})
    assert sorted(u["alert"]["id"] for u in updates) == ["a2", "a3", "a4"]
    assert not fleet.has_alert(DeskKey("office", "desk-1"), "a0")


def test_the_fleet_shows_a_desks_pause_as_the_agent_publishes_it():
    fleet = Fleet("legwake")
    [update] = feed(fleet, "pause", {"paused": True, "until": "2026-11-20T10:30:00.000Z",
                                     "time": "2026-11-20T10:00:00.000Z"})
    assert update["desk"]["pause"] == {"paused": True, "until": "2026-11-20T10:30:00.000Z"}
    [update] = feed(fleet, "pause", {"paused": True, "until": None})  # until resumed
    assert update["desk"]["pause"] == {"paused": True, "until": None}
    [update] = feed(fleet, "pause", {"paused": False, "until": None,
                                     "time": "2026-11-20T10:05:00Z"})
    assert update["desk"]["pause"] == {"paused": False, "until": None}
    # What was sent to the agent changes nothing: the agent's own pause says what it does.
    assert feed(fleet, "cmd/pause", {"minutes": 30}) == []
    assert fleet.snapshot()["desks"][0]["pause"] == {"paused": False, "until": None}
    assert fleet.ignored == 0


def test_an_ack_without_an_id_is_for_the_desks_newest_open_alert():
    fleet = Fleet("legwake")
    for n in range(3):
        feed(fleet, "alert", {**ALERT, "id": f"a{n}"})
    feed(fleet, "alert", {**ALERT, "id": "other"}, desk="office/desk-2")
    [update] = feed(fleet, "cmd/ack", {})
    assert (update["alert"]["id"], update["alert"]["status"]) == ("a2", "acknowledged")
    feed(fleet, "event", {"event": "outcome", "alert_id": "a1", "moved": True})  # a1 closed
    [update] = feed(fleet, "cmd/ack", {})
    assert update["alert"]["id"] == "a0"
    assert feed(fleet, "cmd/ack", {}) == []  # none open at desk-1 now
    assert [a["status"] for a in fleet.snapshot()["alerts"] if a["id"] == "other"] == ["open"]


@pytest.mark.parametrize(("topic", "body"), [
    ("pause", {"paused": True}), ("pause", {"paused": "yes", "until": None}),
    ("pause", {"paused": True, "until": None, "by": "me"}), ("cmd/pause", {}),
    ("cmd/pause", {"paused": False, "minutes": 5}), ("cmd/ack", {"id": ""}),
    ("status", "maybe"), ("state", "[1, 2]"), ("state", {"posture": "upright"}),
    ("alert", {"id": "", "kind": "numbness"}), ("alert", {"id": "a", "kind": "nap"}),
    ("cmd/snooze", {"minutes": "ten"}), ("state", "not json"),
])
def test_the_fleet_counts_and_skips_what_it_cannot_read(topic, body, caplog):
    fleet = Fleet("legwake")
    with caplog.at_level(logging.WARNING):
        assert feed(fleet, topic, body) == []
    assert fleet.ignored == 1
    assert f"legwake/office/desk-1/{topic}" in caplog.text
    # Topics it does not follow are not counted: other prefixes, Home Assistant's.
    assert fleet.message("homeassistant/status", b"online", 0.0) == []
    assert fleet.message("legwake/office/desk-1/minute", b"{}", 0.0) == []
    assert fleet.ignored == 1


# --- the app on a real broker ---------------------------------------------------------------


@pytest.fixture
def live(broker: Mosquitto, tmp_path: Path) -> Iterator[tuple[TestClient, Subscriber, str]]:
    """The app on the session's broker under its own prefix, and a client of that broker
    playing the desk (publishing) and listening to the commands."""
    with live_dashboard(broker, tmp_path) as running:
        yield running


def test_the_app_shows_what_the_desk_publishes_and_sends_its_commands(live):
    client, desk, prefix = live
    base = f"{prefix}/office/desk-1"
    desk.publish(f"{base}/status", "online", retain=True)
    desk.publish(f"{base}/state", json.dumps(STATE), retain=True, qos=0)
    desk.publish(f"{base}/alert", json.dumps(ALERT))
    snapshot = wait_until(lambda: (s := client.get("/api/snapshot").json())["alerts"] and
                          s["desks"] and s["desks"][0]["state"] and s, what="the desk")
    [view] = snapshot["desks"]
    assert (view["key"], view["status"], view["state"]["sitting_s"]) == \
        ("office/desk-1", "online", 600.0)
    assert snapshot["broker"] == {"connected": True}

    answer = client.post("/api/ack", json={"desk": "office/desk-1", "id": ALERT["id"]})
    assert answer.status_code == 200, answer.text
    [ack] = desk.wait_count(f"{base}/cmd/ack", 1)
    assert json.loads(ack.payload) == {"id": ALERT["id"]}
    # The command comes back through the broker: the alert is acknowledged for everyone.
    wait_until(lambda: client.get("/api/snapshot").json()["alerts"][0]["status"]
               == "acknowledged", what="acknowledged")

    answer = client.post("/api/snooze", json={"desk": "office/desk-1", "id": ALERT["id"],
                                              "minutes": 30})
    assert answer.status_code == 200, answer.text
    [snooze] = desk.wait_count(f"{base}/cmd/snooze", 1)
    assert json.loads(snooze.payload) == {"minutes": 30, "id": ALERT["id"]}


def test_the_page_pauses_and_resumes_a_desks_nudges(live):
    client, desk, prefix = live
    base = f"{prefix}/office/desk-1"
    desk.publish(f"{base}/pause", json.dumps({"paused": True, "until": None,
                                              "time": "2026-11-20T10:00:00.000Z"}))
    [view] = wait_until(lambda: client.get("/api/snapshot").json()["desks"], what="the desk")
    assert view["pause"] == {"paused": True, "until": None}
    for body in ({"minutes": 30}, {"paused": True}, {"paused": True, "minutes": 60},
                 {"paused": False}, {"minutes": 45.0}):
        answer = client.post("/api/pause", json={"desk": "office/desk-1", **body})
        assert answer.status_code == 200, answer.text
    sent = [json.loads(m.payload) for m in desk.wait_count(f"{base}/cmd/pause", 5)]
    assert sent == [{"minutes": 30}, {"paused": True}, {"paused": True, "minutes": 60},
                    {"paused": False}, {"minutes": 45}]


def test_an_ack_without_an_id_acknowledges_the_newest_open_alert(live):
    client, desk, prefix = live
    base = f"{prefix}/office/desk-1"
    older = {**ALERT, "id": "20261120T095000000000Z-a0", "time": "2026-11-20T09:50:00Z"}
    desk.publish(f"{base}/alert", json.dumps(older))
    desk.publish(f"{base}/alert", json.dumps(ALERT))
    wait_until(lambda: len(client.get("/api/snapshot").json()["alerts"]) == 2, what="alerts")
    answer = client.post("/api/ack", json={"desk": "office/desk-1"})
    assert answer.status_code == 200, answer.text
    [ack] = desk.wait_count(f"{base}/cmd/ack", 1)
    assert json.loads(ack.payload) == {}
    statuses = wait_until(lambda: (s := {a["id"]: a["status"] for a in client.get(
        "/api/snapshot").json()["alerts"]})[ALERT["id"]] == "acknowledged" and s,
        what="the newest acknowledged")
    assert statuses[older["id"]] == "open"


@pytest.mark.parametrize(("kind", "body", "status", "says"), [
    ("ack", {"desk": "office/desk-9", "id": ALERT["id"]}, 404, "no desk"),
    ("ack", {"desk": "office/desk-1", "id": "unknown"}, 404, "no alert"),
    ("ack", {"desk": "office/desk-1", "id": ALERT["id"], "minutes": 5}, 400, "unknown key"),
    ("pause", {"desk": "office/desk-1"}, 400, "empty"),
    ("pause", {"desk": "office/desk-1", "paused": False, "minutes": 30}, 400, "minutes"),
    ("pause", {"desk": "office/desk-1", "minutes": 1441}, 400, "1..1440"),
    ("ack", {"desk": "../#", "id": ALERT["id"]}, 404, "no desk"),
    ("snooze", {"desk": "office/desk-1", "minutes": 0}, 400, "minutes"),
    ("snooze", {"desk": "office/desk-1", "minutes": 121}, 400, "minutes"),
    ("ack", ["not", "an", "object"], 400, "JSON object"),
])
def test_bad_commands_are_refused_with_a_reason_and_nothing_is_published(live, kind, body,
                                                                         status, says):
    client, desk, prefix = live
    base = f"{prefix}/office/desk-1"
    desk.publish(f"{base}/alert", json.dumps(ALERT))
    wait_until(lambda: client.get("/api/snapshot").json()["alerts"], what="the alert")
    answer = client.post(f"/api/{kind}", json=body)
    assert answer.status_code == status
    assert says in answer.json()["error"]
    time.sleep(0.3)
    assert not [m for m in desk.messages if "/cmd/" in m.topic]


def test_a_command_while_the_broker_is_down_says_so(make_broker, tmp_path):
    broker = make_broker()
    with Subscriber(broker, []) as desk, \
            client_of(config_for(broker, tmp_path, "legwake")) as client:
        wait_until(lambda: client.get("/healthz").json()["broker_connected"], what="broker")
        desk.publish("legwake/office/desk-1/alert", json.dumps(ALERT))
        wait_until(lambda: client.get("/api/snapshot").json()["alerts"], what="the alert")
        broker.stop()
        wait_until(lambda: not client.get("/healthz").json()["broker_connected"],
                   what="the loss")
        answer = client.post("/api/ack", json={"desk": "office/desk-1", "id": ALERT["id"]})
        assert answer.status_code == 503
        assert "not connected to the broker" in answer.json()["error"]
        assert client.get("/api/snapshot").json()["broker"] == {"connected": False}


# --- safe by default ----------------------------------------------------------------------------


def test_only_loopback_goes_without_a_token(tmp_path):
    for host in ("127.0.0.1", "::1", "localhost"):
        assert DashboardConfig(host=host).token == ""
    with pytest.raises(ConfigError) as raised:
        DashboardConfig(host="0.0.0.0")
    assert "token: expected a token of at least 16 characters when host is not" in \
        str(raised.value)
    with pytest.raises(ConfigError, match="token: expected a string of at least 16"):
        DashboardConfig(token="short")
    assert DashboardConfig(host="0.0.0.0", token=TOKEN).host == "0.0.0.0"
    path = tmp_path / "config.toml"
    path.write_text('[dashboard]\nhost = "192.0.2.10"\n')
    with pytest.raises(ConfigError, match=r"\[dashboard\] token"):
        load_config(path)


def test_with_a_token_every_page_and_call_needs_it_and_no_page_or_log_shows_it(
        broker, tmp_path, caplog):
    password = "mqtt-password-never-shown"
    config = config_for(broker, tmp_path, "tokened", host="0.0.0.0", token=TOKEN)
    config = dataclasses.replace(config, mqtt=dataclasses.replace(
        config.mqtt, username="u", password=password))
    seen: list[str] = []
    with caplog.at_level(logging.DEBUG), client_of(config) as client:
        for path in ("/", "/history", "/api/snapshot", "/history/csv.zip"):
            answer = client.get(path, follow_redirects=False)
            assert answer.status_code in (303, 401), path
        assert client.get("/").url.path == "/login"
        assert client.post("/api/ack", json={}).status_code == 401
        wrong = client.post("/login?next=/history", data={"token": "wrong-token-000000000"},
                            follow_redirects=False)
        assert wrong.status_code == 401 and "not the token" in wrong.text
        right = client.post("/login?next=/history", data={"token": TOKEN},
                            follow_redirects=False)
        assert right.status_code == 303 and right.headers["location"] == "/history"
        cookie = right.cookies["legwake_session"]
        assert TOKEN not in cookie
        assert "httponly" in right.headers["set-cookie"].lower()
        assert "samesite=strict" in right.headers["set-cookie"].lower()
        for path in ("/", "/history", "/login"):
            page = client.get(path)
            assert page.status_code == 200, path
            seen.append(page.text)
        # Somewhere else to go after signing in is not taken.
        away = client.post("/login?next=//evil.example/", data={"token": TOKEN},
                           follow_redirects=False)
        assert away.headers["location"] == "/"
        # A script uses the bearer token; a page of another site cannot post.
        client.cookies.clear()
        bearer = client.get("/api/snapshot", headers={"Authorization": f"Bearer {TOKEN}"})
        assert bearer.status_code == 200
        seen.append(bearer.text)
        crossing = client.post("/api/ack", json={}, headers={
            "Authorization": f"Bearer {TOKEN}", "Origin": "http://evil.example"})
        assert crossing.status_code == 403
        client.post("/logout")
    for text in [*seen, caplog.text]:
        assert TOKEN not in text
        assert password not in text


def test_the_service_worker_manifest_and_icons_are_served_without_signing_in(broker, tmp_path):
    config = config_for(broker, tmp_path, "installs", token=TOKEN)
    with client_of(config) as client:
        worker = client.get("/sw.js")
        assert worker.status_code == 200
        assert worker.headers["content-type"].startswith("text/javascript")
        assert worker.headers["service-worker-allowed"] == "/"
        assert "notificationclick" in worker.text and "credentials" in worker.text
        manifest = client.get("/manifest.webmanifest")
        assert manifest.headers["content-type"].startswith("application/manifest+json")
        body = manifest.json()
        assert (body["short_name"], body["display"], body["start_url"]) == \
            ("legwake", "standalone", "/")
        sizes = {}
        for icon in body["icons"]:
            image = client.get(icon["src"])
            assert image.status_code == 200 and image.headers["content-type"] == icon["type"]
            if icon["type"] == "image/png":  # its IHDR: width and height, big-endian
                assert image.content.startswith(b"\x89PNG\r\n\x1a\n")
                width, height = struct.unpack(">II", image.content[16:24])
                sizes[icon["sizes"]] = f"{width}x{height}"
        assert sizes == {"192x192": "192x192", "512x512": "512x512"}
        # The page itself still asks to sign in; once signed in it links all of it.
        assert client.get("/", follow_redirects=False).status_code == 303
        client.post("/login", data={"token": TOKEN})
        page = client.get("/").text
        assert '<link rel="manifest" href="/manifest.webmanifest">' in page
        assert f'<meta name="theme-color" content="{body["theme_color"]}"' in page
        assert 'id="notify"' in page and 'aria-live="polite"' in page


# --- the history view (of office_log, tests/conftest.py) ----------------------------------


def test_the_history_view_shows_the_reports_charts_for_a_desk_and_range(dashboard_history):
    history = dashboard_history
    page = history.get("/history", params={"desk": "desk-1", "from": "2026-11-16",
                                           "to": "2026-11-17"})
    assert page.status_code == 200
    text = page.text
    assert text.count('src="data:image/png;base64,') == 5
    assert 'id="summary"' in text and "2 days" in text
    assert '<option value="desk-2"' in text and 'value="desk-1" selected' in text
    assert 'href="/history/csv/daily.csv?from=2026-11-16&amp;to=2026-11-17&amp;desk=desk-1"' \
        in text
    # Without a range: the last DEFAULT_DAYS days up to the last day with data.
    default = history.get("/history")
    assert default.status_code == 200
    assert 'name="to" value="2026-11-17"' in default.text
    assert 'name="from" value="2026-11-11"' in default.text


def test_the_history_downloads_are_the_reports_tables(dashboard_history):
    history = dashboard_history
    params = {"desk": "desk-1", "from": "2026-11-16", "to": "2026-11-16"}
    daily = history.get("/history/csv/daily.csv", params=params)
    assert daily.status_code == 200
    assert daily.headers["content-type"].startswith("text/csv")
    assert "legwake-desk-1-2026-11-16-2026-11-16-daily.csv" in \
        daily.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(daily.text)))
    assert [r["day"] for r in rows] == ["2026-11-16"]
    assert int(rows[0]["seated_s"]) > 3600
    bundle = history.get("/history/csv.zip", params=params)
    names = zipfile.ZipFile(io.BytesIO(bundle.content)).namelist()
    assert {"daily.csv", "postures.csv", "alerts.csv", "nerve_load.csv"} <= set(names)
    missing = history.get("/history/csv/secrets.csv", params=params)
    assert missing.status_code == 404 and "daily" in missing.json()["error"]


@pytest.mark.parametrize(("params", "status", "says"), [
    ({"from": "2026-13-01"}, 400, "from: expected a date YYYY-MM-DD"),
    ({"from": "2026-11-18", "to": "2026-11-16"}, 400, "starts (2026-11-18) after it ends"),
    ({"from": "2025-01-01", "to": "2025-01-02"}, 200, "no minutes logged from 2025-01-01"),
    ({"desk": "desk-7"}, 200, "no minutes logged"),
])
def test_the_history_view_explains_a_range_it_cannot_show(dashboard_history, params, status,
                                                          says):
    page = dashboard_history.get("/history", params=params)
    assert page.status_code == status
    assert says in page.text
    assert 'id="problem"' in page.text


def test_the_history_view_without_a_log_yet(broker, tmp_path):
    with client_of(config_for(broker, tmp_path, "nolog")) as client:
        page = client.get("/history")
    assert page.status_code == 200
    assert "no log yet" in page.text and "first minute" in page.text


def test_a_dashboard_opened_late_shows_the_days_alerts_from_the_log(broker, tmp_path):
    path = tmp_path / "legwake.db"
    store = Store(str(path))
    start = datetime.now(UTC).replace(microsecond=0)
    store.record(workday(start.replace(hour=0, minute=0, second=0), hours=1, seed=8))
    store.close()
    with client_of(config_for(broker, tmp_path, "late")) as client:
        alerts = client.get("/api/snapshot").json()["alerts"]
    assert alerts, "the log's alerts of the last day"
    assert all(a["desk"] == "office/desk-1" for a in alerts)
    times = [a["time"] for a in alerts]
    assert times == sorted(times, reverse=True)
