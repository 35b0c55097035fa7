"""The ergonomist's report (`legwake report`): its numbers against the messages that
made the log, the HTML self-contained and readable in a browser, the CSV files, the
errors. The log is built with `Store.record` from realistic office days."""

from __future__ import annotations

import csv
import hashlib
import math
import re
import statistics
import time
from collections import Counter, defaultdict
from datetime import UTC, date, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from edge import report_plots
from edge.cli import main
from edge.estimate.labels import SEATED, SITES
from edge.report import ReportData, counted, duration, load_report, render_html, tables
from edge.store import Message, Store
from edge.timefmt import iso_utc
from tests.browser import ARTIFACTS, broken_images, full_page_screenshot
from tests.sittings import workday

DESK_1_DAYS = (datetime(2026, 11, 23, 8, 0, tzinfo=UTC), datetime(2026, 11, 24, 8, 30, tzinfo=UTC))
DESK_2_DAY = datetime(2026, 11, 24, 9, 15, tzinfo=UTC)


def office_messages():
    """Desk 1 on two days (the last alert still awaiting its outcome), desk 2 on one."""
    messages = []
    for number, start in enumerate(DESK_1_DAYS):
        messages += workday(start, hours=3, seed=11 + number,
                            pending_last=number == len(DESK_1_DAYS) - 1)
    messages += workday(DESK_2_DAY, hours=2, desk="desk-2", person="p-4", seed=31,
                        lose_sensor=False)
    return messages + feedback_messages()


FEEDBACK = (  # desk 1: a false alarm, the left leg asleep, then a report that taught nothing
    (DESK_1_DAYS[0] + timedelta(hours=1), False, "left", (1.0, 0.88)),
    (DESK_1_DAYS[1] + timedelta(hours=1), True, "left", (0.88, 1.31)),
    (DESK_1_DAYS[1] + timedelta(hours=2), True, "right", (1.31, 1.31)),
)


def feedback_messages() -> list[Message]:
    session = DESK_1_DAYS[0].strftime("%Y%m%dT%H%M%S000000Z")
    out = []
    for n, (at, numb, leg, (before, after)) in enumerate(FEEDBACK, start=1):
        out.append(Message("event", "office", "desk-1", {
            "t": 3600.0 * n, "event": "feedback", "numb": numb, "leg": leg,
            "alert_id": None if numb else f"{session}-1", "learned": before != after,
            "reason": None if before != after else "no loaded nerve in that leg before the"
            " report", "sensitivity_before": before, "sensitivity": after,
            "sensitivity_low": round(after * 0.8, 3), "sensitivity_high": round(after * 1.2, 3),
            "reports": n - (before == after), "id": f"{session}-f{n}", "time": iso_utc(at)}))
    return out


@pytest.fixture(scope="module")
def messages():
    return office_messages()


@pytest.fixture(scope="module")
def log(tmp_path_factory, messages) -> Path:
    path = tmp_path_factory.mktemp("report") / "legwake.db"
    with Store(path) as store:
        # In two batches, as the agent writes a feed at a time.
        half = len(messages) // 2
        assert store.record(messages[:half]) + store.record(messages[half:]) == len(messages)
    return path


@pytest.fixture(scope="module")
def rendered(log, tmp_path_factory):
    """The report of desk 1 written by the command, with its CSV files."""
    out = tmp_path_factory.mktemp("out")
    digest = hashlib.sha256(log.read_bytes()).hexdigest()
    result = CliRunner().invoke(main, ["report", "--db", str(log), "--desk", "desk-1",
                                       "--out", str(out / "report.html"),
                                       "--csv", str(out / "csv")])
    assert result.exit_code == 0, result.output
    assert hashlib.sha256(log.read_bytes()).hexdigest() == digest, "the report wrote to the log"
    return out, result.output


def local_day(utc_text: str) -> date:
    return datetime.fromisoformat(utc_text).astimezone().date()


def of_desk(messages, kind: str, desk: str = "desk-1"):
    return [m.payload for m in messages if m.kind == kind and m.desk == desk]


# --- the numbers against the messages ---------------------------------------------------------


def test_daily_sitting_time_is_the_sum_of_seated_seconds(log, messages):
    data = load_report(log, desk="desk-1")
    seated: Counter[date] = Counter()
    for minute in of_desk(messages, "minute"):
        seated[local_day(minute["minute"])] += minute["occupied_s"]
    assert {d.day: d.occupied_s for d in data.days} == dict(seated)
    assert data.occupied_s == sum(seated.values())
    assert (data.start, data.end) == (min(seated), max(seated))
    assert data.desks == ("office/desk-1",)


