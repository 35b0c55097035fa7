"""The nerve compression model: from nerve pressure over time to conduction and pins and needles.

    from edge.model import FIBERS, Profile, simulate, time_to_numbness

numba's on-disk cache goes to $NUMBA_CACHE_DIR when set, else to
~/.cache/legwake/numba (the installed package may be read-only); it is set
here, before numba is first imported, so the kernels find it.
"""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("NUMBA_CACHE_DIR",
                      str(Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
                          / "legwake" / "numba"))

from edge.model.driver import (
    NerveState,
    NerveTracker,
    SimulationResult,
    rest_state,
    simulate,
    time_to_numbness,
    warmup,
)
from edge.model.params import FIBERS, Profile

__all__ = ["FIBERS", "NerveState", "NerveTracker", "Profile", "SimulationResult", "rest_state",
           "simulate", "time_to_numbness", "warmup"]
