"""`legwake run`: the agent on live sources, until told to stop.

Owns the live loop: the configured sources (or the simulated desk, with
`--sim`) pumping into one bounded queue, the agent taking what arrived a few
times a second, MQTT commands applied (and a pause published as it changes), what the
person has taught of their sensitivity kept across restarts, the
nudges that reach the person (the buzz on the thigh units, push notifications),
and a clean shutdown (offline status, outbox flushed). Everything it decides goes
through `edge.agent`, the same code a replay runs; the channels are sinks after
the MQTT one, and none of them waits on a network inside the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from edge.agent import Agent, Sink, session_prefix
from edge.atomic import replace_text
from edge.config import Config
from edge.model import warmup
from edge.model.sensitivity import Evidence
from edge.nudge.haptic import HapticSink
from edge.nudge.push import PushSink
from edge.payloads import AckCommand, Command, Commands, FeedbackCommand, PauseCommand
from edge.publish import MqttPublisher
from edge.sinks import MqttSink, StoreSink
from edge.sources.base import Clock, Received, Source
from edge.sources.ble import BleImuSource
from edge.sources.configured import configured_sources
from edge.store import Store
from edge.timefmt import iso_utc
from edge.wire import PLACEMENTS

log = logging.getLogger(__name__)

TICK_S = 0.25  # the longest wait for data before commands and stop are looked at
QUEUE_SIZE = 20_000


def scaled_clock(speed: float) -> Clock:
    """Arrival times for time-compressed simulated devices: `speed` data seconds a second."""
    origin = time.monotonic()
    return lambda: origin + (time.monotonic() - origin) * speed


async def _pump(source: Source, queue: asyncio.Queue[Received]) -> None:
    """Every chunk of one source into the shared queue; when full, the oldest goes (logged)."""
    dropped = 0
    async for received in source.stream():
        if queue.full():
            queue.get_nowait()
            dropped += 1
            if dropped == 1 or dropped % 1000 == 0:
                log.warning("agent too slow: %d received chunk(s) dropped so far", dropped,
                            extra={"source": source.name})
        queue.put_nowait(received)


def _drain(queue: asyncio.Queue[Received]) -> list[Received]:
    chunks = []
    while not queue.empty():
        chunks.append(queue.get_nowait())
    return chunks


async def run_agent(config: Config, stop: asyncio.Event, *, clock: Clock = time.monotonic,
                    extra_sinks: Sequence[Sink] = (),
                    on_ready: Callable[[Agent], None] | None = None) -> Agent:
    """Run until `stop` is set; returns the agent (for its counters)."""
    sources = configured_sources(config, clock=clock)
    if not sources:
        raise ValueError("no source is configured: set [mat] port or [imu] transport")
    warmup()  # compile or load the numba kernels now, not at the first alert
    started = datetime.now(UTC)
    prefix = session_prefix(started)
    publisher = MqttPublisher(config.mqtt, config.desk,
                              commands=Commands(config.policy.snooze_max_min),
                              dashboard=config.dashboard)
    publisher.start()
    pushes = PushSink(config.notify)
    haptics = _haptics(config, sources)
    queue: asyncio.Queue[Received] = asyncio.Queue(maxsize=QUEUE_SIZE)
    pumps = [asyncio.create_task(_pump(source, queue), name=f"pump {source.name}")
             for source in sources]
    logbook: StoreSink | None = None
    agent: Agent | None = None
    try:
        pushes.start()
        logbook = _open_log(config, prefix, started)
        # MQTT first: every other channel comes after an alert is in the outbox.
        sinks: list[Sink] = [MqttSink(publisher), pushes, haptics, *extra_sinks]
        if logbook is not None:
            sinks.append(logbook)
        learned = _Learned(f"{config.mqtt.outbox_path}.sensitivity", config.desk.person)
        agent = Agent(config, {s.name: s.describe() for s in sources}, id_prefix=prefix,
                      started_utc=started, origin_s=clock(), sinks=sinks, live=True,
                      links=lambda: {s.name: _link_counters(s) for s in sources},
                      evidence=learned.restore())
        log.info("agent running", extra={"sources": [s.name for s in sources],
                                         "alert_prefix": prefix,
                                         "log": config.log.path or None})
        if on_ready is not None:
            on_ready(agent)
        paused = _PauseState(publisher, f"{config.mqtt.outbox_path}.pause")
        paused.restore(agent)
        paused.publish(agent)
        while not stop.is_set():
            # Process as soon as anything arrives: an alert leaves with the frame that
            # completes its second, not at the next tick.
            chunks: list[Received] = []
            with contextlib.suppress(TimeoutError):
                chunks.append(await asyncio.wait_for(queue.get(), TICK_S))
            chunks += _drain(queue)
            for command in publisher.commands():
                _apply(agent, command, learned)
            agent.process(chunks)
            paused.publish(agent)  # after a pause command, or when a pause ran out
            for task in pumps:
                if task.done() and not task.cancelled() and task.exception():
                    raise task.exception()  # type: ignore[misc]
    finally:
        await haptics.drain()
        for task in pumps:
            task.cancel()
        await asyncio.gather(*pumps, return_exceptions=True)
        try:
            if agent is not None:
                agent.finish()  # the open minute and the alerts still followed, as they stand
        finally:
            if logbook is not None:
                logbook.close(reason="stopped")
                logbook.store.close()
            publisher.wait_until_sent(timeout=5.0)
            publisher.stop()
            pushes.stop()
    assert agent is not None
    return agent


def _apply(agent: Agent, command: Command, learned: _Learned) -> None:
    if isinstance(command, FeedbackCommand):
        alert_id = command.alert_id
        if not command.numb and alert_id is None:
            alert_id = agent.newest_numbness_alert_id
        said = agent.feedback(numb=command.numb, leg=command.leg, alert_id=alert_id)
        log.info("feedback: %s; sensitivity %.2f -> %.2f%s",
                 f"{command.leg} leg fell asleep" if command.numb
                 else f"false alarm ({alert_id or 'no alert'})",
                 said["sensitivity_before"], said["sensitivity"],
                 "" if said["learned"] else f" ({said['reason']})")
        if said["learned"]:
            learned.keep(agent.sensitivity.evidence)
    elif isinstance(command, AckCommand):
        agent.command("ack", alert_id=command.alert_id)
    elif isinstance(command, PauseCommand):
        agent.command("pause" if command.paused else "resume", minutes=command.minutes)
    else:
        agent.command("snooze", alert_id=command.alert_id, minutes=command.minutes)


class _PauseState:
    """The pause as last published (retained on `pause`), published again when it changes,
    and kept in a file beside the outbox, so a pause outlives a restart of the agent."""

    def __init__(self, publisher: MqttPublisher, path: str) -> None:
        self.publisher = publisher
        self.path = Path(path)
        self.shown: Any = ()  # nothing published yet

    def restore(self, agent: Agent) -> None:
        """The pause the agent had when it stopped, if it still holds."""
        try:
            kept = json.loads(self.path.read_text(encoding="utf-8"))
            until = None if kept["until"] is None else datetime.fromisoformat(kept["until"])
            paused = kept["paused"] is True
        except FileNotFoundError:
            return
        except (OSError, ValueError, TypeError, KeyError) as error:
            log.warning("%s: not a pause (%s); nudges are not paused", self.path, error)
            return
        now = datetime.now(UTC)
        if paused and until is None:
            agent.command("pause")
        elif paused and until.tzinfo is not None and until > now:
            agent.command("pause", minutes=(until - now).total_seconds() / 60)

    def publish(self, agent: Agent) -> None:
        until = agent.paused_until_utc
        if until == self.shown:
            return
        self.shown = until
        forever = until is not None and until.year == datetime.max.year
        self.publisher.publish_pause(until is not None, None if forever else until)
        self._keep(until is not None, None if forever or until is None else iso_utc(until))
        log.info("nudges %s", "resumed" if until is None else "paused until resumed"
                 if forever else f"paused until {until:%H:%M} UTC")

    def _keep(self, paused: bool, until: str | None) -> None:
        try:
            replace_text(self.path, json.dumps({"paused": paused, "until": until}))
        except OSError as error:  # the pause still holds; only a restart forgets it
            log.warning("%s: cannot keep the pause (%s)", self.path, error)


class _Learned:
    """What the person has reported of their sensitivity, kept in a file beside the outbox
    so that it outlives a restart; it is the person's, so another [desk] person starts
    afresh."""

    def __init__(self, path: str, person: str) -> None:
        self.path = Path(path)
        self.person = person

    def restore(self) -> Evidence | None:
        try:
            kept = json.loads(self.path.read_text(encoding="utf-8"))
            if not isinstance(kept, dict):
                raise ValueError("not a JSON object")  # noqa: TRY004 (a file's content)
            evidence = Evidence.from_dict(kept.get("evidence"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, RecursionError) as error:
            log.warning("%s: not what a person taught (%s); their sensitivity starts at"
                        " [model] sensitivity", self.path, error)
            return None
        if kept.get("person") != self.person:
            log.info("%s is another person's ([desk] person changed): the sensitivity starts"
                     " afresh", self.path)
            return None
        log.info("sensitivity learned from %d report(s) restored", evidence.reports)
        return evidence

    def keep(self, evidence: Evidence) -> None:
        try:
            replace_text(self.path, json.dumps({"person": self.person,
                                                "evidence": evidence.to_dict()}))
        except OSError as error:  # it holds until a restart
            log.warning("%s: cannot keep what the person taught (%s)", self.path, error)


def _haptics(config: Config, sources: Sequence[Source]) -> HapticSink:
    """The buzz on the thigh units that can be asked (those on BLE)."""
    units = {PLACEMENTS[source.placement]: source for source in sources
             if isinstance(source, BleImuSource)}
    if config.haptic.enabled and config.imu.transport == "serial":
        log.info("thigh units wired through the mat cannot buzz (the host never writes to"
                 " the mat); [haptic] applies to units on BLE")
    return HapticSink(config.haptic, units)


def _open_log(config: Config, session: str, started: datetime) -> StoreSink | None:
    """The [log] this run writes to, or None when [log] path is ""."""
    if not config.log.path:
        return None
    store = Store(config.log.path, retention_days=config.log.retention_days)
    return StoreSink.for_desk(store, config, session=session, started_utc=started,
                              origin="live")


def _link_counters(source: Source) -> dict[str, int | None]:
    """A live link's counters for the minutes' device health: reconnects are the connections
    after the first (a clean stop disconnects too, and is no reconnect)."""
    health = source.health
    return {"reconnects": max(0, health.connects - 1), "battery_pct": health.battery_pct}


async def run_simulated(config: Config, stop: asyncio.Event, sitter, *, speed: float,
                        extra_sinks: Sequence[Sink] = (),
                        on_ready: Callable[[Agent], None] | None = None) -> Agent:
    """The agent on the simulated desk: the same code, reading a pseudo-terminal and the
    simulated radio instead of /dev/ttyACM0 and BlueZ. With `speed` > 1 the data's clock
    runs that much faster, so the whole pipeline (windows, model, policy) follows it."""
    from firmware_sim.simulation import LiveDesk

    desk = LiveDesk(sitter, speed=speed, imu_transport=config.imu.transport,
                    hci="tcp-server:127.0.0.1:0", mat_rate_hz=config.sim.mat_rate_hz,
                    haptic=config.sim.haptic)
    async with desk:
        config = dataclasses.replace(
            config, mat=dataclasses.replace(config.mat, port=desk.serial_path),
            ble=dataclasses.replace(config.ble, backend="sim",
                                    sim_hci=desk.hci_client or config.ble.sim_hci))
        playing = asyncio.create_task(desk.run(), name="simulated desk")
        playing.add_done_callback(lambda _: stop.set())  # the scenario is over
        try:
            return await run_agent(config, stop, clock=scaled_clock(speed),
                                   extra_sinks=extra_sinks, on_ready=on_ready)
        finally:
            playing.cancel()
            await asyncio.gather(playing, return_exceptions=True)
