"""The dashboard against what an attacker tries: another site's name in the Host header
(DNS rebinding), days at the ends of the calendar, thousands of made-up desks, payloads
made to break the MQTT pump, error pages that would show the server's layout; and the
fleet's payload reader fuzzed with hypothesis. The app runs on a real Mosquitto and a real
log, as in tests/test_dashboard.py (its set-up: tests/dashboard_app.py)."""

from __future__ import annotations

import json
import logging
import shutil
import sqlite3
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dashboard.app import HERE
from dashboard.fleet import TOPIC_KINDS, DeskKey, Fleet
from edge.config import ConfigError, DashboardConfig, load_config
from edge.processes import free_port
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
from tests.mosquitto import Subscriber
from tests.running import start, stop, wait_http

REBOUND = "attacker.example:8080"  # a page of attacker.example, its name rebound to us
REFUSED = "Invalid host header"


# --- the Host header -------------------------------------------------------------------------


def test_another_sites_name_in_the_host_header_is_refused_on_every_path(broker, tmp_path):
    with client_of(config_for(broker, tmp_path, "hosts")) as client:
        for method, path in (("GET", "/"), ("GET", "/api/snapshot"), ("GET", "/api/stream"),
                             ("POST", "/api/snooze"), ("GET", "/history"),
                             ("GET", "/history/csv.zip"), ("GET", "/login"),
                             ("GET", "/static/live.js"), ("GET", "/healthz"),
                             ("GET", "/sw.js"), ("GET", "/manifest.webmanifest"),
                             ("POST", "/api/pause"),
                             ("GET", "/no/such/page")):
            answer = client.request(method, path, headers={"Host": REBOUND},
                                    json={"desk": "office/desk-1", "minutes": 15})
            assert (answer.status_code, answer.text) == (400, REFUSED), path
        refused = {host: client.get("/api/snapshot", headers={"Host": host}).status_code
                   for host in ("attacker.example", "localhost.attacker.example",
                                "127.0.0.1.nip.io", "0.0.0.0:8080", "[::]:8080",
                                "[::ffff:127.0.0.1]", "127.1", "localhost.", "",
                                "localhost:8080@attacker.example", "[::1")}
        assert refused == dict.fromkeys(refused, 400)
        # The loopback names, with or without a port, in any case.
        allowed = {host: client.get("/api/snapshot", headers={"Host": host}).status_code
                   for host in ("localhost", "localhost:8080", "LocalHost:1", "127.0.0.1",
                                "127.0.0.1:8080", "[::1]", "[::1]:8080")}
        assert allowed == dict.fromkeys(allowed, 200)
        assert client.get("/healthz", headers={"Host": "localhost:8080"}).status_code == 200


def test_the_host_check_comes_before_the_token_gate(broker, tmp_path):
    config = config_for(broker, tmp_path, "hosts", host="0.0.0.0", token=TOKEN)
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    with client_of(config) as client:
        # Listening on every address names no host: only the loopback names pass.
        for host in (REBOUND, "0.0.0.0:8080"):
            assert client.get("/", headers={"Host": host}, follow_redirects=False
                              ).status_code == 400
            assert client.get("/api/snapshot", headers={"Host": host, **bearer}
                              ).status_code == 400
        assert client.get("/", follow_redirects=False).status_code == 303  # to /login
        assert client.get("/api/snapshot").status_code == 401
        assert client.get("/api/snapshot", headers=bearer).status_code == 200


def test_allowed_hosts_and_the_configured_host_are_answered_and_nothing_like_them(
        broker, tmp_path):
    config = config_for(broker, tmp_path, "hosts", host="192.0.2.7", token=TOKEN,
                        allowed_hosts=["Dash.Example.org", "192.0.2.10", "[2001:DB8::5]"])
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    with client_of(config) as client:
        answers = {host: client.get("/api/snapshot", headers={"Host": host, **bearer}
                                    ).status_code
                   for host in ("dash.example.org", "DASH.EXAMPLE.ORG:8443", "192.0.2.10:80",
                                "[2001:db8::5]:8080", "192.0.2.7:8080", "localhost:8080",
                                "www.dash.example.org", "evil.dash.example.org",
                                "dash.example.org.attacker.example", "dash.example",
                                "192.0.2.1", "[2001:db8::6]", REBOUND)}
    assert answers == {**dict.fromkeys(list(answers)[:6], 200),
                       **dict.fromkeys(list(answers)[6:], 400)}


