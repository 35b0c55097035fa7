"""Push notifications through Apprise: ntfy, Gotify, Pushover, Home Assistant, e-mail, ...

Owns the delivery of alerts to the [notify] URLs: a durable queue in SQLite
(`[notify] queue_path`) with retries and backoff, as the MQTT outbox has, and one
delivery thread per URL. The queue stores a digest of each URL, never the URL itself, so
no secret lands in it; what a URL looks like in a log line is edge/nudge/urls.py's.
"""

from __future__ import annotations

import hashlib
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import apprise

if TYPE_CHECKING:
    from edge.config import NotifyConfig

from edge.logs import quiet_secret_loggers
from edge.nudge import AlertChannel
from edge.nudge.urls import Redacting, redacted_url

log = logging.getLogger(__name__)


# --- the queue -------------------------------------------------------------------------------

_CREATE = """
CREATE TABLE IF NOT EXISTS [pushes] (
    [seq] INTEGER PRIMARY KEY AUTOINCREMENT,
    [url_key] TEXT NOT NULL,
    [alert_id] TEXT NOT NULL,
    [title] TEXT NOT NULL,
    [body] TEXT NOT NULL,
    [kind] TEXT NOT NULL,
    [enqueued_at] REAL NOT NULL,
    [attempts] INTEGER NOT NULL DEFAULT 0,
    UNIQUE ([url_key], [alert_id])
)
"""


HEAD_ATTEMPTS = 5
"""Failed attempts after which a notification lets the newer ones of its URL go first."""


def url_key(url: str) -> str:
    """What the queue stores in place of a URL (which holds secrets): a digest of it."""
    return hashlib.sha256(url.encode("utf-8")).hexdigest()[:20]


@dataclass(frozen=True, slots=True)
class Push:
    """One notification waiting for one URL."""

    seq: int
    url_key: str
    alert_id: str
    title: str
    body: str
    kind: str
    enqueued_at: float  # time.time()
    attempts: int


