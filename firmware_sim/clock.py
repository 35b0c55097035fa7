"""Scenario time for the simulated devices, optionally compressed.

Every simulated device reads the same clock, so the mat and the thigh
sensors agree on what the body is doing. At `speed` 60 a 30-minute
scenario plays in 30 seconds of wall time.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field


@dataclass(slots=True)
class SimClock:
    speed: float = 1.0
    _wall_start: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        if not self.speed > 0:
            raise ValueError(f"speed must be positive, got {self.speed}")

    def restart(self) -> None:
        """Scenario time starts again from 0 now (when the devices are switched on)."""
        self._wall_start = time.monotonic()

    def now_s(self) -> float:
        """Scenario seconds since the simulation started."""
        return (time.monotonic() - self._wall_start) * self.speed

    def wall_delay(self, scenario_s: float) -> float:
        """Wall seconds until the scenario reaches `scenario_s` (0 if it already has)."""
        return max(0.0, scenario_s - self.now_s()) / self.speed