def test_allowed_hosts_are_host_names_or_addresses_without_port_or_wildcard(tmp_path):
    assert DashboardConfig(allowed_hosts=["Dash.Example.org", "[2001:DB8:0::5]", "192.0.2.10"]
                           ).allowed_hosts == ("dash.example.org", "2001:db8::5", "192.0.2.10")
    for bad in (["*"], ["*.example.org"], ["dash.example.org:8080"], ["http://dash.example"],
                ["0.0.0.0"], ["::"], ["-dash.example"], ["dash..example"], ["300.1.2.3"],
                [""], [8080], ["dash example"]):
        with pytest.raises(ConfigError, match="allowed_hosts: expected each a host name"):
            DashboardConfig(allowed_hosts=bad)
    with pytest.raises(ConfigError, match="allowed_hosts: expected a list of host names"):
        DashboardConfig(allowed_hosts="dash.example.org")  # type: ignore[arg-type]
    path = tmp_path / "config.toml"
    path.write_text('[dashboard]\nallowed_hosts = ["legwake.example.org", "::1", "*"]\n')
    with pytest.raises(ConfigError, match=r'\[dashboard\] allowed_hosts: .* got "\*"'):
        load_config(path)
    path.write_text('[dashboard]\nallowed_hosts = ["legwake.example.org"]\nmax_desks = 0\n')
    with pytest.raises(ConfigError, match=r"\[dashboard\] max_desks: expected an integer "
                                          r"1\.\.100000, got 0"):
        load_config(path)


# --- days at the ends of the calendar ----------------------------------------------------------


@pytest.mark.parametrize("params", [
    {"from": "0001-01-01"}, {"to": "9999-12-31"}, {"from": "0001-01-01", "to": "9999-12-31"},
    {"from": "1999-12-31", "to": "2000-01-02"}, {"to": "2101-01-01"},
])
def test_a_day_out_of_range_is_a_400_with_the_reason_on_the_page_and_the_downloads(
        dashboard_history, params):
    says = "expected a day from 2000-01-01 to 2100-12-31"
    page = dashboard_history.get("/history", params=params)
    assert page.status_code == 400
    assert 'id="problem"' in page.text and says in page.text
    for path in ("/history/csv.zip", "/history/csv/daily.csv"):
        download = dashboard_history.get(path, params=params)
        assert download.status_code == 400, path
        assert says in download.json()["error"]


@pytest.mark.parametrize(("params", "says"), [
    ({"from": "2000-01-01", "to": "2000-01-07"}, "no minutes logged from 2000-01-01 to 2000-01-07"),
    ({"from": "2100-12-31"}, "no minutes logged from 2100-12-31 to 2100-12-31"),
    ({"to": "2000-01-03"}, "no minutes logged from 2000-01-01 to 2000-01-03"),
])
def test_the_first_and_last_days_allowed_are_shown(dashboard_history, params, says):
    page = dashboard_history.get("/history", params=params)
    assert page.status_code == 200
    assert says in page.text


def test_the_whole_range_allowed_shows_the_report(dashboard_history):
    whole = dashboard_history.get("/history", params={"from": "2000-01-01", "to": "2100-12-31"})
    assert whole.status_code == 200 and 'id="summary"' in whole.text


