"""The agent's speed, end to end: replay throughput, live CPU and memory, alert latency.

    .venv/bin/python bench/agent.py [--hours 8] [--live-seconds 60]

1. Replay: a simulated 8-hour day (mat at 20 Hz, both thigh units at 50 Hz over
   BLE; generated once and cached in the temp dir) through the whole agent
   (read, decode, estimate, model, policy, events to a file), one core, as a
   multiple of real time. Target: at least 1000x.
2. Live: `legwake sim` (the simulated devices) in one process and `legwake run`
   reading them through pyserial and bleak in another, at full sensor rates and
   real time, publishing to a Mosquitto started here; the agent process's CPU
   share (of one core) and peak memory (VmHWM). Targets: under 2%, under 200 MB.
3. Alert latency: the agent in-process on the simulated desk at speed 30 playing
   crossed legs, a subscriber on the alert topic; from the moment the agent takes
   the chunk that completes the alert's second to the subscriber's receipt.
   Target: p99 under 50 ms on loopback.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from edge.agent import replay_trace
from edge.config import load_config
from edge.processes import free_port
from edge.sinks import JsonLinesSink
from edge.sources.trace import TraceReader
from firmware_sim.scenario import Scenario, get_scenario
from firmware_sim.simulation import Sitter, write_simulated_trace
from tests.mosquitto import Mosquitto, Subscriber


def day_trace(hours: float) -> Path:
    path = Path(tempfile.gettempdir()) / f"legwake-bench-day-{hours:g}h.jsonl.gz"
    if path.exists():
        return path
    segments: list = []
    seed = 100
    while sum(s.duration_s for s in segments) < hours * 3600:
        part = get_scenario("workday", seed=seed).segments
        if segments:
            part = (dataclasses.replace(part[0], transition_s=2.0), *part[1:])
        segments += part
        seed += 1
    day = Scenario(name="bench_day", seed=100, segments=tuple(segments))
    started = time.perf_counter()
    partial = path.with_name(path.name.replace(".jsonl.gz", ".part.jsonl.gz"))
    write_simulated_trace(partial, Sitter(day, weight_kg=78, seat="cushioned", seed=100),
                          duration_s=hours * 3600)
    os.replace(partial, path)
    print(f"generated {path.name}: {path.stat().st_size / 1e6:.0f} MB in "
          f"{time.perf_counter() - started:.0f} s")
    return path


def bench_replay(hours: float, work: Path) -> None:
    """As fast as possible, to the event stream alone and then also into a fresh log."""
    from edge.agent import session_prefix, trace_start
    from edge.sinks import StoreSink
    from edge.store import Store

    trace = day_trace(hours)
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    config = load_config(None)
    for logged in (False, True):
        with open(os.devnull, "w", encoding="utf-8") as devnull, \
                Store(work / f"replay-{time.monotonic_ns()}.db") as store:
            reader = TraceReader(trace)
            sinks: list = [JsonLinesSink(devnull)]
            if logged:
                started = trace_start(reader.header.started)
                sinks.append(StoreSink(store, site="office", desk="bench",
                                       session=session_prefix(started), started_utc=started,
                                       origin="replay"))
            began = time.perf_counter()
            agent = replay_trace(reader, config, sinks)
            elapsed = time.perf_counter() - began
            minutes = store.count("minutes")
        frames = sum(d.counters.pressure_frames
                     for d in agent.pipeline.decoders.by_source.values())
        multiple = hours * 3600 / elapsed
        what = f"events + log ({minutes} minute rows)" if logged else "events only"
        print(f"replay, {what}: {hours:g} h ({frames} mat frames) in {elapsed:.1f} s = "
              f"{multiple:,.0f}x real time on one core  "
              f"[target >= 1000x: {'PASS' if multiple >= 1000 else 'MISS'}]")


def proc_stat(pid: int) -> tuple[float, dict[str, float]]:
    """(CPU seconds used, memory in MB: peak resident, and now resident split into the
    process's own (anonymous) pages and file-backed ones: mapped libraries) from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    cpu_s = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    status = dict(line.split(":", 1) for line in
                  Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    memory = {key: int(status[key].split()[0]) / 1024
              for key in ("VmHWM", "RssAnon", "RssFile")}
    return cpu_s, memory


def bench_live(seconds: float, work: Path) -> None:
    hci_port = free_port()
    with Mosquitto(work / "broker") as broker:
        sim = subprocess.Popen([sys.executable, "-m", "edge", "sim", "workday", "--speed", "1"],
                               env={**os.environ, "LEGWAKE_CONFIG": str(write_sim_config(
                                   work, hci_port))},
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        try:
            serial_path = sim.stdout.readline().split(": ", 1)[1].strip()
            config = work / "agent.toml"
            config.write_text(f'[mat]\nport = "{serial_path}"\nzero_file = ""\n'
                              f'[ble]\nbackend = "sim"\nsim_hci = "tcp-client:127.0.0.1:{hci_port}"\n'
                              f'[mqtt]\nport = {broker.port}\noutbox_path = "{work / "ob.db"}"\n'
                              f'[log]\npath = "{work / "log.db"}"\n')
            agent = subprocess.Popen([sys.executable, "-m", "edge", "run", "--config",
                                      str(config)], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
            try:
                time.sleep(15)  # start-up: imports, numba cache, BLE scan and connect
                cpu0, _ = proc_stat(agent.pid)
                wall0 = time.monotonic()
                time.sleep(seconds)
                cpu1, memory = proc_stat(agent.pid)
                share = (cpu1 - cpu0) / (time.monotonic() - wall0) * 100
            finally:
                agent.terminate()
                agent.wait(timeout=20)
        finally:
            sim.terminate()
            sim.wait(timeout=20)
    print(f"live: agent at full sensor rates (mat 20 Hz, 2 x IMU 50 Hz) over {seconds:g} s: "
          f"CPU {share:.2f}% of one core [target < 2%: {'PASS' if share < 2 else 'MISS'}]")
    peak = memory["VmHWM"]
    print(f"live: peak resident memory {peak:.0f} MB [target < 200 MB: "
          f"{'PASS' if peak < 200 else 'MISS'}], of which {memory['RssAnon']:.0f} MB is the "
          f"agent's own (anonymous) and {memory['RssFile']:.0f} MB file-backed pages of mapped "
          f"libraries, shared and reclaimable")


def write_sim_config(work: Path, hci_port: int) -> Path:
    path = work / "sim.toml"
    path.write_text(f'[sim]\nhci = "tcp-server:127.0.0.1:{hci_port}"\n')
    return path


def bench_latency(work: Path) -> None:
    from edge import live

    with Mosquitto(work / "latency-broker") as broker:
        config = load_config(None)
        config = dataclasses.replace(
            config, mqtt=dataclasses.replace(config.mqtt, port=broker.port,
                                             outbox_path=str(work / "lat.db")),
            policy=dataclasses.replace(config.policy, repeat_after_s=30.0),
            mat=dataclasses.replace(config.mat, zero_file=""),
            log=dataclasses.replace(config.log, path=str(work / "lat-log.db")))
        taken: list[float] = []
        with Subscriber(broker, ["legwake/+/+/alert"]).start() as subscriber:
            def on_ready(agent) -> None:
                process = agent.process

                def timed(chunks):
                    started = time.perf_counter()
                    decisions = process(chunks)
                    if any(e["event"] == "alert" for e in decisions.events):
                        taken.append(started)
                    return decisions
                agent.process = timed

            async def main() -> None:
                stop = asyncio.Event()
                sitter = Sitter(get_scenario("crossed_legs", seed=9), seed=9)
                runner = asyncio.create_task(live.run_simulated(config, stop, sitter, speed=30,
                                                                on_ready=on_ready))
                await asyncio.sleep(75)
                stop.set()
                await runner
            asyncio.run(main())
            received = [m.at for m in subscriber.on(
                f"legwake/{config.desk.site}/{config.desk.desk}/alert")]
    latencies = sorted((r - t) * 1000 for r, t in zip(received, taken))
    if not latencies:
        print("latency: no alert arrived (MISS)")
        return
    p99 = latencies[min(len(latencies) - 1, round(0.99 * (len(latencies) - 1)))]
    print(f"alert latency over {len(latencies)} alerts: median "
          f"{statistics.median(latencies):.1f} ms, p99 {p99:.1f} ms, max {latencies[-1]:.1f} ms "
          f"[target p99 < 50 ms: {'PASS' if p99 < 50 else 'MISS'}]")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, default=8.0)
    parser.add_argument("--live-seconds", type=float, default=60.0)
    parser.add_argument("--only", choices=["replay", "live", "latency"], default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        work = Path(directory)
        if args.only in (None, "latency"):
            bench_latency(work)
        if args.only in (None, "live"):
            bench_live(args.live_seconds, work)
        if args.only in (None, "replay"):
            bench_replay(args.hours, work)


if __name__ == "__main__":
    main()
