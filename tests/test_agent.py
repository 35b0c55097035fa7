"""The agent end to end: simulated traces and live simulated devices, a real Mosquitto."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edge.config import load_config
from edge.estimate.labels import SITES
from edge.model import FIBERS, simulate
from edge.sources.trace import TraceReader
from firmware_sim.clock import SimClock
from firmware_sim.legimu import LegImuFirmware
from firmware_sim.radio import SimRadio
from firmware_sim.scenario import Scenario, get_scenario
from firmware_sim.seatmat import PtySeatMat, SeatMatFirmware
from firmware_sim.simulation import UNIT_ADDRESSES, Sitter, write_simulated_trace
from tests import running
from tests.estimated import estimated
from tests.kept import Kept
from tests.mosquitto import Mosquitto, Subscriber

TOPIC = "legwake/office/desk-1"


def agent_config(tmp_path: Path, broker: Mosquitto, extra: str = "") -> Path:
    path = tmp_path / "config.toml"
    path.write_text(f'[mqtt]\nport = {broker.port}\noutbox_path = "{tmp_path / "outbox.db"}"\n'
                    f'[log]\npath = "{tmp_path / "log.db"}"\n{extra}')
    return path


def replay(trace: Path, config: Path, events: Path) -> list[dict]:
    subprocess.run([sys.executable, "-m", "edge", "replay", str(trace), "--events", str(events),
                    "--mqtt", "--config", str(config)], check=True, capture_output=True,
                   text=True, timeout=300)
    return [json.loads(line) for line in events.read_text().splitlines()]


@pytest.fixture(scope="module")
def crossed_trace(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("traces") / "crossed.jsonl.gz"
    write_simulated_trace(path, Sitter(get_scenario("crossed_legs", seed=7), weight_kg=82,
                                       seat="cushioned", seed=7))
    return path


def model_numbness_s(trace: Path, site: str) -> float:
    """When the model, fed the estimator's nerve pressures, says the site goes numb."""
    seconds, _ = estimated(TraceReader(trace), load_config(None))
    conduction = simulate(seconds.site_mmHg).conduction[:, SITES.index(site),
                                                        FIBERS.index("A_beta")]
    return float(seconds.t_s[np.flatnonzero(conduction < 0.5)[0]])


def test_crossed_legs_alert_comes_the_lead_time_before_numbness_and_reaches_mqtt(
        tmp_path, broker, crossed_trace):
    with Subscriber(broker, [f"{TOPIC}/alert"]).start() as subscriber:
        events = replay(crossed_trace, agent_config(tmp_path, broker), tmp_path / "ev.jsonl")
        alerts = [e for e in events if e["event"] == "alert"]
        subscriber.wait_count(f"{TOPIC}/alert", len(alerts), timeout=20)
        received = [json.loads(m.text) for m in subscriber.on(f"{TOPIC}/alert")]

    # A subscriber sees exactly the alerts of the event stream, stamped with the data's time.
    assert received == alerts
    first = alerts[0]
    assert (first["kind"], first["site"], first["posture"]) == (
        "numbness", "peroneal_left", "crossed_left_over_right")
    assert first["message"].startswith("Uncross your legs")
    numb_at = model_numbness_s(crossed_trace, "peroneal_left")
    assert first["t"] <= numb_at - 180.0
    assert first["t"] >= numb_at - 240.0  # early enough, not needlessly early
    assert all(a["kind"] == "numbness" for a in alerts)


def test_upright_sitting_with_shifts_gives_only_break_reminders(tmp_path, broker):
    first, second = get_scenario("upright_shifts", 21), get_scenario("upright_shifts", 22)
    resettle = dataclasses.replace(second.segments[0], transition_s=1.5)
    day = Scenario(name="upright_hour", seed=21,
                   segments=(*first.segments, resettle, *second.segments[1:]))
    trace = tmp_path / "upright.jsonl.gz"
    write_simulated_trace(trace, Sitter(day, weight_kg=64, seat="cushioned", seed=21))
    events = replay(trace, agent_config(tmp_path, broker), tmp_path / "ev.jsonl")
    alerts = [e for e in events if e["event"] == "alert"]
    assert alerts, "an hour of sitting gets a break reminder"
    assert {a["kind"] for a in alerts} == {"break"}
    assert alerts[0]["t"] == pytest.approx(45 * 60, abs=5)
    assert all(a["site"] is None and a["time_to_numbness_s"] is None for a in alerts)