def test_a_log_with_a_minute_forged_in_year_9999_still_shows(broker, tmp_path, office_log):
    """The collector logs minutes from the broker: one dated 9999-12-31 makes the last day
    with data the last day of the calendar, and the default range is cut at LAST_DAY."""
    forged = tmp_path / "forged.db"
    shutil.copy(office_log, forged)
    with sqlite3.connect(forged) as conn:
        conn.execute("UPDATE minutes SET minute_utc = '9999-12-31T12:00:00.000Z'"
                     " WHERE rowid = (SELECT max(rowid) FROM minutes)")
    conn.close()
    with client_of(config_for(broker, tmp_path, "forged", db=str(forged))) as client:
        page = client.get("/history")
        assert page.status_code == 200
        assert "no minutes logged from 2100-12-25 to 2100-12-31" in page.text
        assert client.get("/history/csv.zip").status_code == 404


# --- thousands of made-up desks --------------------------------------------------------------


def test_beyond_max_desks_the_desk_silent_the_longest_goes_with_its_alerts(caplog):
    fleet = Fleet("legwake", max_desks=3)
    for n in range(3):
        feed(fleet, "state", STATE, now=n, desk=f"office/d{n}")
    feed(fleet, "alert", {**ALERT, "id": "a0"}, now=3, desk="office/d0")  # d0 heard again
    feed(fleet, "status", "online", now=4, desk="office/d1")  # d1 too: d2 is the silent one
    [removed, added] = feed(fleet, "state", STATE, now=5, desk="office/d3")
    assert removed == {"removed": {"desk": "office/d2", "alerts": []}}
    assert added["desk"]["key"] == "office/d3"
    # d0 is now the one heard from longest ago: it goes, and its alert leaves the feed.
    [removed, added] = feed(fleet, "status", "online", now=6, desk="office/d4")
    assert removed == {"removed": {"desk": "office/d0", "alerts": ["office/d0/a0"]}}
    snapshot = fleet.snapshot()
    assert [d["key"] for d in snapshot["desks"]] == ["office/d1", "office/d3", "office/d4"]
    assert snapshot["alerts"] == []
    assert not fleet.has_desk(DeskKey("office", "d0"))
    assert not fleet.has_alert(DeskKey("office", "d0"), "a0")
    assert (fleet.evicted, fleet.desk_count) == (2, 3)
    # Messages for what was evicted change nothing; the desk itself may come back.
    assert feed(fleet, "cmd/ack", {"id": "a0"}, desk="office/d0") == []
    [removed, back] = feed(fleet, "state", STATE, now=7, desk="office/d0")
    assert removed["removed"]["desk"] == "office/d1" and back["desk"]["key"] == "office/d0"
    # A refused message makes no desk, and so evicts none.
    assert feed(fleet, "alert", {"id": "", "kind": "nap"}, desk="office/d9") == []
    assert fleet.evicted == 3

    # Logged by the tick, one line for a burst, then at most once a minute with the count.
    with caplog.at_level(logging.WARNING, logger="dashboard.fleet"):
        fleet.tick(10.0)
        fleet.tick(11.0)
        for n in range(50):
            feed(fleet, "state", STATE, now=12.0, desk=f"office/flood-{n}")
        fleet.tick(12.0)
        fleet.tick(69.0)
        fleet.tick(70.0)
        fleet.tick(200.0)
    lines = [r.getMessage() for r in caplog.records if "max_desks" in r.getMessage()]
    assert len(lines) == 2, lines
    assert "3 desk(s) silent the longest" in lines[0] and "(3 since the start)" in lines[0]
    assert "50 desk(s)" in lines[1] and "(53 since the start)" in lines[1]
    assert fleet.desk_count == 3


def test_600_desks_on_the_broker_leave_the_newest_500_and_healthz_counts_the_rest(
        broker, tmp_path, caplog):
    with caplog.at_level(logging.WARNING), \
            live_dashboard(broker, tmp_path, max_desks=500) as (client, desk, prefix):
        state = json.dumps(STATE)
        for n in range(600):
            desk.publish(f"{prefix}/fake/d{n:03}/state", state)
        health = wait_until(lambda: (h := client.get("/healthz").json())["desks_evicted"]
                            == 100 and h, what="100 desks evicted")
        assert health["desks"] == 500 and health["ok"] is True
        keys = [d["key"] for d in client.get("/api/snapshot").json()["desks"]]
        assert keys == [f"fake/d{n:03}" for n in range(100, 600)]
        wait_until(lambda: "no longer followed" in caplog.text, what="the eviction logged")
    assert len([r for r in caplog.records if "max_desks" in r.getMessage()]) == 1


