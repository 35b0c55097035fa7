"""`legwake calibrate`: an explicit empty-seat zero and the sitter's upright baseline.

Owns reading the mat for it and the calibration file. The file (JSON) keeps
the per-cell zero (ADC counts), the upright baseline (the reference for reliefs) and the
sitter's upright seat features (the reference the posture is read against, so that it is
this person's lean or slouch, not the average body's: `edge.estimate.person`); the agent
loads it at start (`load`), and automatic re-zeroing from empty-seat windows refines the
zero from there on. The arithmetic is `edge.estimate.zeroing`'s and
`edge.estimate.mat_features`'.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from edge.atomic import replace_text
from edge.calibration import Calibration
from edge.config import Config
from edge.decode import Decoders
from edge.estimate.features import FEATURES, GROUPS
from edge.estimate.mat_features import MAT_FEATURES, mat_features
from edge.estimate.orientation import ORIENTATIONS, back_share, orient
from edge.estimate.person import PersonReference
from edge.estimate.zeroing import (
    UprightBaseline,
    seat_load_n,
    upright_baseline,
    zero_from_frames,
    zeroed_kpa,
)
from edge.numbers import finite_number
from edge.sources.serial import SerialSource

FORMAT = "legwake-mat-calibration"
# 1: the zero and the baseline; 2: and the upright seat features (exactly MAT_FEATURES).
VERSIONS = (1, 2)


class Calibrated(NamedTuple):
    """What a calibration file holds; each part None when it has none."""

    zero: np.ndarray | None  # (rows, cols) counts
    baseline: UprightBaseline | None
    person: PersonReference | None  # the mat's part known, the thighs' to be learnt
    sitter: str = ""  # [desk] person when it was measured

    def upright_of(self, sitter: str) -> PersonReference | None:
        """The upright seat features, if they are this sitter's: another person's upright
        would make every posture of theirs a change from somebody else's."""
        return self.person if sitter == self.sitter else None


def save(path: str | os.PathLike[str], offsets: np.ndarray,
         baseline: UprightBaseline | None, *, person: str = "",
         upright: PersonReference | None = None) -> None:
    """Write the calibration atomically (a crash never leaves half a file)."""
    features = None
    if upright is not None and upright.known("mat"):
        features = {name: round(float(value), 6) for name, value
                    in zip(MAT_FEATURES, upright.values[GROUPS["mat"]], strict=True)}
    document = {"format": FORMAT, "version": VERSIONS[-1],
                "created": datetime.now(UTC).isoformat(timespec="seconds"),
                "person": person, "zero_counts": np.round(offsets, 2).tolist(),
                "baseline": asdict(baseline) if baseline else None,
                "upright_features": features}
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    replace_text(target, json.dumps(document, indent=1))


def _upright_reference(features: Any) -> PersonReference | None:
    """The mat's upright features of a calibration file (version 2 on; None before)."""
    if features is None:
        return None
    if not isinstance(features, dict):
        raise TypeError("upright_features must be a table of the mat's features")
    missing = [name for name in MAT_FEATURES if name not in features]
    unknown = sorted(set(features) - set(MAT_FEATURES))
    if missing or unknown:
        raise ValueError("upright_features must have exactly the mat's features ("
                         + ", ".join(MAT_FEATURES) + ")"
                         + (f"; missing {', '.join(missing)}" if missing else "")
                         + (f"; unknown {', '.join(unknown)}" if unknown else ""))
    values = np.full(len(FEATURES), np.nan)
    for name, column in zip(MAT_FEATURES, range(len(FEATURES))[GROUPS["mat"]], strict=True):
        number = finite_number(features[name])
        if number is None:
            raise ValueError(f"upright_features.{name} must be a finite number, got "
                             f"{features[name]!r:.40}")
        values[column] = number
    return PersonReference(values)


def load(path: str | os.PathLike[str]) -> Calibrated:
    """The zero, baseline and upright features of a calibration file; all None when there
    is none.

    A file that exists but cannot be read is an error naming it: silently running
    uncalibrated would hide the problem.
    """
    target = Path(path)
    if not target.exists():
        return Calibrated(None, None, None)
    try:
        document: dict[str, Any] = json.loads(target.read_text(encoding="utf-8"))
        if not isinstance(document, dict) or document.get("format") != FORMAT:
            raise ValueError(f"not a {FORMAT} file")
        if document.get("version", 1) not in VERSIONS:
            raise ValueError(f"version {document.get('version')!r} is not one this legwake "
                             f"reads ({', '.join(map(str, VERSIONS))})")
        offsets = np.asarray(document["zero_counts"], dtype=np.float64)
        if offsets.ndim != 2 or offsets.size == 0:
            raise ValueError(f"zero_counts must be a 2-D table, got shape {offsets.shape}")
        if not np.isfinite(offsets).all():
            raise ValueError("zero_counts must be finite numbers")
        baseline = UprightBaseline(**document["baseline"]) if document.get("baseline") else None
        upright = _upright_reference(document.get("upright_features"))
        sitter = document.get("person", "")
        if not isinstance(sitter, str):
            raise TypeError(f"person must be text, got {sitter!r}")
    except (ValueError, KeyError, TypeError, RecursionError, ArithmeticError) as error:
        raise ValueError(f"{target}: cannot read the mat calibration: {error} (run "
                         "`legwake calibrate` again, or delete the file)") from None
    return Calibrated(offsets, baseline, upright, sitter)


