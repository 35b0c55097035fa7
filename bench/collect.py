"""The fleet collector's throughput: messages recorded per second, by 1 and by 2 collectors.

    .venv/bin/python bench/collect.py [--messages 20000] [--publishers 4]

Each run has its own Mosquitto (max_queued_messages raised, as the README asks), its own
log, and `legwake collect` processes sharing one group. The messages are a realistic
mix from tests/fleet.py (per desk: alerts, posture/outcome/break events, minute
summaries, some with a 16x16 seat map).

- backlog: the collectors subscribe and stop; the publishers put every message into their
  sessions; the collectors start again. Rate = messages / time from the first row in the
  log to the last (the collectors' start-up excluded): the collector's own speed.
- live: the collectors run while the publishers (paho clients in threads, QoS 1) send
  everything as fast as they can. Rate = messages / time from the first publish to the
  last row in the log: end to end, publishers included.

Prints a table and writes it, with the raw figures, to bench/out/collect.txt and .json.
"""

from __future__ import annotations

import argparse
import json
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from paho.mqtt import client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from tests.fleet import desk_day
from tests.mosquitto import Mosquitto

LEGWAKE = Path(sys.executable).with_name("legwake")
OUT = REPO / "bench" / "out"
PREFIX = "bench"


def messages_for(count: int) -> list[tuple[str, bytes]]:
    """(topic, payload) for `count` messages from as many desks as it takes."""
    out: list[tuple[str, bytes]] = []
    desk = 0
    while len(out) < count:
        for message in desk_day(desk, alerts=12, minutes=8):
            topic = f"{PREFIX}/hq/desk-{desk:04d}/{message.kind}"
            out.append((topic, json.dumps(message.payload, separators=(",", ":")).encode()))
        desk += 1
    return out[:count]


def publish_all(broker: Mosquitto, messages: list[tuple[str, bytes]], publishers: int) -> float:
    """Publish with `publishers` paho clients in threads; seconds until every PUBACK."""
    def send(part: list[tuple[str, bytes]]) -> None:
        client = paho.Client(CallbackAPIVersion.VERSION2, protocol=MQTTProtocolVersion.MQTTv5)
        client.max_inflight_messages_set(200)
        client.max_queued_messages_set(0)
        client.connect(broker.host, broker.port)
        client.loop_start()
        infos = [client.publish(topic, payload, qos=1) for topic, payload in part]
        for info in infos:
            info.wait_for_publish(120)
        client.disconnect()
        client.loop_stop()

    started = time.perf_counter()
    threads = [threading.Thread(target=send, args=(messages[i::publishers],))
               for i in range(publishers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started


def received(db: Path) -> int:
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
            return int(conn.execute("SELECT count(*) FROM received").fetchone()[0])
    except sqlite3.OperationalError:
        return 0


class Collectors:
    """`collectors` `legwake collect` processes of one group, into one log."""

    def __init__(self, broker: Mosquitto, directory: Path, collectors: int) -> None:
        self.db = directory / "fleet.db"
        self.configs = []
        for n in range(collectors):
            config = directory / f"collector-{n}.toml"
            config.write_text(f'[mqtt]\nhost = "{broker.host}"\nport = {broker.port}\n'
                              f'topic_prefix = "{PREFIX}"\n[collect]\ndb = "{self.db}"\n'
                              f'client_id = "bench-collector-{n}"\n')
            self.configs.append(config)
        self.logs = [directory / f"collector-{n}.log" for n in range(collectors)]
        self.processes: list[subprocess.Popen[bytes]] = []
        self.starts = 0

    def start(self) -> None:
        for config, log in zip(self.configs, self.logs):
            with log.open("ab") as out:
                self.processes.append(subprocess.Popen(
                    [str(LEGWAKE), "collect", "--config", str(config), "--log-level", "info"],
                    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=out))
        self.starts += 1
        deadline = time.monotonic() + 20
        for log in self.logs:
            while log.read_text().count("subscribed:") < self.starts:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{log}: no subscription\n{log.read_text()}")
                time.sleep(0.02)

    def close(self) -> None:
        """Leaves no process behind, whatever happened."""
        for process in self.processes:
            if process.poll() is None:
                process.kill()
            process.wait()
        self.processes = []

    def stop(self) -> None:
        for process in self.processes:
            process.send_signal(signal.SIGTERM)
        for process in self.processes:
            if process.wait(30) != 0:
                raise RuntimeError(f"a collector exited with {process.returncode}")
        self.processes = []


def wait_recorded(db: Path, total: int, timeout: float = 300) -> tuple[float, float, int]:
    """(time of the first row seen, time of the last, rows at the first sighting)."""
    first: float | None = None
    first_count = 0
    deadline = time.monotonic() + timeout
    while True:
        now = time.perf_counter()
        n = received(db)
        if n and first is None:
            first, first_count = now, n
        if n >= total:
            assert first is not None
            return first, now, first_count
        if time.monotonic() > deadline:
            raise TimeoutError(f"{n} of {total} recorded after {timeout} s")
        time.sleep(0.01)


def run(mode: str, collectors: int, messages: list[tuple[str, bytes]],
        publishers: int) -> dict[str, float | str]:
    with tempfile.TemporaryDirectory(prefix="legwake-bench-collect-") as scratch:
        directory = Path(scratch)
        broker = Mosquitto(directory / "mosquitto")
        with broker.config_path.open("a") as config:
            config.write("max_queued_messages 0\n")
        with broker:
            group = Collectors(broker, directory, collectors)
            try:
                result = measure(mode, group, broker, messages, publishers)
            finally:
                group.close()
    return {"collectors": collectors, "mode": mode, "messages": len(messages), **result}


def measure(mode: str, group: Collectors, broker: Mosquitto,
            messages: list[tuple[str, bytes]], publishers: int) -> dict[str, float]:
    group.start()
    if mode == "backlog":
        group.stop()  # the sessions stay, and take their shares while away
        publish_s = publish_all(broker, messages, publishers)
        group.start()
        first, last, first_count = wait_recorded(group.db, len(messages))
        rate = (len(messages) - first_count) / (last - first)
        seconds = last - first
    else:
        started = time.perf_counter()
        thread_result: list[float] = []
        sender = threading.Thread(target=lambda: thread_result.append(
            publish_all(broker, messages, publishers)))
        sender.start()
        first, last, first_count = wait_recorded(group.db, len(messages))
        sender.join()
        publish_s = thread_result[0]
        seconds = last - started
        rate = len(messages) / seconds
    group.stop()
    return {"seconds": round(seconds, 3), "messages_per_s": round(rate),
            "publish_s": round(publish_s, 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=20000)
    parser.add_argument("--publishers", type=int, default=4)
    args = parser.parse_args()
    messages = messages_for(args.messages)
    size = sum(len(payload) for _, payload in messages)
    results = [run(mode, collectors, messages, args.publishers)
               for mode in ("backlog", "live") for collectors in (1, 2)]
    lines = [(f"{len(messages)} messages ({size / len(messages):.0f} bytes mean), "
             f"{args.publishers} publishers"),
             f"{'mode':8} {'collectors':>10} {'seconds':>8} {'messages/s':>11} {'publish s':>10}"]
    lines += [f"{r['mode']:8} {r['collectors']:>10} {r['seconds']:>8.2f} "
              f"{r['messages_per_s']:>11,} {r['publish_s']:>10.2f}" for r in results]
    table = "\n".join(lines)
    print(table)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "collect.txt").write_text(table + "\n")
    (OUT / "collect.json").write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