def test_the_page_drops_a_desk_the_dashboard_stopped_following(broker, browser, tmp_path):
    """The whole way: fleet -> event stream -> live.js removes the desk and its alert."""
    port = free_port()
    config = tmp_path / "config.toml"
    config.write_text(f'[mqtt]\nhost = "{broker.host}"\nport = {broker.port}\n'
                      f'topic_prefix = "evict"\noutbox_path = "{tmp_path / "outbox.db"}"\n'
                      f'[log]\npath = "{tmp_path / "legwake.db"}"\n'
                      f"[dashboard]\nport = {port}\nmax_desks = 2\n")
    dashboard = start(["dashboard", "--config", str(config)], tmp_path, "dashboard")
    try:
        wait_http(f"http://127.0.0.1:{port}/healthz", dashboard, tmp_path / "dashboard.log")
        with Subscriber(broker, []) as desk:
            browser.get(f"http://127.0.0.1:{port}/")
            desk.publish("evict/office/desk-a/state", json.dumps(STATE))
            desk.publish("evict/office/desk-a/alert", json.dumps(ALERT))
            desk.publish("evict/office/desk-b/state", json.dumps(STATE))
            shown = "[...document.querySelectorAll('.desk')].map((d) => d.dataset.desk).join()"
            alerts = "document.querySelectorAll('li.alert').length"
            wait_until(lambda: browser.execute_script(f"return {shown}")
                       == "office/desk-a,office/desk-b" and browser.execute_script(
                           f"return {alerts}") == 1, what="two desks and an alert")
            desk.publish("evict/office/desk-c/state", json.dumps(STATE))
            wait_until(lambda: browser.execute_script(f"return {shown}")
                       == "office/desk-b,office/desk-c", what="desk-a gone from the page")
            assert browser.execute_script(f"return {alerts}") == 0
            assert browser.execute_script(
                "return document.getElementById('no-alerts').hidden") is False
    finally:
        stop(dashboard)
    assert dashboard.returncode == 0, (tmp_path / "dashboard.log").read_text()


# --- payloads made to break the pump -----------------------------------------------------------


POISON = [
    ("state", b"[" * 3000),  # json.loads: RecursionError, which killed the pump before
    ("state", b'{"posture": "upright", "sites": ' + b"[" * 3000 + b"]" * 3000 + b"}"),
    ("alert", b"{" + b'"a":{' * 2000 + b"}" * 2001),
    ("cmd/snooze", b'{"minutes": ' + b"[" * 5000 + b"}"),
    ("state", b"\xff\xfe\xfd not UTF-8"),
    ("status", b"\xc3\x28"),
    ("state", json.dumps({**STATE, "padding": "x" * (1 << 20)}).encode()),  # 1 MB
    ("event", b"1" * 5000),  # an integer longer than Python reads
    ("state", b""),
]


def test_the_pump_survives_poison_and_the_next_good_message_still_counts(broker, tmp_path):
    with live_dashboard(broker, tmp_path) as (client, desk, prefix):
        base = f"{prefix}/office/desk-1"
        for kind, payload in POISON:
            desk.publish(f"{base}/{kind}", payload)
        desk.publish(f"{base}/state", json.dumps({**STATE, "posture": "slouched"}))
        wait_until(lambda: (d := client.get("/api/snapshot").json()["desks"]) and
                   d[0]["state"]["posture"] == "slouched", what="the good state")
        health = client.get("/healthz")
        assert health.status_code == 200
        body = health.json()
        assert body["messages_refused"] == len(POISON)
        assert body["messages_failed"] == 0
        assert body["restarts"] == {"MQTT pump": 0, "stale tick": 0}