async def read_counts(source: SerialSource, seconds: float,
                      until: Callable[[np.ndarray], bool] | None = None,
                      timeout_s: float = 120.0) -> np.ndarray:
    """Pressure frames (n, rows, cols) of counts: `seconds` of them, once `until` (given the
    latest frames) says to start; TimeoutError when that never happens."""
    decoders = Decoders({source.name: source.describe()})
    frames: list[np.ndarray] = []
    started: float | None = None if until else time.monotonic()
    deadline = time.monotonic() + timeout_s
    async with asyncio.timeout(timeout_s + seconds):
        async for received in source.stream():
            decoded = decoders.feed([received])[source.name]
            for group in decoded.pressure:
                if started is None:
                    if until is not None and until(group.counts):
                        started = time.monotonic()
                    elif time.monotonic() > deadline:
                        raise TimeoutError("gave up waiting")
                    continue
                frames.append(group.counts)
            if started is not None and time.monotonic() - started >= seconds and frames:
                return np.concatenate(frames)
    raise TimeoutError("the mat stopped sending")


def seated(calibration: Calibration, offsets: np.ndarray, min_load_n: float = 150.0
           ) -> Callable[[np.ndarray], bool]:
    """Whether the newest frames carry a sitter's load (after the zero)."""
    def check(counts: np.ndarray) -> bool:
        return float(seat_load_n(zeroed_kpa(counts[-1], offsets, calibration))) >= min_load_n
    return check


def calibration_of(config: Config) -> Calibration:
    return Calibration.from_points(config.mat.calibration_points())


def mat_source(config: Config) -> SerialSource:
    if not config.mat.port:
        raise ValueError("no mat is configured: set [mat] port")
    return SerialSource(config.mat.port, baudrate=config.mat.baudrate,
                        read_size=config.mat.read_size,
                        reopen_interval_s=config.mat.reopen_interval_s)


def empty_zero(counts: np.ndarray, config: Config) -> np.ndarray:
    return zero_from_frames(counts, calibration=calibration_of(config),
                            empty_load_n=config.estimate.empty_load_n)


def front_of(counts: np.ndarray, offsets: np.ndarray, config: Config) -> tuple[str, float]:
    """How the mat lies by the upright sitter's load ("normal" or "rotated_180": a mirror
    cannot be seen in it), and the share of the load on what the mat calls its back half."""
    share = float(np.nanmedian(back_share(zeroed_kpa(counts, offsets, calibration_of(config)))))
    return ("rotated_180" if share < 0.5 else "normal"), share


def orientation_report(found: str, share: float, setting: str) -> str:
    """What `legwake calibrate` says of the mat's orientation, and whether to act."""
    seen = (f"{share:.0%} of the load on the mat's back half: "
            + ("it lies the right way round" if found == "normal"
               else "its front is at the back (rotated by 180 degrees, the cable at the back)"))
    if setting == "auto":
        return seen + ('; [mat] orientation = "auto" follows it. A mat turned over (left and '
                       'right swapped) does not show in this load: set "mirrored" then (the '
                       'agent warns when the crossed legs the thigh units see suggest it).')
    rows_reversed = ORIENTATIONS[setting][0]
    if rows_reversed == (found == "rotated_180"):
        return seen + f'; [mat] orientation = "{setting}" agrees.'
    other = {"normal": "rotated_180", "rotated_180": "normal", "mirrored":
             "rotated_180_mirrored", "rotated_180_mirrored": "mirrored"}[setting]
    return seen + (f'; but [mat] orientation = "{setting}" says otherwise: set "{other}" '
                   '(or "auto").')


def baseline_of(counts: np.ndarray, offsets: np.ndarray, config: Config, *,
                orientation: str = "normal") -> UprightBaseline:
    """The upright baseline, of the maps the contract's way round (as the estimator reads
    them): `orientation` is how the mat lies."""
    kpa = orient(zeroed_kpa(counts, offsets, calibration_of(config)), orientation)
    return upright_baseline(np.ascontiguousarray(kpa), pitch_mm=config.estimate.mat_pitch_mm)


def upright_features(counts: np.ndarray, offsets: np.ndarray, config: Config, *,
                     seconds: float, orientation: str = "normal") -> PersonReference:
    """The sitter's upright seat features, as the estimator computes them (on each window's
    mean map, `[estimate] period_s` long, the contract's way round), their median over the
    `seconds` read; the thighs' part is unknown (nan): the agent learns it."""
    if len(counts) == 0 or seconds <= 0:
        raise ValueError("no upright frames to measure")
    kpa = orient(zeroed_kpa(counts, offsets, calibration_of(config)), orientation)
    per_window = max(1, round(len(kpa) * config.estimate.period_s / seconds))
    whole = max(1, len(kpa) // per_window)
    means = kpa[:whole * per_window].reshape(whole, -1, *kpa.shape[1:]).mean(axis=1)
    values = np.full(len(FEATURES), np.nan)
    values[GROUPS["mat"]] = np.median(mat_features(means, config.estimate.mat_pitch_mm), axis=0)
    return PersonReference(values)
