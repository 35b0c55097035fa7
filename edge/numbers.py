"""A number read from a file someone else may have written: finite, or not a number at all.

Core code: no I/O.
"""

from __future__ import annotations

from typing import Any

# Beyond this an int no longer fits a float (and math.isfinite raises on it).
_LARGEST = 1e300


def finite_number(value: Any) -> float | None:
    """`value` as a float if it is a finite real number (a bool is not one), else None."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not abs(value) < _LARGEST:
        return None
    return float(value)
