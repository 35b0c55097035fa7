"""The buzz on the thigh: which pattern an alert plays, on which leg.

Owns the mapping from the agent's alerts to the v1.1 haptic patterns
(spec/hardware.md section 2): a numbness alert buzzes the leg at risk, a tap for
the first nudge of an episode, a double tap for a reminder, "insist" when the
model says the leg is numb already; a break reminder buzzes both legs. It is a
sink of the agent: alerts come after the MQTT sink has queued them, and each buzz
is a task of its own on the event loop, so a slow or absent unit never delays
MQTT or the pipeline. Quiet hours and pauses need nothing here: the policy raises
no alert then, so nothing buzzes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any, Protocol

from edge.config import HapticConfig
from edge.nudge import AlertChannel
from edge.wire import HAPTIC_DOUBLE_TAP, HAPTIC_INSIST, HAPTIC_TAP

log = logging.getLogger(__name__)

PATTERN_NAMES = {HAPTIC_TAP: "tap", HAPTIC_DOUBLE_TAP: "double tap", HAPTIC_INSIST: "insist"}


class Buzzer(Protocol):
    """A thigh unit that may buzz (edge.sources.ble.BleImuSource)."""

    name: str

    async def buzz(self, pattern: int, intensity: int) -> bool: ...


def pattern_for(alert: Mapping[str, Any]) -> tuple[int, tuple[str, ...]]:
    """The pattern an alert plays and the legs ("left", "right") that play it."""
    if alert.get("kind") != "numbness":
        return HAPTIC_DOUBLE_TAP, ("left", "right")
    site = alert.get("site") or ""
    legs = (site.rsplit("_", 1)[1],) if site.endswith(("_left", "_right")) else ("left", "right")
    if alert.get("numb"):
        return HAPTIC_INSIST, legs
    return (HAPTIC_DOUBLE_TAP if alert.get("reminder") else HAPTIC_TAP), legs


class HapticSink(AlertChannel):
    """Buzzes the thigh units for the alerts the agent decides (a `Sink` of edge.agent).

    `units`: the units that can be asked, by leg ("left", "right"); a leg without one is
    skipped. Call from the event loop the units run on.
    """

    def __init__(self, settings: HapticConfig, units: Mapping[str, Buzzer]) -> None:
        self.settings = settings
        self.units = dict(units)
        self.played = 0  # buzzes a unit took
        self.missed = 0  # buzzes asked of a unit that could not play them
        self._tasks: set[asyncio.Task[None]] = set()
        # One write at a time per unit, in the order decided: a later tap must not
        # overtake an "insist".
        self._locks: dict[str, asyncio.Lock] = {}

    def event(self, event: dict[str, Any]) -> None:
        if (event.get("event") != "alert" or not self.settings.enabled
                or event.get("kind") not in self.settings.kinds):
            return
        pattern, legs = pattern_for(event)
        for leg in legs:
            unit = self.units.get(leg)
            if unit is None:
                continue
            task = asyncio.get_running_loop().create_task(
                self._buzz(unit, pattern, str(event.get("id"))), name=f"buzz {unit.name}")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _buzz(self, unit: Buzzer, pattern: int, alert_id: str) -> None:
        async with self._locks.setdefault(unit.name, asyncio.Lock()):
            played = await unit.buzz(pattern, self.settings.intensity)
        if played:
            self.played += 1
            log.info("%s buzzed: %s at %d%%", unit.name, PATTERN_NAMES[pattern],
                     self.settings.intensity, extra={"alert": alert_id})
        else:
            self.missed += 1

    async def drain(self, timeout_s: float = 3.0) -> None:
        """Wait (a bounded time) for the buzzes still being written, at a clean stop; those
        still waiting then are cancelled."""
        if not self._tasks:
            return
        await asyncio.wait(set(self._tasks), timeout=timeout_s)
        left = list(self._tasks)
        for task in left:
            task.cancel()
        await asyncio.gather(*left, return_exceptions=True)