def test_breaks_and_the_longest_sitting_stretch_per_day(log, messages):
    data = load_report(log, desk="desk-1")
    events = of_desk(messages, "event")
    breaks = Counter(local_day(e["time"]) for e in events
                     if e["event"] == "break" and e["phase"] == "start")
    assert {d.day: d.breaks for d in data.days} == {d.day: breaks[d.day] for d in data.days}
    assert data.breaks == sum(breaks.values()) > 0
    # Sitting between the agent's breaks, from the first to the end of the last seated minute.
    break_starts = sorted(datetime.fromisoformat(e["time"]) for e in events
                          if e["event"] == "break" and e["phase"] == "start")
    seated = [datetime.fromisoformat(m["minute"]) for m in of_desk(messages, "minute")
              if m["occupied_s"] > 0]
    longest: Counter[date] = Counter()
    first = previous = seated[0]
    for minute in seated:
        if any(previous < moment <= minute for moment in break_starts) \
                or (minute - previous).total_seconds() > 360:
            first = minute
        previous = minute
        day = first.astimezone().date()
        longest[day] = max(longest[day], int((minute - first).total_seconds()) + 60)
    assert {d.day: d.longest_sitting_s for d in data.days} == dict(longest)
    assert all(0 < d.longest_sitting_s < 4 * 3600 for d in data.days)


def test_posture_shares_of_seated_time(log, messages):
    data = load_report(log, desk="desk-1")
    seconds: Counter[str] = Counter()
    for minute in of_desk(messages, "minute"):
        seconds.update(minute["postures"])
    seated = sum(s for p, s in seconds.items() if p in SEATED)
    assert {p.posture for p in data.postures} == SEATED
    for share in data.postures:
        assert share.seconds == seconds[share.posture]
        assert share.share == pytest.approx(seconds[share.posture] / seated)
    assert sum(p.share for p in data.postures) == pytest.approx(1.0)
    assert data.standing_s == seconds["standing"]


def test_the_feedback_and_the_sensitivity_it_taught(log):
    [desk] = load_report(log, desk="desk-1").feedback
    assert (desk.numb_left, desk.numb_right, desk.false_alarms, desk.untaught) == (1, 1, 1, 1)
    assert (desk.sensitivity, desk.reports) == (1.31, 2)
    assert (desk.sensitivity_low, desk.sensitivity_high) == (1.048, 1.572)
    assert [k for _, k, _, _ in desk.history] == [0.88, 1.31, 1.31]
    assert load_report(log, desk="desk-2").feedback == ()
    data = load_report(log)
    html = render_html(data)
    assert 'id="feedback"' in html and "1.31" in html
    assert tables(data)["feedback"].rows == (
        ("office/desk-1", 1, 1, 1, 1, 1.31, 1.048, 1.572, 2),)


def test_alert_counts_and_outcomes(log, messages):
    data = load_report(log, desk="desk-1")
    alerts = {a["id"]: a for a in of_desk(messages, "alert")}
    outcomes = {e["alert_id"]: e for e in of_desk(messages, "event") if e["event"] == "outcome"}
    by_kind = {a.kind: a for a in data.alerts}
    assert list(by_kind) == ["numbness", "break", "all"]
    for kind in ("numbness", "break", "all"):
        ids = [i for i, a in alerts.items() if kind in ("all", a["kind"])]
        done = [outcomes[i] for i in ids if i in outcomes]
        summary = by_kind[kind]
        assert summary.count == len(ids) > 0
        assert summary.moved == sum(o["moved"] for o in done)
        assert summary.acknowledged == sum(o["acknowledged"] for o in done)
        assert summary.snoozed == sum(o["snoozed"] for o in done)
        assert summary.pending == len(ids) - len(done)
        assert summary.no_response == sum(o["responded"] is None for o in done)
        assert (summary.first_moved + summary.first_ack + summary.first_snooze
                + summary.no_response + summary.pending) == summary.count
        responses = [o["response_s"] for o in done if o["response_s"] is not None]
        assert summary.median_response_s == pytest.approx(statistics.median(responses))
    assert by_kind["all"].pending == 1
    assert {d.day: d.alerts for d in data.days} == Counter(
        local_day(a["time"]) for a in alerts.values())


