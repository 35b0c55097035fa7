"""docs/dashboard.png, from a real `legwake demo`: the dashboard in headless Chromium with
notifications turned on, at the first alert, and what reached the person meanwhile.

Runs the demo with a push URL to a local HTTP endpoint of its own (Apprise's json://),
opens the dashboard with the notification permission granted, clicks "Notify me", puts
another tab in front (a dashboard in the background is the case notifications are for),
waits for the first alert, and then prints what the demo printed (the buzzes and the
push), the notification the browser showed (from the service worker's
getNotifications()), and what the push endpoint received; the screenshot is taken with
the dashboard back in front. Needs Debian's chromium and chromium-driver, and the test
extras (selenium).

    .venv/bin/python scripts/dashboard_screenshot.py [--out docs/dashboard.png]
"""

from __future__ import annotations

import argparse
import json
import queue
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOTIFICATIONS = ("return navigator.serviceWorker.ready.then((r) => r.getNotifications())"
                 ".then((ns) => ns.map((n) => ({title: n.title, body: n.body,"
                 " actions: n.actions.map((a) => a.title)})));")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def push_endpoint(port: int, received: list[dict]) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            received.append(json.loads(body or b"{}"))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *_args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=str(ROOT / "docs" / "dashboard.png"))
    parser.add_argument("--width", type=int, default=1400)
    parser.add_argument("--height", type=int, default=1000)
    args = parser.parse_args()

    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    pushed: list[dict] = []
    push_port, dashboard_port = free_port(), free_port()
    server = push_endpoint(push_port, pushed)
    demo = subprocess.Popen(
        [sys.executable, "-m", "edge", "demo", "--port", str(dashboard_port), "--push",
         f"json://127.0.0.1:{push_port}/legwake"], cwd=tempfile.mkdtemp(),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: queue.Queue[str] = queue.Queue()
    printed: list[str] = []
    threading.Thread(target=lambda: [lines.put(line.rstrip("\n")) for line in demo.stdout],
                     daemon=True).start()

    def wait_line(start: str, timeout_s: float) -> str:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                line = lines.get(timeout=1.0)
            except queue.Empty:
                continue
            printed.append(line)
            if line.strip().startswith(start):
                return line
        raise TimeoutError(f"the demo printed no {start!r} line:\n" + "\n".join(printed))

    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
                     "--hide-scrollbars", f"--window-size={args.width},{args.height}",
                     f"--user-data-dir={tempfile.mkdtemp()}"):
        options.add_argument(argument)
    browser = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    try:
        url = wait_line("dashboard:", 90).split("dashboard:", 1)[1].strip()
        browser.execute_cdp_cmd("Browser.grantPermissions",
                                {"permissions": ["notifications"], "origin": url.rstrip("/")})
        browser.get(url)
        time.sleep(2)
        browser.find_element("css selector", "#notify").click()
        dashboard = browser.current_window_handle
        browser.switch_to.new_window("tab")  # the dashboard goes to the background
        wait_line("buzz:", 240)
        wait_line("push:", 30)
        time.sleep(2)
        browser.switch_to.window(dashboard)
        time.sleep(3)  # the feed and the gauges settle
        shown = browser.execute_script(NOTIFICATIONS)
        browser.save_screenshot(args.out)
    finally:
        browser.quit()
        demo.send_signal(signal.SIGINT)
        demo.wait(60)
        server.shutdown()
    print("\n".join(printed))
    print("notification shown by the browser:", json.dumps(shown, indent=1))
    print("push received:", json.dumps(pushed, indent=1))
    print(f"screenshot: {args.out}")


if __name__ == "__main__":
    main()