def test_serial_port_vanishing_and_ble_link_dropping_are_marked_not_alerted(tmp_path, broker):
    from edge import live

    speed = 20.0  # a reconnect of a few tenths of a second is then a gap of seconds
    scenario = get_scenario("upright_shifts", seed=5)
    body = Sitter(scenario, seed=5).body()
    link = tmp_path / "ttyACM0"
    events = Kept()

    def mat(clock: SimClock) -> PtySeatMat:
        return PtySeatMat(SeatMatFirmware(pressure=lambda t: body.pressure_counts(scenario, t)),
                          clock, until_s=scenario.duration_s, link=link)

    async def main() -> None:
        clock = SimClock(speed)
        units = [LegImuFirmware(p, lambda t, p=p: body.imu_samples(scenario, p, t), clock=clock,
                                address=UNIT_ADDRESSES[p]) for p in (1, 2)]
        first = mat(clock)
        second = None
        async with SimRadio(units, hci="tcp-server:127.0.0.1:0") as radio:
            config = load_config(agent_config(tmp_path, broker, (
                f'[ble]\nbackend = "sim"\nsim_hci = "{radio.hci_client}"\n'
                "[imu]\nreconnect_initial_s = 0.2\nreconnect_max_s = 1.0\n")))
            config = dataclasses.replace(config, mat=dataclasses.replace(config.mat,
                                                                         port=str(link)))
            stop = asyncio.Event()
            playing = asyncio.create_task(first.run())
            agent = asyncio.create_task(live.run_agent(config, stop,
                                                       clock=live.scaled_clock(speed),
                                                       extra_sinks=[events]))

            def until(predicate, timeout: float = 20.0):
                return running.until(predicate, agent, timeout)

            def seen(sensor: str, phase: str) -> bool:
                return any(e["event"] == "sensor" and e["sensor"] == sensor
                           and e["phase"] == phase for e in events.events)

            def posture_known() -> bool:
                return any(e["event"] == "posture" for e in events.events)

            try:
                await until(posture_known)
                playing.cancel()
                first.close()  # the mat is unplugged: its device node is gone
                await until(lambda: seen("mat", "lost"))
                second = mat(clock)  # plugged back in
                playing = asyncio.create_task(second.run())
                await until(lambda: seen("mat", "back"))
                await units[0].drop_link()  # the left thigh unit goes out of range
                await until(lambda: seen("imu_left", "lost"))
                await until(lambda: seen("imu_left", "back"))
                await asyncio.sleep(1.0)
            finally:
                stop.set()
                await asyncio.gather(agent, return_exceptions=True)
                playing.cancel()
                await asyncio.gather(playing, return_exceptions=True)
                for device in (first, second):
                    if device is not None:
                        device.close()

    asyncio.run(main())
    assert not [e for e in events.events if e["event"] == "alert"]
    gaps = [(e["sensor"], e["phase"]) for e in events.events if e["event"] == "sensor"]
    assert ("mat", "lost") in gaps and ("mat", "back") in gaps
    assert ("imu_left", "lost") in gaps and ("imu_left", "back") in gaps
    # The minutes' device health counts the drops, and the units' battery level.
    assert events.minutes, "a clean stop logs the minute in hand"
    reconnects = {source: sum(m["health"][source]["reconnects"] for m in events.minutes)
                  for source in ("mat", "imu_left", "imu_right")}
    assert reconnects["mat"] >= 1 and reconnects["imu_left"] >= 1
    battery = events.minutes[-1]["health"]["imu_left"]["battery_pct"]
    assert isinstance(battery, int) and 0 < battery <= 100


@pytest.mark.parametrize(("scenario", "top"), [("crossed_legs", "left"),
                                               ("crossed_right", "right")])
def test_a_crossing_on_the_mat_alone_still_alerts_the_lead_time_before_numbness(
        tmp_path, scenario, top):
    """No thigh units: the mat cannot see the fibular head nor tell for sure which leg is on
    top, so both peroneal nerves get the top leg's load; the alert still comes the lead time
    before the top leg would go numb, whichever leg the posture guessed."""
    from edge.agent import replay_trace

    trace = tmp_path / "mat-only.jsonl.gz"
    write_simulated_trace(trace, Sitter(get_scenario(scenario, seed=3), weight_kg=70,
                                        seat="hard", seed=3), imu_transport="none")
    kept = Kept()
    replay_trace(TraceReader(trace), load_config(None), [kept])
    alerts = [e for e in kept.events if e["event"] == "alert" and e["kind"] == "numbness"]
    assert alerts, "a crossing on the mat alone gets its alert"
    numb_at = model_numbness_s(trace, f"peroneal_{top}")
    assert alerts[0]["t"] <= numb_at - 180.0
    assert alerts[0]["message"].startswith("Uncross your legs")