def test_a_pump_that_stops_anyway_starts_again_and_healthz_is_503_meanwhile(
        broker, tmp_path, caplog):
    """Nothing a message holds stops the pump any more, so it is stopped from outside here:
    its task cancelled, as a bug past the per-message guard would end it."""
    with caplog.at_level(logging.INFO), \
            live_dashboard(broker, tmp_path) as (client, desk, prefix):
        [pump] = [task for task in client.app.state.supervised if task.name == "MQTT pump"]
        client.portal.call(pump.task.cancel)
        down = wait_until(lambda: (h := client.get("/healthz")).status_code == 503 and h,
                          timeout=2, what="503")
        assert down.json()["ok"] is False
        assert down.json()["reason"] == "the MQTT pump stopped: starting again"
        desk.publish(f"{prefix}/office/desk-1/state", json.dumps(STATE))  # waits meanwhile
        up = wait_until(lambda: (h := client.get("/healthz")).status_code == 200 and h,
                        timeout=5, what="the pump again")
        assert up.json()["restarts"]["MQTT pump"] == 1
        wait_until(lambda: client.get("/api/snapshot").json()["desks"], what="the state")
    assert "the dashboard's MQTT pump stopped (cancelled); starting it again in 1 s" \
        in caplog.text


def test_a_broker_outage_is_no_503(make_broker, tmp_path):
    """The dashboard still serves (history, the picture it has) and reconnects by itself: a
    load balancer should not take it out for that."""
    broker = make_broker()
    with client_of(config_for(broker, tmp_path, "outage")) as client:
        wait_until(lambda: client.get("/healthz").json()["broker_connected"], what="broker")
        broker.stop()
        health = wait_until(lambda: not (h := client.get("/healthz")).json()[
            "broker_connected"] and h, what="the loss")
        assert health.status_code == 200 and health.json()["ok"] is True


# --- what error pages show -------------------------------------------------------------------


def no_server_layout(text: str, *places: Path) -> bool:
    return "Traceback" not in text and not any(str(p) in text for p in (HERE, *places))


def test_history_errors_show_no_path_to_the_log(broker, tmp_path, caplog):
    hidden = tmp_path / "srv" / "legwake-data"
    hidden.mkdir(parents=True)
    logs = {"missing": hidden / "legwake.db", "garbage": hidden / "garbage.db",
            "empty": hidden / "empty.db"}
    logs["garbage"].write_bytes(b"not a database at all\n" * 100)
    with sqlite3.connect(logs["empty"]) as conn:
        conn.execute("CREATE TABLE other (x)")
    conn.close()
    expected = {"missing": (200, 404, "no log yet"),
                "garbage": (400, 400, "the log: not a legwake log"),
                "empty": (400, 400, "the log: not a legwake log (no alerts")}
    for name, (page_status, download_status, says) in expected.items():
        config = config_for(broker, tmp_path, f"paths{name}", db=str(logs[name]))
        with caplog.at_level(logging.INFO), client_of(config) as client:
            page = client.get("/history")
            download = client.get("/history/csv.zip")
        assert (page.status_code, download.status_code) == (page_status, download_status), name
        assert says in page.text and says in download.json()["error"], name
        assert no_server_layout(page.text + download.text, hidden, tmp_path), name
        assert str(logs[name]) in caplog.text, name  # the server's log says where
        caplog.clear()


def test_a_damaged_log_is_a_400_without_its_path(broker, tmp_path, office_log):
    damaged = tmp_path / "srv" / "damaged.db"
    damaged.parent.mkdir()
    data = bytearray(office_log.read_bytes())
    data[4096:len(data) - 4096] = b"\x5a" * (len(data) - 8192)  # every page but the first two
    damaged.write_bytes(bytes(data))
    with client_of(config_for(broker, tmp_path, "damaged", db=str(damaged))) as client:
        page = client.get("/history")
        download = client.get("/history/csv/daily.csv", params={"from": "2026-11-16"})
    assert page.status_code == 400 and download.status_code == 400
    assert "the log cannot be read" in page.text or "not a legwake log" in page.text
    assert no_server_layout(page.text + download.text, damaged, tmp_path)


