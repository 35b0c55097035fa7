"""A local HTTP endpoint for Apprise's json:// (and jsons://) notifications: what it was sent,
and when. It can be taken down and brought back on the same port, as a push service that
goes away for a while."""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self


class PushEndpoint:
    """Serves POST /<path> on 127.0.0.1:<port>; `received` holds (time.perf_counter(), path,
    JSON): the clock tests/mosquitto.py stamps MQTT messages with."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or _free_port()
        self.received: list[tuple[float, str, dict[str, Any]]] = []
        self.headers: list[dict[str, str]] = []
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._arrived = threading.Condition()

    def url(self, path: str = "notify", credentials: str = "") -> str:
        """The json:// URL Apprise posts to; `credentials` as "user:password"."""
        auth = f"{credentials}@" if credentials else ""
        return f"json://{auth}127.0.0.1:{self.port}/{path}"

    def start(self) -> PushEndpoint:
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(length) or b"{}")
                with endpoint._arrived:
                    endpoint.received.append((time.perf_counter(), self.path, body))
                    endpoint.headers.append(dict(self.headers))
                    endpoint._arrived.notify_all()
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_args: Any) -> None:
                pass

        self._server = _Server(("127.0.0.1", self.port), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def wait_for(self, count: int, timeout_s: float) -> bool:
        """Until `count` notifications have arrived (True) or `timeout_s` passed."""
        deadline = time.monotonic() + timeout_s
        with self._arrived:
            while len(self.received) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._arrived.wait(left)
        return True

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()


class _Server(ThreadingHTTPServer):
    allow_reuse_address = True  # back on the same port at once, as a service restarted
    daemon_threads = True


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
