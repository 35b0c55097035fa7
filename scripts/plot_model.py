"""The nerve model's figures for docs/model.md, drawn from the model itself.

- `docs/model_occlusion.png`: conduction and ectopic activity of the four
  fibre classes through 25 min of no-flow compression (250 mmHg at the nerve)
  and 20 min after release.
- `docs/model_profiles.png`: A-beta conduction through 60 min of no flow and
  the recovery after it, and time to numbness against nerve pressure, for a
  healthy, a diabetic and a hypertensive person.
- `docs/model_graded.png`: time to numbness against nerve pressure, for blood
  pressures 100/60, 120/80 and 160/100, and for sensitivities 0.5, 1 and 2.

Draws with matplotlib, off-screen (Agg). Reads the model
through its public API only.

    .venv/bin/python scripts/plot_model.py [--out docs]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np

from edge.model import FIBERS, Profile, simulate, time_to_numbness

DPI = 110
DT_S = 1.0
NO_FLOW_MMHG = 250.0
NUMB = 0.5
COMPLETE_BLOCK = 0.05
FIBRE_LABELS = {"A_alpha": "A-alpha (motor)", "A_beta": "A-beta (touch)",
                "A_delta": "A-delta (sharp pain, cold)", "C": "C (slow pain, warmth)"}
FIBRE_COLOURS = {"A_alpha": "#1b6ca8", "A_beta": "#d1495b", "A_delta": "#edae49",
                 "C": "#00798c"}
PROFILES = {
    "healthy, 120/80": Profile(),
    "diabetic, 120/80": Profile(diabetic=True),
    "hypertensive, 160/100": Profile(systolic_mmHg=160.0, diastolic_mmHg=100.0),
}
PROFILE_STYLES = ({"color": "#333333", "linestyle": "-"}, {"color": "#c0392b", "linestyle": "-"},
                  {"color": "#2874a6", "linestyle": (0, (5, 2))})


def hold_then_release(pressure_mmHg: float, on_min: float, off_min: float) -> np.ndarray:
    on, off = round(on_min * 60 / DT_S), round(off_min * 60 / DT_S)
    return np.concatenate([np.full(on, pressure_mmHg), np.zeros(off)])


def minutes(steps: int) -> np.ndarray:
    return np.arange(1, steps + 1) * DT_S / 60.0


def shade_compression(ax: plt.Axes, on_min: float, label: str | None = None) -> None:
    ax.axvspan(0.0, on_min, color="0.88", zorder=0, label=label)


def plot_occlusion(path: Path, on_min: float = 25.0, off_min: float = 20.0) -> None:
    pressure = hold_then_release(NO_FLOW_MMHG, on_min, off_min)
    result = simulate(pressure, dt_s=DT_S)
    t_min = minutes(pressure.size)
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(9.0, 7.0), sharex=True,
                                      height_ratios=(3, 2), layout="constrained")
    for axes in (top, bottom):
        shade_compression(axes, on_min)
        axes.grid(True, color="0.92", linewidth=0.6)
    for f, name in enumerate(FIBERS):
        top.plot(t_min, result.conduction[:, 0, f], color=FIBRE_COLOURS[name], linewidth=1.8,
                 label=FIBRE_LABELS[name])
        bottom.plot(t_min, result.ectopic[:, 0, f], color=FIBRE_COLOURS[name], linewidth=1.5,
                    label=FIBRE_LABELS[name])
    for level, text in ((NUMB, "numb (A-beta < 0.5)"),
                        (COMPLETE_BLOCK, "complete block (< 0.05)")):
        top.axhline(level, color="0.35", linestyle="--", linewidth=0.9)
        top.text(on_min + off_min - 0.3, level + 0.015, text, ha="right", va="bottom",
                 fontsize=8.5, color="0.3")
    top.text(on_min / 2, 1.04, f"{NO_FLOW_MMHG:.0f} mmHg at the nerve (no flow)",
             ha="center", va="bottom", fontsize=9, color="0.3")
    top.text(on_min + off_min / 2, 1.04, "released (0 mmHg)", ha="center", va="bottom",
             fontsize=9, color="0.3")
    top.set_ylim(-0.02, 1.12)
    top.set_ylabel("conduction\n(fraction of fibres conducting)")
    top.legend(loc="center left", bbox_to_anchor=(0.01, 0.42), fontsize=8.5, framealpha=0.95)
    bottom.set_ylabel("ectopic activity\n(spontaneous firing, 0..1)")
    bottom.set_xlabel("time (min)")
    bottom.set_xlim(0, on_min + off_min)
    bottom.set_ylim(bottom=0)
    bottom.annotate("pins and needles\n(A-beta after release)",
                    xy=(t_min[np.argmax(result.ectopic[:, 0, 1])],
                        result.ectopic[:, 0, 1].max()),
                    xytext=(on_min + 6.0, result.ectopic[:, 0, 1].max() * 0.75),
                    fontsize=8.5, color="0.25",
                    arrowprops={"arrowstyle": "->", "color": "0.4", "linewidth": 0.8})
    fig.suptitle(f"Nerve model: {on_min:.0f} min of no-flow compression, then "
                 f"{off_min:.0f} min after release (healthy, 120/80)", fontsize=12)
    fig.savefig(path, dpi=DPI)
    plt.close(fig)


def plot_profiles(path: Path, on_min: float = 60.0, off_min: float = 30.0,
                  horizon_h: float = 4.0) -> None:
    pressure = hold_then_release(NO_FLOW_MMHG, on_min, off_min)
    t_min = minutes(pressure.size)
    nerve_mmHg = np.arange(0.0, 300.25, 0.25)  # fine steps: the rise near threshold is steep
    fig, (left, right) = plt.subplots(1, 2, figsize=(11.0, 4.8), layout="constrained")
    shade_compression(left, on_min, label=f"{NO_FLOW_MMHG:.0f} mmHg (no flow)")
    for (label, profile), style in zip(PROFILES.items(), PROFILE_STYLES):
        result = simulate(pressure, dt_s=DT_S, profile=profile)
        left.plot(t_min, result.conduction[:, 0, FIBERS.index("A_beta")], linewidth=1.8,
                  label=label, **style)
        numb_s = time_to_numbness(nerve_mmHg, profile=profile, horizon_s=horizon_h * 3600)
        numb_min = np.where(np.isfinite(numb_s), numb_s / 60.0, np.nan)  # inf: not plotted
        right.plot(nerve_mmHg, numb_min, linewidth=1.8, label=label, **style)
    left.axhline(NUMB, color="0.35", linestyle="--", linewidth=0.9)
    left.axhline(COMPLETE_BLOCK, color="0.35", linestyle=":", linewidth=0.9)
    for level, text in ((NUMB, "numb"), (COMPLETE_BLOCK, "complete block")):
        left.text(on_min + off_min - 0.7, level + 0.012, text, ha="right", va="bottom",
                  fontsize=8.5, color="0.3")
    left.set_xlim(0, on_min + off_min)
    left.set_ylim(-0.02, 1.05)
    left.set_xlabel("time (min)")
    left.set_ylabel("A-beta conduction (fraction conducting)")
    left.set_title(f"A-beta through {on_min:.0f} min of no flow, then release", fontsize=10.5)
    left.text(on_min - 1.0, 0.8, "healthy and hypertensive coincide:\nonce flow stops, blood pressure\nno longer matters",
              ha="right", va="top", fontsize=8.5, color="0.3")
    left.legend(loc="lower left", bbox_to_anchor=(0.36, 0.17), fontsize=8.5, framealpha=0.95)
    right.set_yscale("log")
    right.set_xlim(0, nerve_mmHg[-1])
    right.set_ylim(8, horizon_h * 60 * 1.15)
    ticks = [10, 15, 20, 30, 60, 120, 240]
    right.set_yticks(ticks, [str(t) for t in ticks])
    right.axhline(horizon_h * 60, color="0.6", linewidth=0.8)
    right.text(nerve_mmHg[-1] - 3, horizon_h * 60 * 0.93, f"search horizon {horizon_h:.0f} h",
               ha="right", va="top", fontsize=8.5, color="0.4")
    right.set_xlabel("nerve (tissue) pressure held constant (mmHg)")
    right.set_ylabel("time to numbness (min, log scale)")
    right.set_title(f"Time to numbness from a rested nerve (none within {horizon_h:.0f} h: "
                    "not drawn)", fontsize=10.5)
    right.legend(loc="center right", fontsize=8.5, framealpha=0.95)
    for axes in (left, right):
        axes.grid(True, which="major", color="0.92", linewidth=0.6)
    fig.suptitle("Nerve model: how blood pressure and diabetes change numbness and recovery",
                 fontsize=12)
    fig.savefig(path, dpi=DPI)
    plt.close(fig)


BLOOD_PRESSURES = {"100/60": Profile(100.0, 60.0), "120/80": Profile(),
                   "160/100": Profile(160.0, 100.0)}
SENSITIVITIES = {"k = 0.5": Profile(sensitivity=0.5), "k = 1": Profile(),
                 "k = 2": Profile(sensitivity=2.0)}
GRADED_STYLES = ({"color": "#2874a6", "linestyle": (0, (5, 2))},
                 {"color": "#333333", "linestyle": "-"},
                 {"color": "#c0392b", "linestyle": (0, (1, 1.5))})


def plot_graded(path: Path, horizon_h: float = 4.0) -> None:
    nerve_mmHg = np.arange(0.0, 160.25, 0.25)
    fig, axes = plt.subplots(1, 2, figsize=(11.0, 4.6), sharey=True, layout="constrained")
    for ax, (title, people) in zip(axes, (("blood pressure (k = 1)", BLOOD_PRESSURES),
                                          ("sensitivity k (120/80)", SENSITIVITIES))):
        for (label, profile), style in zip(people.items(), GRADED_STYLES):
            numb_s = time_to_numbness(nerve_mmHg, profile=profile, horizon_s=horizon_h * 3600)
            numb_min = np.where(np.isfinite(numb_s), numb_s / 60.0, np.nan)
            ax.plot(nerve_mmHg, numb_min, linewidth=1.8, label=label, **style)
            if ax is axes[0]:
                ax.axvline(profile.threshold_mmHg(), linewidth=0.8, alpha=0.5,
                           color=style["color"])
        ax.set_title(f"by {title}", fontsize=10.5)
        ax.set_xlabel("nerve (tissue) pressure held constant (mmHg)")
        ax.set_xlim(0, nerve_mmHg[-1])
        ax.grid(True, which="major", color="0.92", linewidth=0.6)
        ax.legend(loc="upper right", fontsize=8.5, framealpha=0.95)
    axes[0].text(51, 200, "thin lines: diastolic - 30\n(the threshold, P9)", fontsize=8.5,
                 color="0.35", va="top")
    axes[0].set_yscale("log")
    axes[0].set_ylim(4, horizon_h * 60 * 1.15)
    ticks = [5, 10, 15, 20, 30, 60, 120, 240]
    axes[0].set_yticks(ticks, [str(t) for t in ticks])
    axes[0].set_ylabel("time to numbness (min, log scale)")
    fig.suptitle("Nerve model: graded ischaemia. Numbness comes later near the threshold, "
                 f"and never within {horizon_h:.0f} h below it", fontsize=11.5)
    fig.savefig(path, dpi=DPI)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent.parent
                        / "docs", help="directory for the PNGs (default: docs/)")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for name, draw in (("model_occlusion.png", plot_occlusion),
                       ("model_profiles.png", plot_profiles),
                       ("model_graded.png", plot_graded)):
        path = args.out / name
        draw(path)
        print(f"wrote {path} ({path.stat().st_size / 1e3:.0f} KB)")


if __name__ == "__main__":
    main()