def test_404s_and_405s_do_not_echo_the_path_or_show_the_servers_layout(dashboard_history):
    client = dashboard_history
    for path in ("/etc/passwd", f"{HERE}/app.py", "/static/../app.py",
                 "/static/%2e%2e/app.py", "/static/nothing-here.js", "/templates/base.html",
                 "/api/nothing/here"):
        answer = client.get(path)
        assert answer.status_code == 404, path
        assert answer.text in ("Not Found", '{"error":"Not Found"}'), (path, answer.text)
    wrong = client.get("/api/ack")
    assert (wrong.status_code, wrong.json()) == (405, {"error": "Method Not Allowed"})
    table = client.get("/history/csv/" + "x" * 500 + ".csv", params={"from": "2026-11-16"})
    assert table.status_code == 404
    assert table.json()["error"].startswith(f"no table '{'x' * 40}'; tables: daily")


# --- the fleet's payload reader, fuzzed --------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                 max_size=4),
    max_leaves=20)
near_valid = st.one_of(
    st.builds(lambda extra: {**STATE, **extra},
              st.dictionaries(st.sampled_from(sorted(STATE)), json_values, max_size=3)),
    st.builds(lambda extra: {**ALERT, **extra},
              st.dictionaries(st.sampled_from(sorted(ALERT)), json_values, max_size=2)),
    st.builds(lambda minutes, alert_id: {"minutes": minutes, "id": alert_id},
              json_values, st.sampled_from([ALERT["id"], "a0", "", 5])),
    st.builds(lambda **fields: {"event": "outcome", **fields}, alert_id=json_values,
              acknowledged=json_values, moved=json_values),
)
deep = st.builds(lambda opener, depth, tail: opener * depth + tail,
                 st.sampled_from([b"[", b"{", b'{"a":', b'{"posture":"upright","sites":[']),
                 st.integers(1, 6000), st.sampled_from([b"", b"]", b"}", b"1"]))
payloads = st.one_of(st.binary(max_size=300), deep,
                     (json_values | near_valid).map(lambda v: json.dumps(v).encode()),
                     st.sampled_from([b"online", b"offline", b" online\n", b"NaN"]))
topics = st.one_of(
    st.builds("legwake/{}/{}/{}".format, st.sampled_from(["office", "lab"]),
              st.sampled_from(["d0", "d1", "d2", "d3"]),
              st.sampled_from([*TOPIC_KINDS, "minute", "cmd/other", "cmd", ""])),
    st.text(max_size=40), st.builds("legwake/{}".format, st.text(max_size=20)))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(topics, payloads, st.floats(0, 1e6)), max_size=12))
def test_the_fleet_takes_any_message_on_any_topic_without_raising(messages):
    fleet = Fleet("legwake", alerts_kept=10, max_desks=3)
    for topic, payload, now in messages:
        for update in fleet.message(topic, payload, now):
            assert len(update) == 1 and next(iter(update)) in ("desk", "alert", "removed")
        fleet.tick(now)
    assert fleet.desk_count <= 3
    json.dumps(fleet.snapshot())  # what the page's stream sends


@pytest.mark.parametrize("state", [
    b'{"posture": "upright", "sites": {}, "confidence": NaN}',
    b'{"posture": "upright", "sites": {}, "message": "\\ud800"}',
])
def test_what_the_fleet_keeps_is_strict_json(broker, tmp_path, state):
    with live_dashboard(broker, tmp_path) as (client, desk, prefix):
        desk.publish(f"{prefix}/office/desk-1/state", state)
        desk.publish(f"{prefix}/office/desk-2/status", "online")  # after it, in order
        wait_until(lambda: (h := client.get("/healthz").json())["desks"]
                   + h["messages_refused"] == 2, what="both messages")
        answer = client.get("/api/snapshot")
        assert answer.status_code == 200
        json.dumps(answer.json(), allow_nan=False).encode("utf-8")

