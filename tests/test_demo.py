"""`legwake demo` end to end: the real command, its Mosquitto, the agent on the simulated
devices and the dashboard; the first alert over MQTT; nothing left after Ctrl-C, nor after
the demo itself is killed. And the demo scenario: its first alert comes when the demo
says it will."""

from __future__ import annotations

import json
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Self

import pytest

from edge.demo import ALERT_INTO_CROSSING_S, DEFAULT_SPEED
from edge.processes import accepts_connections, free_port
from firmware_sim.scenario import get_scenario
from firmware_sim.simulation import Sitter, write_simulated_trace
from tests.mosquitto import Subscriber
from tests.push_endpoint import PushEndpoint


@dataclass(frozen=True, slots=True)
class Address:
    host: str
    port: int


# --- processes, from /proc ----------------------------------------------------------------------


def proc_stat(pid: int) -> tuple[str, int, int] | None:
    """(state, parent pid, start time) of a process, or None if there is none."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2:].split()  # the command name may hold spaces
    return fields[0], int(fields[1]), int(fields[19])


def descendants(root: int) -> dict[int, int]:
    """Every process below `root` now: pid -> start time (so a reused pid is not it)."""
    children: dict[int, list[int]] = {}
    started: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (stat := proc_stat(int(entry.name))) is not None:
            children.setdefault(stat[1], []).append(int(entry.name))
            started[int(entry.name)] = stat[2]
    found: dict[int, int] = {}
    todo = list(children.get(root, []))
    while todo:
        pid = todo.pop()
        found[pid] = started[pid]
        todo += children.get(pid, [])
    return found


def still_running(processes: dict[int, int]) -> list[int]:
    """Those of `processes` that exist and are not zombies."""
    left = []
    for pid, start in processes.items():
        stat = proc_stat(pid)
        if stat is not None and stat[2] == start and stat[0] != "Z":
            left.append(pid)
    return left


def wait_gone(processes: dict[int, int], timeout: float) -> list[int]:
    deadline = time.monotonic() + timeout
    while (left := still_running(processes)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return left


# --- the demo, as a user runs it ----------------------------------------------------------------


class Demo:
    """`python -m edge demo` with its output read line by line as it comes."""

    def __init__(self, cwd: Path, *args: str) -> None:
        env = {k: v for k, v in os.environ.items() if k != "LEGWAKE_CONFIG"}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "edge", "demo", *args], cwd=cwd, env=env, text=True,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.lines: queue.Queue[str] = queue.Queue()
        self.stdout: list[str] = []
        self.stderr: list[str] = []
        self._threads = [threading.Thread(target=self._read, args=(stream, kept, send),
                                          daemon=True)
                         for stream, kept, send in ((self.process.stdout, self.stdout, True),
                                                    (self.process.stderr, self.stderr, False))]
        for thread in self._threads:
            thread.start()

    def _read(self, stream, kept: list[str], send: bool) -> None:
        for line in stream:
            kept.append(line.rstrip("\n"))
            if send:
                self.lines.put(line.rstrip("\n"))

    def wait_line(self, pattern: str, timeout: float) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            try:
                line = self.lines.get(timeout=max(0.01, min(remaining, 1.0)))
            except queue.Empty:
                if self.process.poll() is not None or remaining <= 0:
                    pytest.fail(f"no line matching {pattern!r} in {timeout:g} s\n"
                                f"{self.output()}")
                continue
            if match := re.search(pattern, line):
                return match

    def finish(self, timeout: float) -> int:
        code = self.process.wait(timeout)
        for thread in self._threads:
            thread.join(5)
        return code

    def output(self) -> str:
        return ("stdout:\n" + "\n".join(self.stdout) + "\nstderr:\n"
                + "\n".join(self.stderr[-40:]))

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.finish(timeout=30)
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()


@pytest.mark.slow
def test_demo_alerts_over_mqtt_buzzes_pushes_and_ctrl_c_leaves_nothing_behind(
        tmp_path: Path) -> None:
    # Run where the sample configuration lies, as from a checkout: its [mqtt] host (the
    # default, written out) does not keep the demo from using a broker of its own.
    shutil.copy(Path(__file__).resolve().parents[1] / "config.toml", tmp_path)
    started = time.monotonic()
    endpoint = PushEndpoint().start()
    with Demo(tmp_path, "--port", str(free_port()), "--push", endpoint.url("demo")) as demo:
        files = Path(demo.wait_line(r"^files: (\S+)", 30)[1])
        mqtt = demo.wait_line(r"^mqtt: ([\d.]+):(\d+) \(a Mosquitto of its own\)", 30)
        broker = Address(mqtt[1], int(mqtt[2]))
        with Subscriber(broker, ["legwake/+/+/alert", "legwake/+/+/status"]) as subscriber:
            url = demo.wait_line(r"dashboard: (http://\S+)", 60)[1]
            dashboard = Address("127.0.0.1", int(re.search(r":(\d+)/$", url)[1]))
            ready = time.monotonic() - started
            with urllib.request.urlopen(url, timeout=10) as response:
                assert response.status == 200
            subscriber.wait_for(lambda s: any(m.topic.endswith("/alert") for m in s.messages),
                                timeout=240, what="the first alert")
            alert_after = time.monotonic() - started
            alert = json.loads(next(m for m in subscriber.messages
                                    if m.topic.endswith("/alert")).text)
            assert (alert["kind"], alert["site"]) == ("numbness", "peroneal_left")
            # What reached the person, as the demo shows it: the left thigh buzzed, and the
            # push service got the alert.
            buzz = demo.wait_line(r"^buzz: (LegIMU-\S+) (.+) at (\d+)%", 30)
            assert buzz[1].startswith("LegIMU-L-") and buzz[2] == "tap"
            push = demo.wait_line(r"^push: json://127\.0\.0\.1:\d+/demo: (.+)$", 30)
            assert push[1] == "legwake: your left leg"
            assert endpoint.wait_for(1, timeout_s=10)
            assert endpoint.received[0][2]["message"] == alert["message"]

            running = descendants(demo.process.pid)
            assert len(running) >= 3, running  # mosquitto, the agent, the dashboard
            demo.process.send_signal(signal.SIGINT)
            stopping = time.monotonic()
            assert demo.finish(timeout=30) == 0, demo.output()
            stopped_in = time.monotonic() - stopping
            # The agent said goodbye while the broker still ran.
            statuses = [m.text for m in subscriber.messages if m.topic.endswith("/status")]
            assert statuses[-1] == "offline", statuses

    assert demo.stdout[-1] == "stopped", demo.output()
    assert not wait_gone(running, 5), demo.output()
    assert not accepts_connections(broker.host, broker.port)
    assert not accepts_connections(dashboard.host, dashboard.port)
    assert not files.exists()
    endpoint.stop()
    print(f"dashboard up after {ready:.1f} s, first alert after {alert_after:.1f} s, "
          f"stopped in {stopped_in:.1f} s")


@pytest.mark.slow
def test_a_killed_demo_takes_its_processes_with_it(tmp_path: Path) -> None:
    files: Path | None = None
    try:
        with Demo(tmp_path, "--port", str(free_port())) as demo:
            files = Path(demo.wait_line(r"^files: (\S+)", 30)[1])
            demo.wait_line(r"dashboard: http://", 60)
            running = descendants(demo.process.pid)
            assert len(running) >= 3, running
            demo.process.kill()  # no clean stop possible: the kernel stops its children
            demo.finish(timeout=10)
            assert not wait_gone(running, 10), demo.output()
    finally:
        if files is not None:  # nobody was left to remove it
            shutil.rmtree(files, ignore_errors=True)


def test_the_demo_scenario_alerts_when_the_demo_says(tmp_path: Path) -> None:
    """The first numbness alert of the demo scenario (the [sim] defaults' sitter) comes 11-12
    min in, about 70 s at the default speed, and where `legwake demo` says it will."""
    scenario = get_scenario("demo", seed=1)
    crossed = next(i for i, s in enumerate(scenario.segments)
                   if s.posture == "crossed_left_over_right")
    crossed_at = float(scenario.segment_bounds_s()[crossed])
    trace = tmp_path / "demo.jsonl.gz"
    write_simulated_trace(trace, Sitter(scenario, weight_kg=75.0, seat="cushioned", seed=1),
                          duration_s=crossed_at + ALERT_INTO_CROSSING_S + 60)
    events = tmp_path / "events.jsonl"
    env = {k: v for k, v in os.environ.items() if k != "LEGWAKE_CONFIG"}
    subprocess.run([sys.executable, "-m", "edge", "replay", str(trace), "--events", str(events)],
                   check=True, capture_output=True, cwd=tmp_path, env=env, timeout=300)
    alerts = [e for line in events.read_text().splitlines()
              if (e := json.loads(line))["event"] == "alert"]
    first = alerts[0]
    assert (first["kind"], first["site"]) == ("numbness", "peroneal_left")
    assert 11 * 60 <= first["t"] <= 12 * 60
    assert first["t"] / DEFAULT_SPEED == pytest.approx(70, abs=5)
    assert first["t"] - crossed_at == pytest.approx(ALERT_INTO_CROSSING_S, abs=15)
