"""How many desks one dashboard follows live: desk states in over MQTT, out to browsers.

A real Mosquitto and `legwake dashboard` (its own process, as deployed). Publishers play
DESKS desks each sending its retained state (with the 16x16 seat map, ~1.5 kB) once a
second for SECONDS seconds; CLIENTS event-stream readers stand in for open browser tabs.
Prints, per reader, the updates received, the whole snapshots it got instead of a
backlog (a reader that fell behind), and the latency from publish to arrival at the
reader (p50, p95, max). Then a burst: ten states a desk at once, as fast as the broker takes
them, and how the readers come through it.

    .venv/bin/python bench/dashboard.py [--desks 200] [--seconds 15] [--clients 3]
"""

from __future__ import annotations

import argparse
import http.client
import json
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from paho.mqtt import client as paho
from paho.mqtt.enums import CallbackAPIVersion

from edge.processes import free_port
from tests.mosquitto import Mosquitto

SITES = ("sciatic_left", "sciatic_right", "thigh_left", "thigh_right", "peroneal_left",
         "peroneal_right")


def state(sent_at: float, desk: int) -> bytes:
    seat = [[(i * 7 + j * 3 + desk) % 120 for j in range(16)] for i in range(16)]
    return json.dumps({
        "t": sent_at, "posture": "upright", "confidence": 0.93,
        "sites": {s: {"pressure_mmhg": 21.5, "time_to_numbness_s": 612.0} for s in SITES},
        "sensors": {"mat": "ok", "imu_left": "ok", "imu_right": "ok"},
        "seat": {"map_mmhg": seat, "load_n": 560.0}, "sitting_s": 1200.0, "last_break": None,
        "time": "2026-11-21T10:00:00Z"}).encode()


class Reader(threading.Thread):
    """One open event stream, like a browser tab: counts updates and their latency."""

    def __init__(self, port: int) -> None:
        super().__init__(daemon=True)
        self.port = port
        self.latencies: list[float] = []
        self.snapshots = 0
        self.updates = 0
        self.stop = False

    def run(self) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        conn.request("GET", "/api/stream")
        response = conn.getresponse()
        event = ""
        while not self.stop:
            line = response.readline()
            if not line:
                return
            text = line.decode().rstrip("\r\n")
            if text.startswith("event:"):
                event = text[6:].strip()
            elif text.startswith("data:") and event == "snapshot":
                self.snapshots += 1
            elif text.startswith("data:") and event == "update":
                now = time.perf_counter()
                update = json.loads(text[5:])
                desk = update.get("desk")
                if desk and desk.get("state"):
                    self.updates += 1
                    self.latencies.append(now - desk["state"]["t"])


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[q - 1] if len(values) > 1 else values[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--desks", type=int, default=200)
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--clients", type=int, default=3)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="legwake-bench-dashboard-"))
    with Mosquitto(work / "broker") as broker:
        port = free_port()
        config = work / "config.toml"
        config.write_text(f'[mqtt]\nhost = "{broker.host}"\nport = {broker.port}\n'
                          f'[log]\npath = ""\n[dashboard]\nport = {port}\n'
                          f"max_desks = {max(args.desks, 1)}\n")
        server = subprocess.Popen([sys.executable, "-m", "edge", "dashboard", "--config",
                                   str(config), "--log-level", "warning"],
                                  stderr=subprocess.DEVNULL)
        try:
            for _ in range(200):
                try:
                    urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1)
                    break
                except OSError:
                    time.sleep(0.1)
            publisher = paho.Client(CallbackAPIVersion.VERSION2)
            publisher.connect(broker.host, broker.port)
            publisher.loop_start()

            readers = [Reader(port) for _ in range(args.clients)]
            for reader in readers:
                reader.start()
            time.sleep(1.0)
            print(f"steady: {args.desks} desks, a state a second each, {args.seconds} s, "
                  f"{args.clients} readers")
            start = time.perf_counter()
            for second in range(args.seconds):
                tick = start + second
                for desk in range(args.desks):
                    # Spread over the second, as desks are.
                    due = tick + desk / args.desks
                    while (now := time.perf_counter()) < due:
                        time.sleep(min(0.002, due - now))
                    publisher.publish(f"legwake/office/desk-{desk}/state",
                                      state(time.perf_counter(), desk), qos=0, retain=True)
            time.sleep(2.0)
            sent = args.desks * args.seconds
            for n, reader in enumerate(readers):
                lat = sorted(reader.latencies)
                print(f"  reader {n}: {reader.updates}/{sent} updates, "
                      f"{reader.snapshots - 1} resyncs, latency p50 "
                      f"{1000 * percentile(lat, 50):.1f} ms, p95 {1000 * percentile(lat, 95):.1f} "
                      f"ms, max {1000 * lat[-1]:.1f} ms")

            burst = args.desks * 10
            before = [r.updates for r in readers]
            print(f"burst: {burst} states at once")
            start = time.perf_counter()
            for i in range(burst):
                publisher.publish(f"legwake/office/desk-{i % args.desks}/state",
                                  state(time.perf_counter(), i), qos=0, retain=True)
            published = time.perf_counter() - start
            deadline = time.perf_counter() + 60
            while time.perf_counter() < deadline and any(
                    r.updates - b < burst and r.snapshots < 2 for r, b in zip(readers, before)):
                time.sleep(0.05)
            took = time.perf_counter() - start
            got = [r.updates - b for r, b in zip(readers, before)]
            resyncs = [r.snapshots - 1 for r in readers]
            print(f"  published in {published:.2f} s; after {took:.2f} s the readers had "
                  f"{got} updates and {resyncs} fresh snapshots (a reader more than "
                  "500 updates behind gets the whole picture instead of the backlog)")
            for reader in readers:
                reader.stop = True
            publisher.loop_stop()
        finally:
            server.send_signal(signal.SIGINT)
            server.wait(15)


if __name__ == "__main__":
    main()
