"""How long the ergonomist's report takes on a month of one desk.

    .venv/bin/python bench/report.py [--days 30] [--runs 3] [--synthetic] [--rebuild]

The log (built once, kept in bench/out/): a simulated 8-hour office day (the trace
bench/agent.py makes with `write_simulated_trace`, cached in the temp dir) replayed
through the whole agent into a log (`StoreSink`, as `legwake replay --db` does), and
the same day's minutes, events and alerts copied onto 30 consecutive days with
`Store.record`: 14,400 minute rows. `--synthetic` builds it from tests/sittings.py
instead (no trace, quicker).

Then: `legwake report` end to end in a fresh process (as a person runs it, with
--csv), and in this process the parts: loading (the queries), drawing the figures,
the HTML, the CSV files. Writes bench/out/report.html and bench/out/csv/.
"""

from __future__ import annotations

import argparse
import os
import platform
import sqlite3
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "bench" / "out"
sys.path.insert(0, str(REPO))

import matplotlib
import numpy as np

from edge.store import Message, Store
from edge.timefmt import iso_utc

SITE, DESK = "office", "desk-1"


class Collect:
    """A sink that keeps what the agent would log, to copy it onto other days."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, dict[str, Any]]] = []

    def event(self, event: dict[str, Any]) -> None:
        self.messages.append(("alert" if event["event"] == "alert" else "event", event))

    def minute(self, minute: dict[str, Any]) -> None:
        self.messages.append(("minute", minute))

    def state(self, state: dict[str, Any]) -> None:
        pass

    def flush(self) -> None:
        pass


def replayed_day() -> tuple[datetime, list[tuple[str, dict[str, Any]]], Path]:
    """The 8-hour trace replayed into a log of its own; its start and what was logged."""
    from bench.agent import day_trace
    from edge.agent import replay_trace, session_prefix, trace_start
    from edge.config import load_config
    from edge.sinks import StoreSink
    from edge.sources.trace import TraceReader

    trace = day_trace(8)
    reader = TraceReader(trace)
    started = trace_start(reader.header.started)
    day_log = OUT / "report-day.db"
    for stale in OUT.glob("report-day.db*"):
        stale.unlink()
    collect = Collect()
    clock = time.perf_counter()
    with Store(day_log) as store:
        sink = StoreSink(store, site=SITE, desk=DESK, session=session_prefix(started),
                         started_utc=started, origin="replay")
        agent = replay_trace(reader, load_config(None), [sink, collect])
        sink.close(reason="trace end", ended_utc=agent.now_utc)
        minutes = store.count("minutes")
    print(f"replayed {trace.name} into {day_log.name}: {minutes} minutes in "
          f"{time.perf_counter() - clock:.0f} s")
    return started, collect.messages, day_log


def shifted(messages: list[tuple[str, dict[str, Any]]], started: datetime,
            days: int) -> list[Message]:
    """The day's messages moved `days` later, as another session of the same desk."""
    from edge.agent import session_prefix

    # Each copy starts at 08:00 local time (to the second of the trace's start, so its
    # minutes stay whole minutes): office hours, one local day each.
    office = started.astimezone().replace(hour=8, minute=0)
    delta = office + timedelta(days=days) - started
    old, new = session_prefix(started), session_prefix(started + delta)

    def moved(text: str) -> str:
        return iso_utc(datetime.fromisoformat(text) + delta)

    out = [Message("session", SITE, DESK, {
        "id": f"{new}-start", "session": new, "phase": "start",
        "time": iso_utc(started + delta), "person": "", "origin": "replay"})]
    last = started
    for kind, payload in messages:
        copy = {key: (value.replace(old, new) if isinstance(value, str) else value)
                for key, value in payload.items()}
        copy["time"] = moved(payload["time"])
        if kind == "minute":
            copy["minute"] = moved(payload["minute"])
            copy["id"] = f"{new}-m{datetime.fromisoformat(copy['minute']):%Y%m%dT%H%M}"
            copy["session"] = new
        last = max(last, datetime.fromisoformat(payload["time"]))
        out.append(Message(kind, SITE, DESK, copy))
    out.append(Message("session", SITE, DESK, {
        "id": f"{new}-stop", "session": new, "phase": "stop", "time": iso_utc(last + delta),
        "reason": "trace end"}))
    return out