class PushQueue:
    """Notifications kept in SQLite from before they are sent until their service took them:
    one row per (URL, alert), so a service that is down holds back only its own. Committed
    before `put` returns; thread-safe (one connection behind a lock)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode = WAL")
        self._db.execute("PRAGMA synchronous = FULL")
        self._db.execute(_CREATE)
        self._lock = threading.Lock()

    def put(self, keys: list[str], alert_id: str, title: str, body: str, kind: str,
            at: float) -> None:
        with self._lock:
            self._db.executemany(
                "INSERT OR IGNORE INTO pushes (url_key, alert_id, title, body, kind,"
                " enqueued_at) VALUES (?, ?, ?, ?, ?, ?)",
                [(key, alert_id, title, body, kind, at) for key in keys])

    def oldest(self, key: str) -> Push | None:
        """The next to send to one URL: the oldest, unless it failed HEAD_ATTEMPTS times
        already; then those that failed less go first, so one notification the service
        keeps refusing holds back the others for a few attempts only."""
        with self._lock:
            row = self._db.execute(
                "SELECT seq, url_key, alert_id, title, body, kind, enqueued_at, attempts"
                " FROM pushes WHERE url_key = ? ORDER BY attempts >= ?, seq LIMIT 1",
                (key, HEAD_ATTEMPTS)).fetchone()
        return Push(*row) if row else None

    def done(self, seq: int) -> None:
        with self._lock:
            self._db.execute("DELETE FROM pushes WHERE seq = ?", (seq,))

    def failed(self, seq: int) -> None:
        with self._lock:
            self._db.execute("UPDATE pushes SET attempts = attempts + 1 WHERE seq = ?", (seq,))

    def expire(self, key: str, before: float) -> int:
        """Drop what waited for one URL since before `before`; how many."""
        with self._lock:
            return self._db.execute("DELETE FROM pushes WHERE url_key = ? AND enqueued_at < ?",
                                    (key, before)).rowcount

    def forget_others(self, keys: list[str]) -> int:
        """Drop what waits for URLs no longer configured; how many."""
        with self._lock:
            marks = ",".join("?" * len(keys))
            return self._db.execute(f"DELETE FROM pushes WHERE url_key NOT IN ({marks})",
                                    keys).rowcount

    def __len__(self) -> int:
        with self._lock:
            return self._db.execute("SELECT count(*) FROM pushes").fetchone()[0]

    def close(self) -> None:
        with self._lock:
            self._db.close()


# --- delivery --------------------------------------------------------------------------------


def notification(alert: Mapping[str, Any]) -> tuple[str, str]:
    """The title and body a person reads on the lock screen."""
    if alert.get("kind") == "break":
        return "legwake: time for a break", str(alert.get("message", ""))
    site = str(alert.get("site") or "")
    side = site.rsplit("_", 1)[1] if "_" in site else ""
    title = f"legwake: your {side} leg" if side in ("left", "right") else "legwake: your legs"
    return title, str(alert.get("message", ""))


class PushSink(AlertChannel):
    """Pushes the alerts the agent decides to every [notify] URL (a `Sink` of edge.agent).

    `event` only writes the queue; one thread per URL delivers, oldest first, retrying a
    failure after `retry_initial_s` doubling up to `retry_max_s`, so a service that is
    down gets its notifications when it is back and never holds up the agent or another
    service. `start()` before, `stop()` after; what is left is sent after the next start.
    """

    def __init__(self, settings: NotifyConfig, *, clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.clock = clock
        self.delivered = 0
        self.failures = 0
        self.lost = 0  # alerts that could not be queued
        self._urls = {url_key(url): url for url in settings.urls}
        self._queue: PushQueue | None = None
        self._stopping = threading.Event()
        self._wakes = {key: threading.Event() for key in self._urls}
        self._threads: list[threading.Thread] = []
        self._counts = threading.Lock()
        self._filter: logging.Filter | None = None

    def start(self) -> None:
        if not self._urls:
            return
        quiet_secret_loggers()
        self._filter = Redacting(list(self._urls.values()))
        logging.getLogger("apprise").addFilter(self._filter)
        self._queue = PushQueue(self.settings.queue_path)
        dropped = self._queue.forget_others(list(self._urls))
        if dropped:
            log.info("notify queue: %d notification(s) for URLs no longer configured dropped",
                     dropped)
        if pending := len(self._queue):
            log.info("notify queue: %d notification(s) from before are sent first", pending)
        for key, url in self._urls.items():
            thread = threading.Thread(target=self._deliver, args=(key, url), daemon=True,
                                      name=f"push {redacted_url(url)}")
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop the delivery threads (one deadline for all); a push still under way when it
        passes is left to finish on its own (the threads are daemons) and the queue is
        left open for it, so a delivered push is not sent again at the next start."""
        self._stopping.set()
        for wake in self._wakes.values():
            wake.set()
        deadline = time.monotonic() + timeout_s
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        busy = [t.name for t in self._threads if t.is_alive()]
        if self._queue is not None:
            left = len(self._queue)
            if not busy:
                self._queue.close()
            if left:
                log.info("notify queue: %d notification(s) wait for the next start", left)
        if busy:
            log.warning("%s still sending at the stop", ", ".join(busy))
        if self._filter is not None:
            logging.getLogger("apprise").removeFilter(self._filter)
            self._filter = None

    @property
    def pending(self) -> int:
        return len(self._queue) if self._queue is not None else 0

    # --- the agent's side ---------------------------------------------------------------

    def event(self, event: dict[str, Any]) -> None:
        """Queue an alert for every URL. Never raises: a queue that cannot be written (a
        full disk, a file locked by another agent) loses this push, logged, and nothing
        else: MQTT already has the alert, and the other channels come after."""
        if (self._queue is None or event.get("event") != "alert"
                or event.get("kind") not in self.settings.kinds):
            return
        title, body = notification(event)
        try:
            self._queue.put(list(self._urls), str(event["id"]), title, body,
                            str(event["kind"]), self.clock())
        except sqlite3.Error as error:
            with self._counts:
                self.lost += 1
            log.error("notify queue %s: cannot queue alert %s (%s); it is not pushed",
                      self.settings.queue_path, event.get("id"), error)
            return
        for wake in self._wakes.values():
            wake.set()

    # --- one thread per URL -------------------------------------------------------------

    def _deliver(self, key: str, url: str) -> None:
        """One URL's thread: it never ends before the stop. Anything unexpected (the queue's
        file failing) is logged and retried after the backoff."""
        shown = redacted_url(url)
        errors = 0
        while not self._stopping.is_set():
            try:
                self._deliver_some(key, url, shown)
                errors = 0
            except Exception as error:  # noqa: BLE001 - the thread must outlive it
                errors += 1
                log.error("push to %s: %s: %s; retrying", shown, type(error).__name__, error)
                self._stopping.wait(min(self.settings.retry_max_s,
                                        self.settings.retry_initial_s * 2 ** min(errors, 30)))

    def _deliver_some(self, key: str, url: str, shown: str) -> None:
        service = apprise.Apprise()
        service.add(url)
        failures = 0
        wake = self._wakes[key]
        while not self._stopping.is_set():
            queue = self._queue
            assert queue is not None
            expired = queue.expire(key, self.clock() - self.settings.expire_h * 3600)
            if expired:
                log.warning("push to %s: %d notification(s) older than %g h dropped", shown,
                            expired, self.settings.expire_h)
            push = queue.oldest(key)
            if push is None:
                wake.wait(60.0)
                wake.clear()
                continue
            if self._send(service, push):
                queue.done(push.seq)
                log.info("pushed to %s: %s", shown, push.title, extra={"alert": push.alert_id})
                with self._counts:
                    self.delivered += 1
                if failures:
                    log.info("push to %s works again after %d failed attempt(s)", shown,
                             failures)
                failures = 0
                continue
            queue.failed(push.seq)
            failures += 1
            with self._counts:
                self.failures += 1
            delay = min(self.settings.retry_max_s,
                        self.settings.retry_initial_s * 2 ** min(failures - 1, 30))
            if failures == 1 or failures % 10 == 0:
                log.warning("push to %s failed (%d attempt(s)); retrying in %g s, %d waiting",
                            shown, failures, delay, len(queue))
            self._stopping.wait(delay)

    def _send(self, service: apprise.Apprise, push: Push) -> bool:
        kind = apprise.NotifyType.WARNING if push.kind == "numbness" else apprise.NotifyType.INFO
        try:
            return bool(service.notify(body=push.body, title=push.title, notify_type=kind))
        except Exception as error:  # noqa: BLE001 - a plugin's failure is a failed push
            log.debug("push: %s", type(error).__name__)
            return False
