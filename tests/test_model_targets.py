"""Every physiology target P1-P10 and the seed's timeline (shared/reference/physiology.md) is a test of the model."""

from __future__ import annotations

import pytest

from edge.model.validation import TARGETS, measure


@pytest.fixture(scope="module")
def measured() -> dict[str, float]:
    return measure(dt_s=1.0)


@pytest.mark.parametrize("target", TARGETS, ids=lambda t: f"{t.target}-{t.key}")
def test_target(target, measured):
    value = measured[target.key]
    assert target.holds(value), (
        f"{target.target} ({target.source}): {target.what}: model gives {value:.4g}, "
        f"target {target.low:g}..{target.high:g}")
