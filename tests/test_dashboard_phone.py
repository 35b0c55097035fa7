"""The live page on a phone, in the dark and for everyone, in headless Chromium: no sideways
scrolling from 360 to 414 px, a dark page when the system is dark, every visible text at
WCAG AA contrast (4.5:1, measured in the page) in light and dark, the alert feed announced
politely, and the pressure map's lowest pressure a clearly coloured cell. Desks, alerts and
a pause come through a real Mosquitto to `legwake dashboard` (tests/dashboard_app.py).
Screenshots go to tests/artifacts/."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from edge.timefmt import iso_utc
from tests.browser import ARTIFACTS, full_page_screenshot
from tests.dashboard_app import ALERT, STATE, served_dashboard, wait_until
from tests.mosquitto import Mosquitto, Subscriber

PREFIX = "phone"
PHONE_WIDTHS = (360, 390, 414)
AA = 4.5


def seat_map() -> list[list[float]]:
    """16 x 16 cells: no contact at the edges, 5 mmHg (the scale's lowest) at row 2,
    column 8, and up to 200 mmHg under the sitting bones."""
    cells = [[0.0] * 16 for _ in range(16)]
    for i in range(2, 15):
        for j in range(2, 14):
            near_bone = min(abs(i - 11) + abs(j - 5), abs(i - 11) + abs(j - 10))
            cells[i][j] = max(5.0, 200.0 - 30.0 * near_bone)
    cells[2][8] = 5.0
    return cells


FULL_STATE = {
    **STATE, "posture": "crossed_left_over_right", "confidence": 0.83,
    "sites": {"sciatic_left": {"pressure_mmhg": 96.0, "time_to_numbness_s": 420.0},
              "sciatic_right": {"pressure_mmhg": 71.0, "time_to_numbness_s": None},
              "thigh_left": {"pressure_mmhg": 54.0, "time_to_numbness_s": 900.0},
              "thigh_right": {"pressure_mmhg": 40.0, "time_to_numbness_s": None},
              "peroneal_left": {"pressure_mmhg": 120.0, "time_to_numbness_s": 150.0},
              "peroneal_right": {"pressure_mmhg": 22.0, "time_to_numbness_s": None}},
    "sensors": {"mat": "ok", "imu_left": "stale", "imu_right": "missing"},
    "seat": {"map_mmhg": seat_map(), "load_n": 640.0},
    "sitting_s": 4980.0,
    "last_break": {"start": "2026-11-20T08:40:00Z", "end": "2026-11-20T08:52:00Z",
                   "length_s": 720.0},
}
BREAK = {**ALERT, "id": "20261120T100500000000Z-b2", "kind": "break", "site": None,
         "time_to_numbness_s": None, "message": "You have been sitting for 45 minutes: "
         "time for a short walk.", "time": "2026-11-20T10:05:00Z"}
ANSWERED = {**ALERT, "id": "20261120T094000000000Z-a0", "time": "2026-11-20T09:40:00Z"}

# WCAG 2.x contrast of every visible element with text of its own, against the first
# opaque background behind it (translucent ones composited on the way down).
CONTRAST_JS = r"""
const rgba = (text) => {
  const m = text.match(/rgba?\(([^)]*)\)/);
  if (!m) return null;
  const p = m[1].split(/[\s,/]+/).filter(Boolean).map(Number);
  return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1];
};
const over = (top, below) => {  // top composited over an opaque colour
  const a = top[3];
  return [0, 1, 2].map((k) => top[k] * a + below[k] * (1 - a)).concat(1);
};
const luminance = (c) => {
  const [r, g, b] = c.slice(0, 3).map((v) => {
    v /= 255;
    return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
  });
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
};
const ratio = (a, b) => {
  const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x);
  return (hi + 0.05) / (lo + 0.05);
};
const background = (el) => {
  const layers = [];
  for (let node = el; node && node.nodeType === 1; node = node.parentElement) {
    const c = rgba(getComputedStyle(node).backgroundColor);
    if (c && c[3] > 0) { layers.push(c); if (c[3] >= 1) break; }
  }
  let colour = [255, 255, 255, 1];  // the canvas, behind everything
  for (const layer of layers.reverse()) colour = over(layer, colour);
  return colour;
};
const opacity = (el) => {
  let product = 1;
  for (let node = el; node && node.nodeType === 1; node = node.parentElement) {
    product *= Number(getComputedStyle(node).opacity);
  }
  return product;
};
const found = [];
for (const el of document.body.querySelectorAll("*")) {
  if (["SCRIPT", "STYLE", "OPTION", "TEMPLATE"].includes(el.tagName)) continue;
  const own = [...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
  if (!own && el.tagName !== "SELECT") continue;
  if (!el.checkVisibility({ checkOpacity: true, checkVisibilityCSS: true })) continue;
  if (!el.getClientRects().length || el.closest(":disabled")) continue;  // WCAG: inactive
  const bg = background(el);
  const fg = rgba(getComputedStyle(el).color);
  fg[3] *= opacity(el);
  found.push({ ratio: ratio(over(fg, bg), bg), text: el.textContent.trim().slice(0, 40),
               where: el.tagName.toLowerCase() + (el.className ? "." + el.className : ""),
               fg: getComputedStyle(el).color, bg: `rgb(${bg.slice(0, 3).map(Math.round)})` });
}
return found.sort((a, b) => a.ratio - b.ratio);
"""

# The colour of the 5 mmHg cell (row 2, column 8) and of an empty one (row 0) on the
# canvas, and the card's background.
SCALE_JS = r"""
const canvas = document.querySelector('.desk[data-desk="office/desk-1"] .heatmap');
const ctx = canvas.getContext("2d");
const w = canvas.width / 16, h = canvas.height / 16;
const at = (i, j) => [...ctx.getImageData(Math.floor((j + 0.5) * w),
                                          Math.floor((i + 0.5) * h), 1, 1).data];
const card = getComputedStyle(canvas.closest(".desk")).backgroundColor.match(/\d+/g).map(Number);
return {lowest: at(2, 8), empty: at(0, 0), card};
"""


def luminance(rgb: list[int]) -> float:
    channels = [v / 255 for v in rgb[:3]]
    r, g, b = (v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4 for v in channels)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: list[int], b: list[int]) -> float:
    hi, lo = sorted((luminance(a), luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def saturation(rgb: list[int]) -> float:
    return (max(rgb[:3]) - min(rgb[:3])) / 255


@pytest.fixture
def office(broker: Mosquitto, tmp_path) -> Iterator[str]:
    """The dashboard with two desks: desk-1 with everything (a full state, nudges paused,
    an open numbness alert, a break reminder and an acknowledged alert) and a desk with a
    long name gone offline."""
    with served_dashboard(broker, tmp_path, PREFIX) as url, Subscriber(broker, []) as desk:
        base = f"{PREFIX}/office/desk-1"
        until = iso_utc(datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=30))
        desk.publish(f"{base}/status", "online", retain=True)
        desk.publish(f"{base}/state", json.dumps(FULL_STATE), retain=True, qos=0)
        desk.publish(f"{base}/pause", json.dumps({"paused": True, "until": until,
                                                  "time": iso_utc(datetime.now(UTC))}),
                     retain=True)
        for alert in (ANSWERED, ALERT, BREAK):
            desk.publish(f"{base}/alert", json.dumps(alert))
        desk.publish(f"{base}/cmd/ack", json.dumps({"id": ANSWERED["id"]}))
        other = f"{PREFIX}/office/reception-desk-by-the-window-2"
        desk.publish(f"{other}/state", json.dumps(STATE), retain=True, qos=0)
        desk.publish(f"{other}/status", "offline", retain=True)
        try:
            yield url
        finally:
            for topic in (f"{base}/status", f"{base}/state", f"{base}/pause",
                          f"{other}/state", f"{other}/status"):
                desk.publish(topic, "", retain=True)  # the session's broker forgets them


def show_office(browser: Any, url: str) -> None:
    browser.get(url + "/")
    shown = ("document.querySelectorAll('.desk[data-status]').length === 2 && "
             "document.querySelectorAll('li.alert').length === 3 && "
             "document.querySelector('li.alert[data-status=acknowledged]') && "
             "document.querySelector('.desk[data-desk=\"office/desk-1\"] .pause')"
             ".dataset.paused === 'true' && "
             "document.querySelector('.desk[data-desk=\"office/desk-1\"] .heatmap')"
             ".dataset.cells > 100")
    wait_until(lambda: browser.execute_script(f"return !!({shown})"), what="the office")


def phone(browser: Any, width: int, *, dark: bool = False) -> None:
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
        "width": width, "height": 800, "deviceScaleFactor": 2, "mobile": True})
    browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": [
        {"name": "prefers-color-scheme", "value": "dark" if dark else "light"}]})


def overflow(browser: Any) -> tuple[int, int, list[str]]:
    """scrollWidth, clientWidth, and what sticks out to the right."""
    return browser.execute_script("""
        const root = document.documentElement, width = root.clientWidth;
        const out = [...document.body.querySelectorAll('*')]
          .filter((e) => e.getBoundingClientRect().right > width + 0.5)
          .map((e) => e.tagName.toLowerCase() + '.' + e.className);
        return [root.scrollWidth, width, out.slice(0, 8)];""")


def test_the_live_page_fits_a_phone_from_360_to_414_px(browser, office):
    show_office(browser, office)
    for width in PHONE_WIDTHS:
        phone(browser, width)
        browser.refresh()
        show_office(browser, office)
        scroll_width, client_width, sticking_out = overflow(browser)
        assert client_width == width
        assert scroll_width <= client_width, (width, sticking_out)
        if width == 390:
            full_page_screenshot(browser, ARTIFACTS / "dashboard-phone-390.png")
    feed = browser.find_element("id", "alerts")
    assert feed.get_attribute("aria-live") == "polite"
    pause = browser.execute_script(
        "return document.querySelector('.desk[data-desk=\"office/desk-1\"] .pause-state')"
        ".textContent")
    assert pause.startswith("Nudges paused until ")


@pytest.mark.parametrize("dark", [False, True], ids=["light", "dark"])
def test_every_text_meets_wcag_aa_contrast_and_the_lowest_pressure_stands_out(
        browser, office, dark):
    phone(browser, 390, dark=dark)
    show_office(browser, office)
    body = browser.execute_script("return getComputedStyle(document.body).backgroundColor")
    page = [int(v) for v in body[body.index("(") + 1:body.index(")")].split(",")[:3]]
    assert (luminance(page) < 0.05) is dark, body
    measured = browser.execute_script(CONTRAST_JS)
    assert len(measured) > 40  # the whole page was measured, not an empty one
    lowest = measured[0]
    print(f"\n{'dark' if dark else 'light'}: lowest contrast {lowest['ratio']:.2f}:1 "
          f"({lowest['where']} {lowest['text']!r}, {lowest['fg']} on {lowest['bg']})")
    failing = [m for m in measured if m["ratio"] < AA]
    assert not failing, failing
    # The stale sensor chip (2.8:1 once) and the paused chip, on their own backgrounds.
    chips = {m["text"]: m["ratio"] for m in measured}
    assert chips["Left thigh"] >= AA and any(t.startswith("Nudges paused") for t in chips)

    colours = browser.execute_script(SCALE_JS)
    lowest_cell, empty, card = colours["lowest"], colours["empty"], colours["card"]
    assert saturation(lowest_cell) > 0.3, lowest_cell  # a colour, not a grey or near-black
    assert contrast(lowest_cell, empty) >= 1.5, (lowest_cell, empty)
    if dark:
        assert contrast(lowest_cell, card) >= 3.0, (lowest_cell, card)
    else:
        assert luminance(lowest_cell) > 0.35, lowest_cell  # light, never like dirt
    if dark:
        full_page_screenshot(browser, ARTIFACTS / "dashboard-phone-dark.png")
