"""The ergonomist's report's figures, as PNG bytes (matplotlib, off-screen with Agg).

Draws only what `edge.report.ReportData` holds, in the report's colours; it reads no
log. Imported only when a report is rendered, so the command line starts fast.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from datetime import datetime, timedelta

import matplotlib
import matplotlib.dates as mdates
import numpy as np
from matplotlib.colors import Normalize
from matplotlib.figure import Figure

from edge.report import (
    CONTACT_MMHG,
    LEG_COLOURS,
    LEGS,
    POSTURE_COLOURS,
    POSTURE_NAMES,
    RESPONSE_COLOURS,
    SCALE_MAX_MMHG,
    ReportData,
    duration,
)

__all__ = ["alerts_png", "daily_png", "nerve_figure", "nerve_png", "postures_png",
           "pressure_figure", "pressure_png", "sensitivity_png"]

# Off-screen; pyplot is never imported, so no GUI backend is ever tried.
matplotlib.use("Agg")

DPI = 110
SEATED_COLOUR = "#1864ab"
BREAK_COLOUR = "#e8590c"
TTN_CAP_MIN = 60.0
"""Times to numbness above this are drawn at the top of the axis (there is no hurry)."""
STYLE = {
    "font.size": 10, "axes.titlesize": 11, "axes.titleweight": "bold",
    "axes.spines.top": False, "axes.spines.right": False, "axes.grid": True,
    "grid.color": "#e9ecef", "grid.linewidth": 0.8, "axes.axisbelow": True,
    "font.family": "DejaVu Sans",
}


def _figure(width_in: float, height_in: float, **kwargs) -> Figure:
    # Figure() directly, not pyplot: no global state, nothing left open between reports.
    return Figure(figsize=(width_in, height_in), dpi=DPI, layout="constrained", **kwargs)


def _png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, facecolor="white",
                metadata={"Software": None})
    return buffer.getvalue()


def daily_png(data: ReportData) -> bytes:
    """Hours seated per local day (bars) and the number of breaks (dots)."""
    with matplotlib.rc_context(STYLE):
        fig = _figure(10, 3.6)
        ax = fig.add_subplot()
        days = [datetime(d.day.year, d.day.month, d.day.day) for d in data.days]
        seated_h = [d.occupied_s / 3600 for d in data.days]
        ax.bar(days, seated_h, width=0.7, color=SEATED_COLOUR, label="hours seated")
        ax.set_ylabel("seated (h)")
        ax.set_ylim(0, max(max(seated_h, default=0) * 1.2, 1))
        breaks = ax.twinx()
        breaks.plot(days, [d.breaks for d in data.days], "o", color=BREAK_COLOUR,
                    markersize=7, label="breaks")
        breaks.set_ylabel("breaks (count)", color=BREAK_COLOUR)
        breaks.tick_params(axis="y", colors=BREAK_COLOUR)
        breaks.set_ylim(0, max(max((d.breaks for d in data.days), default=0) * 1.2, 1))
        breaks.grid(False)
        breaks.spines["right"].set_visible(True)
        breaks.yaxis.get_major_locator().set_params(integer=True)
        ax.xaxis.set_major_formatter(mdates.DateFormatter("%a\n%d %b"))
        if len(days) <= 14:
            ax.set_xticks(days)
        else:
            ax.xaxis.set_major_locator(mdates.AutoDateLocator(maxticks=16))
        if days:
            pad = timedelta(hours=18)
            ax.set_xlim(min(days) - pad, max(days) + pad)
        handles = ax.get_legend_handles_labels()[0] + breaks.get_legend_handles_labels()[0]
        ax.legend(handles=handles, loc="upper left", ncols=2, frameon=False)
        ax.set_title("Time seated and breaks per day (local days)")
        return _png(fig)


def postures_png(data: ReportData) -> bytes:
    """The share of seated time per posture, one bar each in the posture's colour."""
    with matplotlib.rc_context(STYLE):
        shown = list(reversed(data.postures))
        fig = _figure(10, 0.45 * len(shown) + 1.0)
        ax = fig.add_subplot()
        shares = [100 * p.share for p in shown]
        bars = ax.barh([POSTURE_NAMES[p.posture] for p in shown], shares,
                       color=[POSTURE_COLOURS[p.posture] for p in shown], height=0.7)
        ax.bar_label(bars, labels=[f"{s:.0f} % ({duration(p.seconds)})"
                                   for s, p in zip(shares, shown, strict=True)], padding=4)
        ax.set_xlabel("share of seated time (%)")
        ax.set_xlim(0, max(max(shares, default=0) * 1.25, 10))
        ax.grid(axis="y", visible=False)
        ax.set_title("Posture while seated")
        return _png(fig)