def build_log(path: Path, days: int, synthetic: bool) -> None:
    for stale in path.parent.glob(path.name + "*"):
        stale.unlink()
    if synthetic:
        from tests.sittings import workday

        started = datetime(2026, 10, 5, 8, 0, tzinfo=UTC)
        day_messages = [workday(started + timedelta(days=n), hours=8, site=SITE, desk=DESK,
                                seed=n) for n in range(days)]
    else:
        started, day, _ = replayed_day()
        day_messages = [shifted(day, started, n) for n in range(days)]
    clock = time.perf_counter()
    with Store(path) as store:
        for messages in day_messages:
            store.record(messages)
    print(f"recorded {days} days into {path.name} in {time.perf_counter() - clock:.1f} s")


def timed(function, runs: int) -> tuple[list[float], Any]:
    times, result = [], None
    for _ in range(runs):
        clock = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - clock)
    return times, result


def machine() -> list[tuple[str, str]]:
    cpu = platform.processor() or "?"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f
                       if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    memory = "?"
    try:
        with open("/proc/meminfo", encoding="utf-8") as f:
            memory = f"{int(f.readline().split()[1]) / 2**20:.1f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    load = os.getloadavg()
    return [("cpu", cpu), ("cores", f"{os.cpu_count()} (load {load[0]:.1f} at start)"),
            ("memory", memory), ("os", f"{platform.system()} {platform.release()}"),
            ("python", platform.python_version()), ("sqlite", sqlite3.sqlite_version),
            ("numpy", np.__version__), ("matplotlib", matplotlib.__version__)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--synthetic", action="store_true",
                        help="build the log from tests/sittings.py instead of a replay")
    parser.add_argument("--rebuild", action="store_true", help="build the log again")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    facts = machine()
    log = OUT / f"report-{args.days}d{'-synthetic' if args.synthetic else ''}.db"
    if args.rebuild or not log.exists():
        build_log(log, args.days, args.synthetic)

    legwake = Path(sys.executable).parent / "legwake"
    command = [str(legwake) if legwake.exists() else sys.executable, *(
        [] if legwake.exists() else ["-m", "edge"]), "report", "--db", str(log), "--desk",
        DESK, "--out", str(OUT / "report.html"), "--csv", str(OUT / "csv")]
    end_to_end, _ = timed(lambda: subprocess.run(command, check=True, capture_output=True),
                          args.runs)

    from edge import report

    clock = time.perf_counter()
    from edge import report_plots as plots
    import_s = time.perf_counter() - clock
    load, data = timed(lambda: report.load_report(log, desk=DESK), args.runs)
    figures = {name: timed(lambda draw=draw: draw(data), args.runs)[0]
               for name, draw in (("daily", plots.daily_png), ("postures", plots.postures_png),
                                  ("alerts", plots.alerts_png),
                                  ("pressure", plots.pressure_png),
                                  ("nerve", plots.nerve_png))}
    html, _ = timed(lambda: report.write_report(data, OUT / "report.html"), args.runs)
    csv_files, _ = timed(lambda: report.write_csv(data, OUT / "csv"), args.runs)

    with sqlite3.connect(f"file:{log}?mode=ro", uri=True) as conn:
        rows = {table: conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
                for table in ("minutes", "events", "alerts", "device_health")}
    csv_bytes = sum(p.stat().st_size for p in (OUT / "csv").iterdir())
    facts += [("log", f"{log.name}: {log.stat().st_size / 1e6:.1f} MB, "
                      + ", ".join(f"{n:,} {t}" for t, n in rows.items())),
              ("range", f"{data.start} to {data.end} ({len(data.days)} local days)"),
              ("output", (f"report.html {(OUT / 'report.html').stat().st_size / 1e6:.2f} MB, "
                          f"csv/ {csv_bytes / 1e6:.2f} MB"))]
    width = max(len(k) for k, _ in facts)
    print()
    for key, value in facts:
        print(f"{key:<{width}}  {value}")
    print(f"\n{'step':<40} {'median':>8} {'min':>8}   ({args.runs} runs)")

    def line(step: str, times: list[float]) -> None:
        print(f"{step:<40} {statistics.median(times):>7.3f}s {min(times):>7.3f}s")

    line("legwake report --csv, end to end", end_to_end)
    line("  load (queries, in process)", load)
    line("  render: figures and HTML", html)
    for name, times in figures.items():
        line(f"    figure: {name}", times)
    line("  CSV files", csv_files)
    print(f"{'  import matplotlib + report_plots':<40} {import_s:>7.3f}s (once)")
    print(f"\nsummary: {data.summary}")
    print(f"wrote {OUT / 'report.html'} and {OUT / 'csv'}/")


if __name__ == "__main__":
    main()
