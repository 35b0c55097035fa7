"""edge/outbox.py against real SQLite files: order, ids, restarts, a crash, two threads."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from edge.outbox import Outbox, OutboxMessage

ROOT = Path(__file__).resolve().parent.parent


def put(outbox: Outbox, message_id: str, topic: str = "legwake/o/d/alert") -> OutboxMessage:
    return outbox.put(id=message_id, topic=topic, payload=f'{{"id":"{message_id}"}}',
                      enqueued_at="2026-01-01T00:00:00.000Z")


def test_messages_wait_in_order_until_marked_sent(tmp_path: Path) -> None:
    with Outbox(tmp_path / "outbox.db") as outbox:
        stored = [put(outbox, f"m{i}") for i in range(5)]
        assert [m.seq for m in stored] == sorted(m.seq for m in stored)
        assert [m.id for m in outbox.pending()] == ["m0", "m1", "m2", "m3", "m4"]
        assert [m.id for m in outbox.pending(after_seq=stored[1].seq, limit=2)] == ["m2", "m3"]
        assert outbox.mark_sent([stored[0].seq, stored[2].seq]) == 2
        assert outbox.mark_sent([stored[0].seq]) == 0  # a PUBACK seen twice
        assert outbox.mark_sent([]) == 0
        assert [m.id for m in outbox.pending()] == ["m1", "m3", "m4"]
        assert len(outbox) == 3
        message = outbox.pending(limit=1)[0]
        assert message == OutboxMessage(seq=stored[1].seq, id="m1", topic="legwake/o/d/alert",
                                        payload='{"id":"m1"}', qos=1, retain=False,
                                        enqueued_at="2026-01-01T00:00:00.000Z")


def test_seq_is_never_reused_after_the_last_message_leaves(tmp_path: Path) -> None:
    path = tmp_path / "outbox.db"
    with Outbox(path) as outbox:
        last = put(outbox, "a")
        outbox.mark_sent([last.seq])
        assert len(outbox) == 0
    with Outbox(path) as outbox:  # and not after a restart either (AUTOINCREMENT)
        assert put(outbox, "b").seq > last.seq


def test_the_same_id_is_stored_once(tmp_path: Path) -> None:
    with Outbox(tmp_path / "outbox.db") as outbox:
        first = put(outbox, "same")
        again = outbox.put(id="same", topic="other", payload="{}", enqueued_at="later")
        assert again == first
        assert len(outbox) == 1


def test_messages_survive_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "deeper" / "outbox.db"  # the directory is created
    with Outbox(path) as outbox:
        for i in range(3):
            put(outbox, f"m{i}")
        outbox.mark_sent([outbox.pending()[0].seq])
    with Outbox(path) as outbox:
        assert [m.id for m in outbox.pending()] == ["m1", "m2"]


def test_wal_one_table_and_durable_commits(tmp_path: Path) -> None:
    path = tmp_path / "outbox.db"
    with Outbox(path) as outbox:
        put(outbox, "m")
        assert outbox._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert outbox._db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    with sqlite3.connect(path) as conn:
        tables = {row[0] for row in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'")}
        sql = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'outbox'").fetchone()[0]
    conn.close()
    assert tables == {"outbox", "sqlite_sequence"}
    assert "AUTOINCREMENT" in sql


def test_a_process_killed_after_put_loses_nothing(tmp_path: Path) -> None:
    path = tmp_path / "outbox.db"
    script = (
        "import os, signal, sys\n"
        "from edge.outbox import Outbox\n"
        "outbox = Outbox(sys.argv[1])\n"
        "for i in range(20):\n"
        "    outbox.put(id=f'm{i}', topic='t', payload='{}', enqueued_at='now')\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    done = subprocess.run([sys.executable, "-c", script, str(path)], cwd=ROOT, check=False)
    assert done.returncode == -9
    with Outbox(path) as outbox:
        assert [m.id for m in outbox.pending()] == [f"m{i}" for i in range(20)]


def test_two_threads_put_while_a_third_marks_sent(tmp_path: Path) -> None:
    with Outbox(tmp_path / "outbox.db") as outbox:
        sent: list[int] = []
        stop = threading.Event()

        def writer(name: str) -> None:
            for i in range(100):
                put(outbox, f"{name}{i}")

        def acknowledger() -> None:
            while not stop.is_set() or len(outbox):
                batch = outbox.pending(limit=7)
                outbox.mark_sent(m.seq for m in batch)
                sent.extend(m.seq for m in batch)

        threads = [threading.Thread(target=writer, args=(n,)) for n in "ab"]
        ack = threading.Thread(target=acknowledger)
        for thread in [*threads, ack]:
            thread.start()
        for thread in threads:
            thread.join()
        stop.set()
        ack.join()
        assert len(sent) == 200 and sent == sorted(sent)
        assert len(outbox) == 0


@pytest.mark.parametrize(("field", "value", "error"), [
    ("qos", 0, "QoS 1 or 2"),
    ("id", "", "id must not be empty"),
])
def test_bad_messages_are_refused(tmp_path: Path, field: str, value: object, error: str) -> None:
    arguments: dict[str, object] = {"id": "m", "topic": "t", "payload": "{}",
                                     "enqueued_at": "now", field: value}
    with Outbox(tmp_path / "outbox.db") as outbox, pytest.raises(ValueError, match=error):
        outbox.put(**arguments)  # type: ignore[arg-type]