def test_pressure_map_is_the_seated_seconds_weighted_mean(log, messages):
    data = load_report(log, desk="desk-1")
    minutes = [m for m in of_desk(messages, "minute") if m["seat"]["map_mmhg"]]
    weights = np.array([m["seat"]["seconds"] for m in minutes], dtype=float)
    maps = np.array([m["seat"]["map_mmhg"] for m in minutes], dtype=np.float32)
    expected = np.tensordot(weights, maps.astype(float), axes=1) / weights.sum()
    pressure = data.pressure
    assert pressure is not None and pressure.mean_mmhg.shape == (16, 16)
    np.testing.assert_allclose(pressure.mean_mmhg, expected, rtol=1e-9)
    assert pressure.seat_s == weights.sum() and pressure.minutes == len(minutes)
    assert len(pressure.cop_minutes_utc) == len(minutes)
    x, y = pressure.mean_cop_mm
    assert 0 < x < 16 * 28 and 0 < y < 16 * 28


def test_nerve_timeline_per_leg(log, messages):
    data = load_report(log, desk="desk-1")
    minutes = of_desk(messages, "minute")
    assert data.nerve.minutes_utc == tuple(m["minute"] for m in minutes)
    for leg in ("left", "right"):
        peak, ttn = data.nerve.leg(leg)
        sites = [s for s in SITES if s.endswith(leg)]
        for row, minute in enumerate(minutes):
            peaks = [minute["sites"][s]["peak_mmhg"] for s in sites]
            ttns = [minute["sites"][s]["min_ttn_s"] for s in sites]
            known = [p for p in peaks if p is not None]
            assert peak[row] == pytest.approx(max(known)) if known else np.isnan(peak[row])
            heading = [t for t in ttns if t is not None]
            assert ttn[row] == pytest.approx(min(heading)) if heading else np.isnan(ttn[row])
    loads = {s.site: s for s in data.site_loads}
    for site in SITES:
        heading = [m["sites"][site]["min_ttn_s"] for m in minutes
                   if m["sites"][site]["min_ttn_s"] is not None]
        assert loads[site].minutes_heading_to_numbness == len(heading)


def test_device_health_per_sensor(log, messages):
    data = load_report(log, desk="desk-1")
    health = {h.sensor: h for h in data.health}
    assert list(health) == ["mat", "imu_left", "imu_right"]
    minutes = of_desk(messages, "minute")
    for sensor, summary in health.items():
        rows = [m["health"][sensor] for m in minutes]
        assert summary.minutes == len(rows)
        for name in ("bad_packets", "gaps", "lost", "reconnects", "packets"):
            assert getattr(summary, name) == sum(r[name] for r in rows), name
        batteries = [r["battery_pct"] for r in rows if r["battery_pct"] is not None]
        assert summary.lowest_battery_pct == (min(batteries) if batteries else None)
    assert health["imu_right"].dropouts == len(DESK_1_DAYS)
    assert health["imu_right"].reconnects == len(DESK_1_DAYS)


def test_every_desk_without_a_filter_and_one_with(log, messages):
    both = load_report(log)
    assert both.desks == ("office/desk-1", "office/desk-2")
    assert both.occupied_s == sum(m.payload["occupied_s"] for m in messages
                                  if m.kind == "minute")
    only = load_report(log, desk="desk-2")
    assert only.desks == ("office/desk-2",)
    assert only.occupied_s == sum(p["occupied_s"] for p in of_desk(messages, "minute",
                                                                     "desk-2"))
    assert only.all_alerts.count == len(of_desk(messages, "alert", "desk-2"))


def test_a_range_of_days(log):
    first, second = (local_day(d.isoformat()) for d in DESK_1_DAYS)
    data = load_report(log, desk="desk-1", start=second, end=second)
    assert [d.day for d in data.days] == [second]
    assert (data.start, data.end) == (second, second)
    whole = load_report(log, desk="desk-1")
    assert data.occupied_s == whole.days[-1].occupied_s
    assert data.all_alerts.count == whole.days[-1].alerts
    assert load_report(log, desk="desk-1", start=first, end=first).days == whole.days[:1]


@pytest.fixture
def time_zone(monkeypatch):
    """Set the process's local time zone (Python's and SQLite's localtime alike)."""
    def use(name: str) -> None:
        monkeypatch.setenv("TZ", name)
        time.tzset()

    yield use
    monkeypatch.undo()
    time.tzset()