def alerts_png(data: ReportData) -> bytes:
    """Alerts per kind, split by the first response to each."""
    parts = (("moved in time", "first_moved", "moved"), ("acknowledged", "first_ack", "ack"),
             ("snoozed", "first_snooze", "snooze"), ("no response", "no_response", "none"),
             ("awaiting outcome", "pending", "pending"))
    with matplotlib.rc_context(STYLE):
        kinds = [a for a in data.alerts if a.kind != "all"][::-1]
        fig = _figure(10, 0.6 * max(len(kinds), 1) + 1.3)
        ax = fig.add_subplot()
        left = np.zeros(len(kinds))
        for label, attribute, colour in parts:
            counts = np.array([getattr(a, attribute) for a in kinds], dtype=float)
            bars = ax.barh([a.kind for a in kinds], counts, left=left, height=0.6,
                           color=RESPONSE_COLOURS[colour], label=label)
            ax.bar_label(bars, labels=[f"{c:.0f}" if c else "" for c in counts],
                         label_type="center", color="white", fontweight="bold")
            left += counts
        ax.set_xlabel("alerts (count)")
        ax.set_xlim(0, max(left.max(initial=0) * 1.05, 1))
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.grid(axis="y", visible=False)
        ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncols=5, frameon=False)
        ax.set_title("First response to each alert", pad=24)
        return _png(fig)


def pressure_png(data: ReportData) -> bytes:
    """The average seat-pressure map (fixed 5-200 mmHg scale, no contact below 5) from
    above, front edge at the top, with the centre of pressure drawn over it."""
    with matplotlib.rc_context({**STYLE, "axes.grid": False}):
        return _png(pressure_figure(data))


def pressure_figure(data: ReportData) -> Figure:
    """pressure_png's figure. The colour bar and the legend sit outside the map's axes,
    so that no cell of the map is hidden under them."""
    pressure = data.pressure
    assert pressure is not None
    rows, cols = pressure.mean_mmhg.shape
    width_mm, depth_mm = cols * pressure.pitch_mm, rows * pressure.pitch_mm
    with matplotlib.rc_context({**STYLE, "axes.grid": False}):
        fig = _figure(7.2, 6.4)
        ax = fig.add_subplot()
        colours = matplotlib.colormaps["turbo"].with_extremes(under="#f1f3f5", bad="#f1f3f5",
                                                                over="#7a0403")
        shown = np.ma.masked_invalid(pressure.mean_mmhg)
        image = ax.imshow(shown, cmap=colours,
                          norm=Normalize(vmin=CONTACT_MMHG, vmax=SCALE_MAX_MMHG),
                          extent=(0, width_mm, depth_mm, 0), origin="upper",
                          interpolation="nearest")
        bar = fig.colorbar(image, ax=ax, extend="both", shrink=0.9)
        bar.set_label(f"mean pressure (mmHg); below {CONTACT_MMHG:g}: no contact")
        if pressure.cop_x_mm.size:
            x, y = _broken(pressure.cop_x_mm, pressure.cop_y_mm, pressure.cop_minutes_utc)
            ax.plot(x, y, color="white", linewidth=2.2, alpha=0.5)
            ax.plot(x, y, color="black", linewidth=0.8, alpha=0.8, label="centre of pressure")
            mean = pressure.mean_cop_mm
            if mean is not None:
                ax.plot(*mean, marker="+", markersize=16, markeredgewidth=2.5, color="white",
                        linestyle="none")
                ax.plot(*mean, marker="+", markersize=14, markeredgewidth=1.2, color="black",
                        linestyle="none", label="its average")
            fig.legend(*ax.get_legend_handles_labels(), loc="outside lower center", ncols=2,
                       frameon=False)
        ax.set_xlim(0, width_mm)
        ax.set_ylim(depth_mm, 0)
        ax.set_xlabel("from the occupant's left edge (mm)")
        ax.set_ylabel("from the front edge (mm)")
        ax.set_title("Average seat pressure, seen from above (front edge at the top)")
        return fig


