"""The dashboard's web app (Starlette): the live page, its event stream, commands, history.

Owns the routes and what each answers:

- `/`                    the live view; `/api/stream` feeds it as server-sent events (a
                         `snapshot`, then an `update` per changed desk or alert, and the
                         broker connection); `/api/snapshot` is the same picture as JSON.
- `/api/ack`, `/api/snooze`, `/api/pause`, `/api/feedback`  POST JSON from the page's
                         buttons and its notifications: publish the desk's `cmd/ack`,
                         `cmd/snooze`, `cmd/pause` or `cmd/feedback` and answer once the
                         broker took it.
- `/sw.js`               the service worker: notifications with Acknowledge and Snooze.
- `/manifest.webmanifest`  the web app manifest, so the page installs on a phone.
- `/history`             the report's charts and tables for a desk and local days;
                         `/history/csv/<table>.csv` and `/history/csv.zip` the downloads.
- `/login`, `/logout`    signing in with the token, when one is configured.

- `/healthz`             JSON for monitors: 200 while the MQTT pump runs (a broker outage
                         only shows as `broker_connected: false`: the dashboard still
                         serves, and reconnects by itself), 503 with a `reason` while the
                         pump is down; counts of refused, failed, dropped messages and of
                         evicted desks.

Every request first has its Host header checked (port aside): the loopback names, [dashboard]
host when it is one address or name, and [dashboard] allowed_hosts pass; any other gets
400, so a web page cannot read the desks or snooze alerts through DNS rebinding. Then the
token gate (dashboard/auth.py); the static files, the service worker's script and the
manifest pass it (they hold nothing of the desks, and browsers fetch a manifest without
cookies). Browsers get updates through bounded per-client queues: a client that falls
behind gets a fresh snapshot instead of the backlog.

The MQTT pump (arrivals -> fleet -> browsers) and the stale tick run supervised: a message
that makes the pump fail is counted and logged (once a minute per topic) and the next
one handled; a task that ends anyway is logged and started again after a short pause.
An error answers a short generic page or JSON: no traceback, no file path (the server's
log has them).

Must not touch: MQTT details (dashboard/bridge.py), what messages mean
(dashboard/fleet.py), the log's queries (dashboard/history.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import logging
import re
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sse_starlette.sse import EventSourceResponse
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import (
    FileResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
)
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from dashboard.auth import COOKIE, TokenGate
from dashboard.bridge import MqttBridge, NotSent
from dashboard.fleet import DeskKey, Fleet
from dashboard.history import History, NoDataError, ReportError
from edge.config import SEGMENT, Config
from edge.payloads import (
    MAX_COMMAND_BYTES,
    Commands,
    InvalidCommand,
    is_message_id,
    json_object,
)
from edge.refusals import Refusals, reason_of
from edge.report import CSS as REPORT_CSS

log = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
CLIENT_QUEUE = 500
TICK_S = 1.0
SEED_HOURS = 24
COMMAND_KEYS = ("id", "minutes", "paused", "leg", "numb")  # what a POST's body may give a command
THEME_COLOUR = "#1864ab"  # the accent of dashboard.css
MANIFEST = {
    "name": "legwake dashboard", "short_name": "legwake",
    "description": "Every desk's posture and nerve load, and the alerts before a leg falls "
                   "asleep.",
    "id": "/", "start_url": "/", "scope": "/", "display": "standalone",
    "theme_color": THEME_COLOUR, "background_color": "#f1f3f5",
    "icons": [{"src": "/static/icon.svg", "sizes": "any", "type": "image/svg+xml"},
              {"src": "/static/icon-192.png", "sizes": "192x192", "type": "image/png"},
              {"src": "/static/icon-512.png", "sizes": "512x512", "type": "image/png"}],
}
UNGATED = ("/login", "/healthz", "/sw.js", "/manifest.webmanifest")
PING_S = 15
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "[::1]")  # as Host headers name them
RESTART_PAUSE_S = (1.0, 30.0)  # a stopped task waits the first, doubling up to the second
RESTART_CALM_S = 60.0  # a task that ran this long starts again from the shortest pause
_RESYNC = object()  # in a client's queue: send a whole snapshot


class Hub:
    """The live picture and everyone watching it."""

    def __init__(self, fleet: Fleet) -> None:
        self.fleet = fleet
        self.broker_connected = False
        self._clients: set[asyncio.Queue[Any]] = set()

    def snapshot(self) -> dict[str, Any]:
        return {**self.fleet.snapshot(), "broker": {"connected": self.broker_connected}}

    def broadcast(self, update: dict[str, Any]) -> None:
        for queue in self._clients:
            if queue.full():  # a slow browser: drop its backlog, send it everything afresh
                while not queue.empty():
                    queue.get_nowait()
                queue.put_nowait(_RESYNC)
            else:
                queue.put_nowait(update)

    def set_broker(self, connected: bool) -> None:
        self.broker_connected = connected
        self.broadcast({"broker": {"connected": connected}})

    @contextlib.contextmanager
    def watching(self) -> Any:
        queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=CLIENT_QUEUE)
        self._clients.add(queue)
        try:
            yield queue
        finally:
            self._clients.discard(queue)


class Supervised:
    """A background task that must keep running: when it ends or fails (it never should)
    it is logged with its traceback and started again after a pause that doubles while it
    keeps stopping; `up` is False in between."""

    def __init__(self, name: str, work: Callable[[], Coroutine[Any, Any, None]]) -> None:
        self.name = name
        self.work = work
        self.up = False
        self.restarts = 0
        self.task: asyncio.Task[None] | None = None  # the running work, when up

    async def run(self) -> None:
        """Run `work` until cancelled, restarting it whenever it stops."""
        pause = RESTART_PAUSE_S[0]
        while True:
            started = time.monotonic()
            self.task = asyncio.create_task(self.work(), name=self.name)
            self.up = True
            try:
                await asyncio.wait([self.task])
            except asyncio.CancelledError:  # the app stops
                self.task.cancel()
                await asyncio.gather(self.task, return_exceptions=True)
                self.up = False
                raise
            self.up = False
            if time.monotonic() - started >= RESTART_CALM_S:
                pause = RESTART_PAUSE_S[0]
            error = None if self.task.cancelled() else self.task.exception()
            why = repr(error) if error else "cancelled" if self.task.cancelled() else "returned"
            log.error("the dashboard's %s stopped (%s); starting it again in %g s", self.name,
                      why, pause, exc_info=error)
            await asyncio.sleep(pause)
            pause = min(2 * pause, RESTART_PAUSE_S[1])
            self.restarts += 1


def create_app(config: Config, *, bridge: MqttBridge | None = None) -> Starlette:
    """The app for this configuration; `bridge` defaults to one on [mqtt] (started with the
    app, stopped with it)."""
    settings = config.dashboard
    commands = Commands(config.policy.snooze_max_min)  # as the agent checks them
    fleet = Fleet(config.mqtt.topic_prefix, commands=commands, alerts_kept=settings.alerts_kept,
                  stale_after_s=settings.stale_after_s, max_desks=settings.max_desks)
    hub = Hub(fleet)
    history = History(settings.db or config.log.path)
    gate = TokenGate(settings.token)
    templates = Jinja2Templates(directory=HERE / "templates")
    mqtt_bridge = bridge or MqttBridge(config.mqtt, settings)
    mqtt_bridge.on_connection = hub.set_broker

    snooze_minutes = tuple(m for m in (15, 30, 60) if m <= commands.snooze_minutes[1])
    page = {"lead_time_s": config.policy.lead_time_s, "snooze_minutes": snooze_minutes,
            # A notification's Snooze: the page's shortest, or the longest allowed.
            "notification_snooze_min": (snooze_minutes or commands.snooze_minutes[1:])[0],
            "pause_minutes": tuple(m for m in (30, 60) if m <= commands.pause_minutes[1]),
            "theme_colour": THEME_COLOUR, "signed_in": gate.required}

    failed = Refusals(log, "message (the dashboard failed on it)")

    async def pump() -> None:
        assert mqtt_bridge.arrivals is not None
        while True:
            arrival = await mqtt_bridge.arrivals.get()
            try:  # one message, whatever it holds, never stops the ones after it
                for update in fleet.message(arrival.topic, arrival.payload, arrival.at):
                    hub.broadcast(update)
            except Exception as error:
                failed.refuse(arrival.topic, reason_of(error, ()))  # none is ours here
                log.debug("the dashboard failed on a message on %s", arrival.topic[:200],
                          exc_info=True)

    async def tick() -> None:
        while True:
            await asyncio.sleep(TICK_S)
            for update in fleet.tick(time.monotonic()):
                hub.broadcast(update)

    async def seed() -> None:
        since = (datetime.now(UTC) - timedelta(hours=SEED_HOURS)).strftime("%Y-%m-%dT%H:%M:%S")
        try:
            rows = await run_in_threadpool(history.recent_alerts, since, settings.alerts_kept)
        except ReportError as error:
            log.warning("no earlier alerts from the log: %s", error)
            return
        fleet.seed_alerts(rows)

    supervised = [Supervised("MQTT pump", pump), Supervised("stale tick", tick)]

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await seed()
        mqtt_bridge.start()
        tasks = [asyncio.create_task(task.run(), name=f"{task.name} supervisor")
                 for task in supervised]
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await run_in_threadpool(mqtt_bridge.stop)

    # --- pages ---------------------------------------------------------------------------

    async def live(request: Request) -> Response:
        return templates.TemplateResponse(request, "live.html", {**page, "view": "live"})

    async def stream(request: Request) -> Response:
        async def events() -> AsyncIterator[dict[str, str]]:
            with hub.watching() as queue:
                yield {"event": "snapshot", "data": json.dumps(hub.snapshot())}
                while True:
                    update = await queue.get()
                    if update is _RESYNC:
                        yield {"event": "snapshot", "data": json.dumps(hub.snapshot())}
                    else:
                        yield {"event": "update", "data": json.dumps(update)}

        return EventSourceResponse(events(), ping=PING_S,
                                   headers={"Cache-Control": "no-store"})

    async def snapshot(request: Request) -> Response:
        return JSONResponse(hub.snapshot())

    async def command(request: Request) -> Response:
        kind = request.path_params["kind"]
        try:
            body = json_object(await request.body(), InvalidCommand,
                               max_bytes=MAX_COMMAND_BYTES)
        except InvalidCommand as error:
            return _problem(400, str(error))
        desk = _desk_key(body.get("desk"))
        if desk is None or not fleet.has_desk(desk):
            return _problem(404, f"no desk {str(body.get('desk'))[:80]!r} on this dashboard")
        alert_id = body.get("id")
        if alert_id is not None and not (is_message_id(alert_id)
                                         and fleet.has_alert(desk, alert_id)):
            return _problem(404, f"no alert {str(alert_id)[:80]!r} at {desk.text}")
        topic = f"{config.mqtt.topic_prefix}/{desk.site}/{desk.desk}/cmd/{kind}"
        message = {key: body[key] for key in COMMAND_KEYS if key in body}
        if kind == "feedback" and "id" in message:  # a false alarm names its alert so
            message["alert"] = message.pop("id")
        try:  # what is sent is what the agent will take: schemas/cmd-<kind>.json
            message = commands.check(kind, message)
        except InvalidCommand as error:
            return _problem(400, str(error))
        try:
            await mqtt_bridge.publish(topic, message)
        except NotSent as error:
            return _problem(503, str(error))
        log.info("dashboard sent %s", kind, extra={"desk": desk.text, "alert": alert_id})
        return JSONResponse({"sent": kind, "desk": desk.text, "topic": topic, **message})

    async def service_worker(request: Request) -> Response:
        # Served from the root, so its scope is the whole dashboard (the live page at /).
        return FileResponse(HERE / "static" / "sw.js", media_type="text/javascript",
                            headers={"Service-Worker-Allowed": "/",
                                     "Cache-Control": "no-cache"})

    async def manifest(request: Request) -> Response:
        return JSONResponse(MANIFEST, media_type="application/manifest+json")

    async def history_page(request: Request) -> Response:
        context: dict[str, Any] = {**page, "view": "history", "desks": [], "problem": None,
                                   "query": None, "title": "History", "sections": "",
                                   "tables": [], "report_css": REPORT_CSS}
        status = 200
        try:
            context["desks"] = await run_in_threadpool(history.desks)
            query = history.query(*_range_params(request))
            context["query"] = query
            data = await run_in_threadpool(history.load, query)
            context["title"], context["sections"] = await run_in_threadpool(
                history.sections, data)
            context["tables"] = history.table_names(data)
        except NoDataError as error:
            context["problem"] = str(error)
        except (ReportError, ValueError) as error:
            context["problem"] = str(error)
            status = 400
        return templates.TemplateResponse(request, "history.html", context,
                                          status_code=status)

    async def history_csv(request: Request) -> Response:
        name = request.path_params.get("name")
        try:
            query = history.query(*_range_params(request))
            data = await run_in_threadpool(history.load, query)
        except NoDataError as error:
            return _problem(404, str(error))
        except (ReportError, ValueError) as error:
            return _problem(400, str(error))
        stem = f"legwake-{query.desk or 'all'}-{query.start}-{query.end}"
        if name is None:
            body = await run_in_threadpool(history.csv_zip, data)
            return Response(body, media_type="application/zip", headers=_download(
                f"{stem}.zip"))
        try:
            text = history.csv(data, name)
        except KeyError:
            return _problem(404, f"no table {name[:40]!r}; tables: "
                                 f"{', '.join(history.table_names(data))}")
        return Response(text, media_type="text/csv; charset=utf-8",
                        headers=_download(f"{stem}-{name}.csv"))

    # --- signing in ----------------------------------------------------------------------

    async def login_page(request: Request) -> Response:
        return templates.TemplateResponse(request, "login.html", {
            **page, "view": "login", "failed": False, "next": _next(request)})

    async def login(request: Request) -> Response:
        form = await request.form()
        given = str(form.get("token", ""))
        if not gate.token_matches(given):
            log.warning("dashboard sign-in refused", extra={"client": _client(request)})
            await asyncio.sleep(1.0)  # slows down guessing
            return templates.TemplateResponse(request, "login.html", {
                **page, "view": "login", "failed": True, "next": _next(request)},
                status_code=401)
        response = RedirectResponse(_next(request), status_code=303)
        response.set_cookie(COOKIE, gate.session_value, httponly=True, samesite="strict",
                            secure=request.url.scheme == "https", max_age=30 * 24 * 3600)
        return response

    async def logout(request: Request) -> Response:
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(COOKIE)
        return response

    async def health(request: Request) -> Response:
        down = [task.name for task in supervised if not task.up]
        body: dict[str, Any] = {
            "ok": not down, "broker_connected": hub.broker_connected,
            "desks": fleet.desk_count, "desks_evicted": fleet.evicted,
            "messages_refused": fleet.ignored + mqtt_bridge.refused.total,
            "messages_failed": failed.total,
            "messages_dropped": mqtt_bridge.dropped,
            "restarts": {task.name: task.restarts for task in supervised}}
        if down:
            body["reason"] = f"the {' and the '.join(down)} stopped: starting again"
            return JSONResponse(body, status_code=503)
        return JSONResponse(body)

    async def http_error(request: Request, error: Exception) -> Response:
        """Starlette's 404, 405...: its standard phrase, never the path asked for."""
        assert isinstance(error, HTTPException)
        if _wants_json(request):
            return JSONResponse({"error": error.detail}, status_code=error.status_code,
                                headers=error.headers)
        return PlainTextResponse(error.detail, status_code=error.status_code,
                                 headers=error.headers)

    async def server_error(request: Request, error: Exception) -> Response:
        """Anything unexpected: a generic answer (uvicorn logs the traceback)."""
        message = "the dashboard failed on this request; its log says why"
        if _wants_json(request):
            return _problem(500, message)
        return PlainTextResponse(f"Internal Server Error: {message}", status_code=500)

    class Gate(BaseHTTPMiddleware):
        async def dispatch(self, request: Request, call_next: RequestResponseEndpoint
                           ) -> Response:
            path = request.url.path
            if path in UNGATED or path.startswith("/static/"):
                return await call_next(request)
            if not gate.allows(request.headers.get("authorization"),
                               request.cookies.get(COOKIE)):
                if request.method == "GET" and not path.startswith("/api/"):
                    return RedirectResponse(f"/login?next={_safe_next(path)}", status_code=303)
                return _problem(401, "sign in at /login, or send Authorization: Bearer <token>")
            if request.method == "POST" and not _same_origin(request):
                return _problem(403, "cross-site request refused")
            return await call_next(request)

    routes = [
        Route("/", live),
        Route("/api/stream", stream),
        Route("/api/snapshot", snapshot),
        Route("/api/{kind:str}", command, methods=["POST"]),
        Route("/history", history_page),
        Route("/history/csv.zip", history_csv),
        Route("/history/csv/{name:str}.csv", history_csv),
        Route("/login", login_page, methods=["GET"]),
        Route("/login", login, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/healthz", health),
        Route("/sw.js", service_worker),
        Route("/manifest.webmanifest", manifest),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]
    app = Starlette(
        routes=routes, lifespan=lifespan,
        middleware=[Middleware(TrustedHostMiddleware, allowed_hosts=allowed_hosts(config),
                               www_redirect=False),
                    Middleware(Gate)],
        exception_handlers={HTTPException: http_error, Exception: server_error})
    app.state.hub = hub
    app.state.bridge = mqtt_bridge
    app.state.supervised = supervised
    return app


def allowed_hosts(config: Config) -> list[str]:
    """The Host headers answered (their host part, as TrustedHostMiddleware compares it):
    the loopback names, [dashboard] host unless it is every address, allowed_hosts."""
    hosts = list(LOOPBACK_HOSTS)
    for name in (config.dashboard.host, *config.dashboard.allowed_hosts):
        try:
            address = ipaddress.ip_address(name)
        except ValueError:
            host = name.lower()
        else:
            if address.is_unspecified:  # 0.0.0.0, ::: no one name for this machine
                continue
            host = f"[{address.compressed}]" if address.version == 6 else address.compressed
        if host not in hosts:
            hosts.append(host)
    return hosts


def _wants_json(request: Request) -> bool:
    """Scripts and the page's fetches: errors as JSON, like the routes' own."""
    path = request.url.path
    return path.startswith(("/api/", "/history/csv")) or path == "/healthz"


def _problem(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def _desk_key(value: object) -> DeskKey | None:
    if not isinstance(value, str) or value.count("/") != 1:
        return None
    site, desk = value.split("/")
    if not (re.fullmatch(SEGMENT, site) and re.fullmatch(SEGMENT, desk)):
        return None
    return DeskKey(site, desk)


def _range_params(request: Request) -> tuple[str | None, date | None, date | None]:
    """desk, from and to of the query string; ValueError names a bad date."""
    params = request.query_params
    days = []
    for name in ("from", "to"):
        text = params.get(name, "").strip()
        try:
            days.append(date.fromisoformat(text) if text else None)
        except ValueError:
            raise ValueError(f"{name}: expected a date YYYY-MM-DD, got {text[:40]!r}") from None
    return params.get("desk") or None, days[0], days[1]


def _download(filename: str) -> dict[str, str]:
    return {"Content-Disposition": f'attachment; filename="{filename}"'}


def _next(request: Request) -> str:
    return _safe_next(request.query_params.get("next", "/"))


def _safe_next(path: str) -> str:
    """Only a path on this site (no //host, no scheme): nowhere else to send people."""
    return path if path.startswith("/") and not path.startswith("//") else "/"


def _same_origin(request: Request) -> bool:
    """A POST from our own pages: its Origin (browsers send one) is this host."""
    origin = request.headers.get("origin")
    if origin is None:
        return True  # not a browser (curl, a script with the bearer token)
    return origin.split("://", 1)[-1] == request.headers.get("host")


def _client(request: Request) -> str:
    return request.client.host if request.client else "?"