@pytest.mark.parametrize(("zone", "local"), [("America/New_York", date(2026, 11, 25)),
                                              ("Asia/Tokyo", date(2026, 11, 26))])
def test_days_are_local_days(tmp_path, time_zone, zone, local):
    # 22:30 to 01:30 UTC: one evening in New York, one morning in Tokyo, two days in UTC.
    start = datetime(2026, 11, 25, 22, 30, tzinfo=UTC)
    messages = workday(start, hours=3, seed=5)
    with Store(tmp_path / "log.db") as store:
        store.record(messages)
    time_zone(zone)
    data = load_report(tmp_path / "log.db", start=local, end=local)
    assert [d.day for d in data.days] == [local]
    assert data.occupied_s == sum(m.payload["occupied_s"] for m in messages
                                  if m.kind == "minute")
    assert data.all_alerts.count == sum(m.kind == "alert" for m in messages)
    assert len(data.nerve.minutes_utc) == 180
    assert data.timezone.startswith(("EST", "JST"))


# --- the HTML and the CSV files ---------------------------------------------------------------


class Cells(HTMLParser):
    """Each table's rows as {key: [data-value of each cell]}, and every src and href."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, dict[str, list[str | None]]] = defaultdict(dict)
        self.links: list[str] = []
        self.tags: Counter[str] = Counter()
        self._table = self._row = None

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        self.tags[tag] += 1
        self.links += [attributes[a] for a in ("src", "href") if attributes.get(a)]
        if tag == "table":
            self._table = attributes["id"].removeprefix("table-")
        elif tag == "tr" and "data-key" in attributes:
            self._row = self.tables[self._table].setdefault(attributes["data-key"], [])
        elif tag == "td":
            self._row.append(attributes.get("data-value"))


def parsed(out: Path) -> tuple[str, Cells]:
    text = (out / "report.html").read_text(encoding="utf-8")
    cells = Cells()
    cells.feed(text)
    return text, cells


def test_html_is_self_contained(rendered):
    text, cells = parsed(rendered[0])
    assert cells.tags["img"] == 6
    assert cells.tags["script"] == 0 and cells.tags["link"] == 0 and cells.tags["iframe"] == 0
    assert all(link.startswith("data:image/png;base64,") for link in cells.links), cells.links
    assert not re.search(r"(src|href)\s*=\s*[\"']?\s*(https?:)?//", text, re.IGNORECASE)
    assert not re.search(r"url\(|@import", text)


def test_html_shows_the_logs_numbers(rendered, log, messages):
    data = load_report(log, desk="desk-1")
    text, cells = parsed(rendered[0])
    daily = cells.tables["daily"]
    for day in data.days:
        seated = sum(m["occupied_s"] for m in of_desk(messages, "minute")
                     if local_day(m["minute"]) == day.day)
        row = daily[day.day.isoformat()]
        assert int(row[1]) == seated and int(row[3]) == day.breaks
    assert int(cells.tables["alerts"]["all"][1]) == data.all_alerts.count
    assert int(cells.tables["alerts"]["all"][2]) == data.all_alerts.moved
    assert {k: float(v[2]) for k, v in cells.tables["postures"].items()} == pytest.approx(
        {p.posture: p.share for p in data.postures}, abs=1e-6)
    assert data.summary in text
    assert rendered[1].strip().endswith(data.summary)


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def test_csv_files_hold_the_reports_tables(rendered, log):
    data: ReportData = load_report(log, desk="desk-1")
    folder = rendered[0] / "csv"
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        f"{name}.csv" for name in ("daily", "postures", "alerts", "nerve_sites", "health",
                                   "pressure_map", "cop_trace", "nerve_load", "feedback"))
    daily = read_csv(folder / "daily.csv")
    assert [(r["day"], int(r["seated_s"]), int(r["breaks"])) for r in daily] == [
        (d.day.isoformat(), d.occupied_s, d.breaks) for d in data.days]
    postures = read_csv(folder / "postures.csv")
    assert {r["posture"]: int(r["seconds"]) for r in postures} == {
        p.posture: p.seconds for p in data.postures}
    alerts = {r["kind"]: r for r in read_csv(folder / "alerts.csv")}
    assert int(alerts["all"]["alerts"]) == data.all_alerts.count
    assert int(alerts["numbness"]["moved_in_time"]) == data.alerts[0].moved
    cells = read_csv(folder / "pressure_map.csv")
    assert len(cells) == 256
    grid = np.array([float(c["mean_mmhg"]) for c in cells]).reshape(16, 16)
    np.testing.assert_allclose(grid, data.pressure.mean_mmhg, atol=1e-3)
    assert {int(c["contact"]) for c in cells if float(c["mean_mmhg"]) < 5} <= {0}
    nerve = read_csv(folder / "nerve_load.csv")
    assert [r["minute_utc"] for r in nerve] == list(data.nerve.minutes_utc)
    assert all(datetime.fromisoformat(r["minute_local"]).utcoffset() is not None for r in nerve)
    left_peak = [float(r["left_peak_mmhg"]) if r["left_peak_mmhg"] else np.nan for r in nerve]
    np.testing.assert_allclose(left_peak, data.nerve.leg("left")[0])
    health = read_csv(folder / "health.csv")
    assert [(r["sensor"], int(r["bad_packets"])) for r in health] == [
        (h.sensor, h.bad_packets) for h in data.health]


# --- errors -----------------------------------------------------------------------------------


def run_report(*args: str):
    return CliRunner().invoke(main, ["report", *args])


def test_a_missing_log(tmp_path):
    result = run_report("--db", str(tmp_path / "none.db"), "--out", str(tmp_path / "r.html"))
    assert result.exit_code == 2
    assert "none.db" in result.output and "does not exist" in result.output


@pytest.mark.parametrize("bad", ["2026-13-01", "23/11/2026", "yesterday"])
def test_a_bad_date(log, tmp_path, bad):
    result = run_report("--db", str(log), "--from", bad, "--out", str(tmp_path / "r.html"))
    assert result.exit_code == 2
    assert "--from" in result.output and bad in result.output and "%Y-%m-%d" in result.output


def test_a_range_the_wrong_way_round(log, tmp_path):
    result = run_report("--db", str(log), "--from", "2026-11-24", "--to", "2026-11-23",
                        "--out", str(tmp_path / "r.html"))
    assert result.exit_code == 2 and "is after --to" in result.output


def test_no_data_in_the_range_says_which_range(log, tmp_path):
    result = run_report("--db", str(log), "--from", "2026-12-01", "--to", "2026-12-07",
                        "--out", str(tmp_path / "r.html"))
    assert result.exit_code == 2
    assert "no minutes logged from 2026-12-01 to 2026-12-07" in result.output
    assert not (tmp_path / "r.html").exists()
    result = run_report("--db", str(log), "--desk", "desk-9", "--out", str(tmp_path / "r.html"))
    assert result.exit_code == 2
    assert "desk-9" in result.output and "'desk-1', 'desk-2'" in result.output


@pytest.mark.parametrize("content", [b"", b"not a database at all" * 100])
def test_a_file_that_is_not_a_log(tmp_path, content):
    (tmp_path / "other.db").write_bytes(content)
    result = run_report("--db", str(tmp_path / "other.db"), "--out", str(tmp_path / "r.html"))
    assert result.exit_code == 2 and "not a legwake log" in result.output


# --- in a browser -----------------------------------------------------------------------------


def test_report_in_a_browser(browser, rendered, log):
    from selenium.webdriver.common.by import By

    data = load_report(log, desk="desk-1")
    browser.get((rendered[0] / "report.html").as_uri())
    assert broken_images(browser) == []
    sizes = browser.execute_script(
        "return Array.from(document.images).map(i => [i.naturalWidth, i.width]);")
    assert len(sizes) == 6 and all(natural > 300 and shown > 300 for natural, shown in sizes)
    headings = [h.text for h in browser.find_elements(By.TAG_NAME, "h2") if h.is_displayed()]
    assert headings == ["Daily sitting time and breaks", "Posture distribution",
                        "Alerts and responses", "Seat pressure and centre of pressure",
                        "Nerve load", "What people felt, and their sensitivity",
                        "Device health"]
    summary = browser.find_element(By.ID, "summary")
    assert summary.is_displayed() and summary.text == data.summary
    day = data.days[0]
    row = browser.find_element(By.CSS_SELECTOR, f'#table-daily tr[data-key="{day.day}"]')
    assert row.is_displayed() and f"{day.occupied_s / 3600:.1f} h" in row.text
    total = browser.find_element(By.CSS_SELECTOR, '#table-alerts tr[data-key="all"]')
    assert total.text.split()[:2] == ["all", str(data.all_alerts.count)]
    shot = full_page_screenshot(browser, ARTIFACTS / "report.png")
    assert shot.stat().st_size > 50_000


# --- what a new reader trips over -------------------------------------------------------------


@pytest.fixture(scope="module")
def short_log(tmp_path_factory) -> Path:
    """One short sitting: 28 minutes seated, one break, one alert, no sensor ever lost."""
    path = tmp_path_factory.mktemp("short") / "legwake.db"
    with Store(path) as store:
        store.record(workday(datetime(2026, 11, 25, 9, 0, tzinfo=UTC), hours=0.5, seed=2,
                             lose_sensor=False))
    return path


def visible_text(html_text: str) -> str:
    """The report's words: tags and the inline images' data left out."""
    return re.sub(r"<[^>]*>", " ", html_text)


def test_a_count_of_one_takes_the_singular(short_log):
    data = load_report(short_log)
    assert (len(data.days), data.breaks, data.all_alerts.count) == (1, 1, 1)
    text = visible_text(render_html(data))
    assert not re.findall(r"\b1 [a-z]{2,}s\b", text)  # "1 breaks", "1 alerts", "1 days" ...
    assert data.summary.startswith("1 day, ")
    assert ", 1 break, " in data.summary and ", 1 alert, " in data.summary
    assert "1 day with data" in text
    assert [counted(n, "break") for n in (0, 1, 2, 1000)] == [
        "0 breaks", "1 break", "2 breaks", "1,000 breaks"]
    assert counted(1, "minute") == "1 minute" and counted(3, "day") == "3 days"


def test_durations_under_an_hour_read_in_minutes_and_under_a_minute_in_seconds(short_log):
    data = load_report(short_log)
    text = visible_text(render_html(data))
    assert "0.0 h" not in text and "0.5 h" not in text
    assert f"{data.occupied_s // 60} min seated" in data.summary
    assert data.occupied_s < 3600
    assert [duration(s) for s in (0, 40, 59.4, 59.6, 25 * 60, 3599, 3600, 2.5 * 3600)] == [
        "0 s", "40 s", "59 s", "1 min", "25 min", "1.0 h", "1.0 h", "2.5 h"]
    assert duration(None) == "–"


def test_reconnects_count_links_made_again_and_read_none_without(short_log, log):
    shown = tables(load_report(short_log)).get("health")
    column = shown.header.index("reconnects")
    assert [row[column] for row in shown.rows] == [0, 0, 0]
    assert [row[column] for row in shown.text] == ["none", "none", "none"]
    office = tables(load_report(log, desk="desk-1"))["health"]
    by_sensor = {row[1]: text[column] for row, text in zip(office.rows, office.text,
                                                           strict=True)}
    assert by_sensor == {"mat": "none", "imu_left": "none", "imu_right": str(len(DESK_1_DAYS))}


def test_the_pressure_maps_legend_and_colour_bar_cover_no_cell(log, short_log):
    for path in (log, short_log):
        figure = report_plots.pressure_figure(load_report(path))
        figure.draw_without_rendering()
        heat_map = next(ax for ax in figure.axes if ax.get_images())
        cells = heat_map.get_window_extent()
        assert heat_map.get_legend() is None
        assert figure.legends, "the centre of pressure has a legend"
        for legend in figure.legends:
            assert not legend.get_window_extent().overlaps(cells)
        others = [ax for ax in figure.axes if ax is not heat_map]
        assert len(others) == 1  # the colour bar
        assert not others[0].get_window_extent().overlaps(cells)


@pytest.mark.parametrize("hours", [0.05, 0.5, 3.0, 30.0])
def test_the_nerve_charts_time_axis_has_several_ticks_at_any_length(tmp_path, hours):
    with Store(tmp_path / "log.db") as store:
        start = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
        for day in range(math.ceil(hours / 6)):  # long spans: 6-hour office days
            store.record(workday(start + timedelta(days=day), hours=min(hours, 6.0),
                                 seed=day, lose_sensor=False))
    figure = report_plots.nerve_figure(load_report(tmp_path / "log.db"))
    time_axis = figure.axes[1].xaxis
    ticks = time_axis.get_majorticklocs()
    low, high = figure.axes[1].get_xlim()
    assert 3 <= len(ticks) <= report_plots.MAX_TICKS + 1
    assert all(low <= tick <= high for tick in ticks)
    labels = [label.get_text() for label in figure.axes[1].get_xticklabels()]
    assert len(set(labels)) == len(labels) and "\n" in labels[0]  # the first names its day
