"""Headless Chromium for tests that look at pages (the report, the dashboard).

Drives Debian's chromium through its chromedriver with selenium, offline and with
a fresh profile each time, so nothing from one test (cache, storage) reaches the
next and the browser makes no connection of its own. Use the `browser` fixture
(tests/conftest.py), or `chromium(profile_dir)` directly. `evaluate_in_worker` runs
JavaScript in a page's service worker, which WebDriver cannot reach, over the browser's
own DevTools socket.
"""

from __future__ import annotations

import base64
import contextlib
import json
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from selenium.webdriver.remote.webdriver import WebDriver

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
WINDOW = (1400, 2000)
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
"""Screenshots and such that a person may want to look at after a run (git-ignored)."""


def missing() -> str | None:
    """Why the browser cannot run here (a reason to skip), or None when it can. Only an
    absent chromium skips; chromium without its driver is a broken set-up, and fails."""
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is absent (apt-get install chromium chromium-driver, or run " \
               "scripts/setup.sh)"
    return None


@contextlib.contextmanager
def chromium(profile_dir: Path, *, window: tuple[int, int] = WINDOW) -> Iterator[WebDriver]:
    """A headless Chromium with its own empty profile in profile_dir, quit on the way out."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    if not CHROMEDRIVER.exists():
        raise FileNotFoundError(f"{CHROMEDRIVER} is absent: apt-get install chromium-driver "
                                "(the same version as chromium)")
    profile_dir.mkdir(parents=True, exist_ok=True)
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                     "--no-first-run", "--disable-background-networking",
                     "--disable-component-update", "--disable-sync",
                     f"--user-data-dir={profile_dir}",
                     f"--window-size={window[0]},{window[1]}"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def full_page_screenshot(driver: WebDriver, path: Path) -> Path:
    """The whole page as a PNG (not only the window), through the DevTools protocol."""
    width, height = driver.execute_script(
        "const e = document.documentElement;"
        " return [Math.max(e.scrollWidth, e.clientWidth), Math.max(e.scrollHeight, e.clientHeight)];")
    shot = driver.execute_cdp_cmd("Page.captureScreenshot", {
        "format": "png", "captureBeyondViewport": True,
        "clip": {"x": 0, "y": 0, "width": width, "height": height, "scale": 1}})
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(base64.b64decode(shot["data"]))
    return path


def broken_images(driver: WebDriver) -> list[str]:
    """The alt text (or source start) of every <img> the browser could not decode."""
    return driver.execute_script(
        "return Array.from(document.images)"
        ".filter(i => !(i.complete && i.naturalWidth > 0))"
        ".map(i => i.alt || i.src.slice(0, 60));")


def evaluate_in_worker(profile_dir: Path, script_url: str, expression: str, *,
                       timeout: float = 10.0) -> Any:
    """The value of the JavaScript `expression` (awaited when a promise) in the running
    service worker whose script is `script_url`, in the Chromium of `profile_dir`; an
    exception thrown there is a RuntimeError here."""
    import websocket  # selenium's own dependency

    port = (profile_dir / "DevToolsActivePort").read_text().split()[0]
    deadline = time.monotonic() + timeout
    while True:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=5) as answer:
            targets = [t for t in json.load(answer)
                       if t["type"] == "service_worker" and t["url"] == script_url]
        if targets or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    if not targets:
        raise LookupError(f"no service worker {script_url} is running")
    socket = websocket.create_connection(targets[0]["webSocketDebuggerUrl"], timeout=timeout)
    try:
        socket.send(json.dumps({"id": 1, "method": "Runtime.evaluate", "params": {
            "expression": expression, "awaitPromise": True, "returnByValue": True}}))
        while True:
            reply = json.loads(socket.recv())
            if reply.get("id") == 1:
                break
    finally:
        socket.close()
    result = reply.get("result", {})
    if "exceptionDetails" in result or "error" in reply:
        raise RuntimeError(f"in the service worker: {result.get('exceptionDetails') or reply}")
    return result["result"].get("value")