def _broken(x: np.ndarray, y: np.ndarray, minutes_utc: tuple[str, ...]):
    """The trace with a gap (NaN) wherever minutes are not consecutive."""
    epoch = np.array([datetime.fromisoformat(m).timestamp() for m in minutes_utc])
    gap = np.flatnonzero(np.diff(epoch) > 60) + 1
    return np.insert(x, gap, np.nan), np.insert(y, gap, np.nan)


def _bins(epoch_s: np.ndarray, values: np.ndarray, bin_s: int,
          reduce: np.ufunc) -> tuple[np.ndarray, np.ndarray]:
    """Values reduced per time bin (NaN-skipping): the bins' start times (s) and values."""
    if not epoch_s.size:
        return np.empty(0), np.empty(0)
    order = np.argsort(epoch_s, kind="stable")
    bins = (epoch_s[order] // bin_s).astype(np.int64)
    starts = np.flatnonzero(np.r_[True, np.diff(bins) != 0])
    return bins[starts] * float(bin_s), reduce.reduceat(values[order], starts)


@dataclass(frozen=True, slots=True)
class _LoggedTime:
    """A time axis of logged periods only: hours of data, with each stretch without data
    (a night, a weekend) shrunk to a short gap, so a month of office days stays readable."""

    epoch_s: np.ndarray
    position_h: np.ndarray
    period_starts: np.ndarray
    bin_s: int

    GAP_H = 0.4
    PAD_H = 0.1  # shown before the first and after the last bin

    @classmethod
    def of(cls, epoch_s: np.ndarray, bin_s: int) -> _LoggedTime:
        times = np.unique(epoch_s)
        step = np.diff(times) / 3600
        away = step > 1.0
        position = np.r_[0.0, np.cumsum(np.where(away, cls.GAP_H, step))]
        return cls(times, position, np.r_[0, np.flatnonzero(away) + 1], bin_s)

    def line(self, epoch_s: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Positions and values, broken (NaN) wherever bins are not consecutive."""
        position = np.interp(epoch_s, self.epoch_s, self.position_h)
        gap = np.flatnonzero(np.diff(epoch_s) > self.bin_s) + 1
        return np.insert(position, gap, np.nan), np.insert(values, gap, np.nan)

    def decorate(self, axes: list, bottom) -> None:
        """Day separators on every axis; on the bottom one, about MAX_TICKS ticks, shared
        among the periods by their length: matplotlib's date locator picks round local
        times within a period long enough for two or more (so a chart of minutes has
        several, as one of days), a shorter period gets one at its start. The first tick
        of each period also names its day."""
        ends = [*self.period_starts[1:], len(self.epoch_s)]
        for first in self.period_starts[1:]:
            for ax in axes:
                ax.axvline(self.position_h[first] - self.GAP_H / 2, color="#adb5bd",
                           linewidth=0.8)
        shown_h = self.position_h[-1] - self.position_h[0] + 2 * self.PAD_H
        every = max(1, int(np.ceil(len(self.period_starts) / MAX_TICKS)))
        ticks: list[float] = []
        labels: list[str] = []
        for number, (first, end) in enumerate(zip(self.period_starts, ends, strict=True)):
            # The axis shows PAD_H before the first bin and after the last one.
            before_h = self.PAD_H if first == 0 else 0.0
            after_h = self.PAD_H if end == len(self.epoch_s) else 0.0
            width_h = self.position_h[end - 1] - self.position_h[first] + before_h + after_h
            budget = int(MAX_TICKS * width_h / shown_h)
            if budget >= 2:
                times, texts = self._round_times(self.epoch_s[first] - before_h * 3600,
                                                 self.epoch_s[end - 1] + after_h * 3600,
                                                 budget)
            elif number % every == 0:
                times = [float(self.epoch_s[first])]
                texts = [f"{datetime.fromtimestamp(times[0]):%H:%M}"]
            else:
                continue
            if not times:
                continue
            # Within a period, a position is its first bin's plus the hours since.
            ticks += [self.position_h[first] + (t - self.epoch_s[first]) / 3600 for t in times]
            texts[0] = f"{datetime.fromtimestamp(times[0]):%a %d %b}\n{texts[0]}"
            labels += texts
        bottom.set_xticks(ticks, labels)
        bottom.set_xlim(self.position_h[0] - self.PAD_H, self.position_h[-1] + self.PAD_H)

    @staticmethod
    def _round_times(start_s: float, end_s: float, budget: int) -> tuple[list[float], list[str]]:
        """Round local times (epoch s) from start_s to end_s, at most `budget` of them,
        and their labels (matplotlib's date locator and concise formatter, on naive local
        times)."""
        # A second in from each end: a tick on the very edge of the axis is cut.
        begin = datetime.fromtimestamp(start_s + 1)
        last = datetime.fromtimestamp(end_s - 1)
        # A window of at least 3..6 ticks, so that some interval always fits (with 2..2 the
        # locator may find none), then every k-th of them within the budget.
        locator = mdates.AutoDateLocator(minticks=min(3, budget), maxticks=max(budget, 6))
        low, high = mdates.date2num(begin), mdates.date2num(last)
        values = [v for v in locator.tick_values(begin, last) if low <= v <= high]
        if not values:
            return [], []
        values = values[::math.ceil(len(values) / budget)]
        formatter = mdates.ConciseDateFormatter(locator, show_offset=False)
        texts = list(formatter.format_ticks(values))
        times = [mdates.num2date(v).replace(tzinfo=None).timestamp() for v in values]
        return times, texts


MAX_TICKS = 10
"""Ticks on the nerve chart's time axis: about as many as fit its width."""


BIN_CHOICES_S = (60, 300, 900, 1800, 3600, 7200, 14400)
MAX_BINS = 400
"""About as many points as the figure has room for: finer than this is noise."""


def _bin_seconds(epoch_s: np.ndarray) -> int:
    """The finest time bin that keeps the logged time under MAX_BINS bins."""
    logged_s = np.unique(epoch_s // 60).size * 60
    return next((b for b in BIN_CHOICES_S if logged_s / b <= MAX_BINS), BIN_CHOICES_S[-1])


def _per(bin_s: int) -> str:
    return "per minute" if bin_s == 60 else (
        f"worst per {bin_s // 60} min" if bin_s < 3600 else
        f"worst per {'hour' if bin_s == 3600 else f'{bin_s // 3600} h'}")


def nerve_png(data: ReportData) -> bytes:
    """Per leg, the peak nerve-site pressure and the lowest time to numbness over the
    logged hours (local time), per minute or, over longer ranges, the worst per bin."""
    with matplotlib.rc_context(STYLE):
        return _png(nerve_figure(data))


def nerve_figure(data: ReportData) -> Figure:
    """nerve_png's figure."""
    nerve = data.nerve
    bin_s = _bin_seconds(nerve.epoch_s)
    with matplotlib.rc_context(STYLE):
        fig = _figure(10, 5.6)
        peak_ax, ttn_ax = fig.subplots(2, 1, sharex=True)
        if nerve.epoch_s.size:
            axis = _LoggedTime.of(_bins(nerve.epoch_s, nerve.epoch_s, bin_s, np.fmax)[0],
                                  bin_s)
            for leg in LEGS:
                peak, ttn = nerve.leg(leg)
                peak_ax.plot(*axis.line(*_bins(nerve.epoch_s, peak, bin_s, np.fmax)),
                             color=LEG_COLOURS[leg], linewidth=1.0, label=f"{leg} leg")
                times, lowest = _bins(nerve.epoch_s, ttn, bin_s, np.fmin)
                ttn_ax.plot(*axis.line(times, np.minimum(lowest / 60, TTN_CAP_MIN)),
                            color=LEG_COLOURS[leg], linewidth=1.0, label=f"{leg} leg")
            axis.decorate([peak_ax, ttn_ax], ttn_ax)
        peak_ax.set_ylabel("peak nerve-site\npressure (mmHg)")
        peak_ax.set_ylim(bottom=0)
        peak_ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncols=2, frameon=False)
        peak_ax.set_title(f"Nerve load per leg ({_per(bin_s)})", pad=22)
        ttn_ax.set_ylabel("lowest time to\nnumbness (min)")
        ttn_ax.set_ylim(0, TTN_CAP_MIN * 1.05)
        ttn_ax.axhline(5, color="#868e96", linewidth=0.8, linestyle="--")
        ttn_ax.text(0.995, 5, "5 min", transform=ttn_ax.get_yaxis_transform(), ha="right",
                    va="bottom", fontsize=8, color="#495057")
        ttn_ax.set_xlabel(f"local time ({data.timezone}); logged hours only, grey lines "
                          "separate periods without data")
        return fig


def sensitivity_png(data: ReportData) -> bytes:
    """Each desk's sensitivity k after each report (a step: it holds until the next), with
    its 10-90 % band, on a log axis from 0.5 to 2 around the calibrated adult's 1."""
    with matplotlib.rc_context(STYLE):
        fig = _figure(10, 3.4)
        ax = fig.add_subplot()
        colours = matplotlib.colormaps["tab10"]
        end = datetime.combine(data.end + timedelta(days=1), datetime.min.time()).astimezone()
        for i, desk in enumerate(data.feedback):
            times = [when for when, *_ in desk.history]
            k, low, high = (np.array([row[j] for row in desk.history]) for j in (1, 2, 3))
            last = max(min(end, datetime.now().astimezone()), times[-1])
            x = [*times, last]
            colour = colours(i % 10)
            ax.fill_between(x, [*low, low[-1]], [*high, high[-1]], step="post",
                            color=colour, alpha=0.15, linewidth=0)
            ax.step(x, [*k, k[-1]], where="post", color=colour, linewidth=1.6,
                    label=f"{desk.desk} (k {k[-1]:.2f}, {desk.reports} reports)")
            ax.plot(times, k, "o", color=colour, markersize=4)
        ax.set_yscale("log")
        ax.set_ylim(0.5, 2.0)
        ax.set_yticks([0.5, 0.7, 1.0, 1.4, 2.0], ["0.5", "0.7", "1", "1.4", "2"])
        ax.minorticks_off()
        ax.axhline(1.0, color="#868e96", linewidth=0.8, linestyle="--")
        ax.set_ylabel("sensitivity k\n(above 1: numb sooner)")
        ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(ax.xaxis.get_major_locator()))
        ax.set_xlabel(f"local time ({data.timezone}); a dot per report, the band its 10 to "
                      "90 % range")
        ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncols=3, frameon=False)
        ax.set_title("Sensitivity learned from each person's reports", pad=22)
        return _png(fig)
