"""The MQTT outbox: QoS 1 messages kept in SQLite from before they are sent until PUBACK.

Owns one SQLite file (WAL, `synchronous = FULL`) with one table, `outbox`, strictly
ordered by an AUTOINCREMENT `seq` that is never reused. `put` commits a message before
it returns, so a message the caller handed over survives a broker outage, a crash and a
power cut; `mark_sent` deletes it once the broker has acknowledged it. A crash between
the two sends it again after the restart: delivery is at least once, and every message
carries an `id` (unique in the table) by which consumers drop duplicates.

Knows nothing of MQTT or paho (edge/publish.py drives it); thread-safe: one connection
behind a lock, so the caller's thread can `put` while the publisher's thread reads.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

from sqlite_utils import Database

__all__ = ["Outbox", "OutboxMessage"]

TABLE = "outbox"

# sqlite-utils' create() has no AUTOINCREMENT; without it SQLite may reuse the seq of a
# deleted last row. With it, seq only grows, so the order survives restarts and deletes.
_CREATE = f"""
CREATE TABLE IF NOT EXISTS [{TABLE}] (
    [seq] INTEGER PRIMARY KEY AUTOINCREMENT,
    [id] TEXT NOT NULL UNIQUE,
    [topic] TEXT NOT NULL,
    [payload] TEXT NOT NULL,
    [qos] INTEGER NOT NULL,
    [retain] INTEGER NOT NULL,
    [enqueued_at] TEXT NOT NULL
)
"""


@dataclass(frozen=True, slots=True)
class OutboxMessage:
    """One message waiting for its PUBACK. `payload` is the JSON text as published."""

    seq: int
    id: str
    topic: str
    payload: str
    qos: int
    retain: bool
    enqueued_at: str  # ISO 8601 UTC, when it was put

    def __post_init__(self) -> None:
        if self.seq < 1:
            raise ValueError(f"seq must be >= 1, got {self.seq}")
        if not self.id:
            raise ValueError("id must not be empty")
        if self.qos not in (1, 2):
            raise ValueError(f"an outbox message has QoS 1 or 2, got {self.qos}")


class Outbox:
    """The SQLite outbox at `path` (created when missing, with its parent directory)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # One connection shared by the caller's and the publisher's threads, serialised
        # by self._lock (sqlite3 objects are not safe to use from two threads at once).
        conn = sqlite3.connect(self.path, check_same_thread=False)
        self._lock = threading.Lock()
        self._db = Database(conn)
        try:
            self._db.enable_wal()
            # FULL: a commit is on disk when put() returns, power cut included (NORMAL
            # in WAL mode survives a crash of the process but not of the machine).
            self._db.execute("PRAGMA synchronous = FULL")
            with conn:
                conn.execute(_CREATE)
        except BaseException:
            conn.close()
            raise
        self._table = self._db.table(TABLE)

    def put(self, *, id: str, topic: str, payload: str, enqueued_at: str, qos: int = 1,
            retain: bool = False) -> OutboxMessage:
        """Store a message (committed on return) and give it its place in the order.

        Putting an `id` that is still waiting changes nothing and returns the stored
        message: handing the same message over twice sends it once.
        """
        if qos not in (1, 2):
            raise ValueError(f"an outbox message has QoS 1 or 2, got {qos}")
        if not id:
            raise ValueError("id must not be empty")
        record = {"id": id, "topic": topic, "payload": payload, "qos": qos,
                  "retain": int(retain), "enqueued_at": enqueued_at}
        with self._lock:
            self._table.insert(record, ignore=True)  # commits; ignore: the id is UNIQUE
            row = next(self._table.rows_where("id = ?", [id]))
        return _message(row)

    def pending(self, *, after_seq: int = 0, limit: int | None = None) -> list[OutboxMessage]:
        """Messages not yet acknowledged with seq > after_seq, oldest first."""
        with self._lock:
            rows = list(self._table.rows_where("seq > ?", [after_seq], order_by="seq",
                                               limit=limit))
        return [_message(row) for row in rows]

    def mark_sent(self, seqs: Iterable[int]) -> int:
        """The broker acknowledged these: they leave the outbox. Returns how many left."""
        seqs = list(seqs)
        if not seqs:
            return 0
        with self._lock, self._db.conn:
            cursor = self._db.conn.executemany(f"DELETE FROM [{TABLE}] WHERE seq = ?",
                                               [(seq,) for seq in seqs])
            return cursor.rowcount

    def withdraw(self, message_id: str) -> bool:
        """A message not to be sent after all (one that a newer decision undoes); True if
        it was waiting."""
        with self._lock, self._db.conn:
            return self._db.conn.execute(f"DELETE FROM [{TABLE}] WHERE id = ?",
                                         (message_id,)).rowcount > 0

    def __len__(self) -> int:
        with self._lock:
            return self._table.count

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _message(row: dict[str, Any]) -> OutboxMessage:
    return OutboxMessage(seq=row["seq"], id=row["id"], topic=row["topic"],
                         payload=row["payload"], qos=row["qos"], retain=bool(row["retain"]),
                         enqueued_at=row["enqueued_at"])
