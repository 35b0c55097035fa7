"""`legwake dashboard`: the web app served by uvicorn until Ctrl-C or SIGTERM.

Owns the listening socket and the server's life: the socket is bound here first, so a
taken port is a clear OSError before anything starts; uvicorn's own access log is off
(URLs may carry what people typed) and its lines go through legwake's logging. Listening
on every address (0.0.0.0, ::) with no [dashboard] allowed_hosts is allowed but warned
about: only the loopback names pass the app's Host check then.

Must not touch: routes and pages (dashboard/app.py).
"""

from __future__ import annotations

import ipaddress
import logging
import signal
import socket

import uvicorn

from dashboard.app import allowed_hosts, create_app
from edge.config import Config

log = logging.getLogger(__name__)

# Open event streams get this long to close on shutdown before they are cut.
GRACEFUL_SHUTDOWN_S = 3


def listening_socket(host: str, port: int) -> socket.socket:
    """A socket bound to host:port (IPv6 when the host is one), ready for uvicorn."""
    try:
        family = socket.AF_INET6 if ipaddress.ip_address(host).version == 6 else socket.AF_INET
    except ValueError:  # a host name
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def url_of(host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/"


def serve(config: Config) -> None:
    """Serve until stopped; OSError when the address cannot be bound."""
    settings = config.dashboard
    sock = listening_socket(settings.host, settings.port)
    app = create_app(config)
    server = uvicorn.Server(uvicorn.Config(
        app, log_config=None, access_log=False, lifespan="on",
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S))
    log.info("dashboard at %s", url_of(settings.host, settings.port), extra={
        "history_log": settings.db or config.log.path or None,
        "token_required": bool(settings.token), "allowed_hosts": allowed_hosts(config)})
    if settings.host in ("0.0.0.0", "::") and not settings.allowed_hosts:
        log.warning("the dashboard listens on every address but answers only Host headers "
                    "naming this machine's loopback (localhost, 127.0.0.1, ::1): list the "
                    "names people browse to in [dashboard] allowed_hosts")
    # uvicorn stops on SIGINT and SIGTERM, then raises the signal again for the handler it
    # found: a quiet one here, so a requested stop ends the command normally (exit 0).
    previous = {signum: signal.signal(signum, _stopped)
                for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    log.info("dashboard stopped")


def _stopped(signum: int, frame: object) -> None:
    """The stop uvicorn has already carried out."""
