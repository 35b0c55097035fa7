"""Which compiled kernels run: the ahead-of-time build when it matches the source, else numba.

The ahead-of-time module (`aot.py`, built by scripts/setup.sh) needs no LLVM at
run time, so the live agent stays small; numba's JIT (with its on-disk cache)
is the fallback, and what runs when LEGWAKE_MODEL_JIT=1 (the tests use it to
check the JIT and, with NUMBA_DISABLE_JIT=1, the plain-Python kernels).
"""

from __future__ import annotations

import functools
import importlib
import logging
import os
from types import ModuleType

from edge.model import aot

log = logging.getLogger(__name__)


@functools.cache
def kernels() -> ModuleType:
    if os.environ.get("LEGWAKE_MODEL_JIT") != "1":
        try:
            built = importlib.import_module(f"edge.model.{aot.MODULE}")
            if aot.HASH_FILE.read_text().strip() == aot.source_hash():
                return built
            log.warning("the ahead-of-time model kernels are older than their source: using "
                        "the JIT (run scripts/setup.sh to rebuild them)")
        except (ImportError, OSError):
            pass
    return importlib.import_module("edge.model.kernels")


def name() -> str:
    """How the kernels run: "ahead-of-time" or "numba JIT"."""
    return "ahead-of-time" if kernels().__name__.endswith(aot.MODULE) else "numba JIT"
