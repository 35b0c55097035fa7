"""Push notifications through Apprise to a real local HTTP endpoint (json://): delivered
within a second, kept on disk and retried while the service is down, never a secret in a
log line or in check-config."""

from __future__ import annotations

import logging
import time

import pytest

from edge.config import Config, NotifyConfig, config_to_toml
from edge.nudge.push import PushQueue, PushSink, notification, url_key
from edge.nudge.urls import redacted_url
from tests.push_endpoint import PushEndpoint

SECRET = "s3cret-Passw0rd"


def alert(n: int, kind: str = "numbness") -> dict:
    return {"event": "alert", "id": f"A-{n}", "kind": kind,
            "site": "peroneal_left" if kind == "numbness" else None,
            "message": f"Uncross your legs: your left leg may fall asleep in about {n} min."}


def until(condition, timeout_s: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def settings(tmp_path, *urls: str, **overrides) -> NotifyConfig:
    values = {"urls": urls, "queue_path": str(tmp_path / "notify.db"),
              "retry_initial_s": 0.2, "retry_max_s": 1.0, **overrides}
    return NotifyConfig(**values)


def test_an_alert_reaches_the_endpoint_within_a_second(tmp_path):
    with PushEndpoint() as endpoint:
        sink = PushSink(settings(tmp_path, endpoint.url()))
        sink.start()
        try:
            sent = time.perf_counter()
            sink.event(alert(3))
            assert endpoint.wait_for(1, timeout_s=5)
            arrived, path, body = endpoint.received[0]
            assert arrived - sent < 1.0
            assert path == "/notify"
            assert body["title"] == "legwake: your left leg"
            assert body["message"].startswith("Uncross your legs")
            assert body["type"] == "warning"
            assert until(lambda: sink.pending == 0)
        finally:
            sink.stop()


def test_only_the_configured_kinds_are_pushed(tmp_path):
    with PushEndpoint() as endpoint:
        sink = PushSink(settings(tmp_path, endpoint.url(), kinds=("break",)))
        sink.start()
        try:
            sink.event(alert(1))
            sink.event(alert(2, "break"))
            sink.event({"event": "break", "phase": "start", "id": "e1"})
            assert endpoint.wait_for(1, timeout_s=5)
            time.sleep(0.3)
            assert [body["title"] for _, _, body in endpoint.received] == [
                "legwake: time for a break"]
        finally:
            sink.stop()


def test_a_service_that_is_down_gets_everything_when_it_is_back_in_order(tmp_path):
    endpoint = PushEndpoint()  # not started: the service is down
    sink = PushSink(settings(tmp_path, endpoint.url()))
    sink.start()
    try:
        for n in range(1, 4):
            sink.event(alert(n))
        time.sleep(1.5)
        assert sink.failures >= 2 and sink.pending == 3  # retried, nothing lost
        endpoint.start()
        assert endpoint.wait_for(3, timeout_s=5)
        assert [body["message"][-8:] for _, _, body in endpoint.received] == [
            "t 1 min.", "t 2 min.", "t 3 min."]
        assert until(lambda: sink.pending == 0)
    finally:
        sink.stop()
        endpoint.stop()


def test_the_queue_survives_a_restart_and_one_dead_service_holds_back_no_other(tmp_path):
    with PushEndpoint() as alive:
        dead = PushEndpoint()
        config = settings(tmp_path, dead.url(), alive.url())
        first = PushSink(config)
        first.start()
        first.event(alert(1))
        assert alive.wait_for(1, timeout_s=5)  # not held up by the dead one
        assert until(lambda: first.pending == 1)
        first.stop()
        assert len(PushQueue(config.queue_path)) == 1  # the dead one's, kept on disk

        dead.start()
        try:
            second = PushSink(config)
            second.start()
            assert dead.wait_for(1, timeout_s=5)
            second.stop()
        finally:
            dead.stop()
        assert len(alive.received) == 1  # not sent twice


def test_the_queue_keeps_no_url_and_drops_what_waited_too_long(tmp_path):
    endpoint = PushEndpoint()
    url = endpoint.url(credentials=f"user:{SECRET}")
    queue = PushQueue(tmp_path / "q.db")
    queue.put([url_key(url)], "old", "t", "b", "numbness", at=time.time() - 7200)
    queue.put([url_key(url)], "new", "t", "b", "numbness", at=time.time())
    queue.close()
    assert SECRET.encode() not in (tmp_path / "q.db").read_bytes()
    queue = PushQueue(tmp_path / "q.db")
    assert queue.expire(url_key(url), time.time() - 3600) == 1
    assert queue.oldest(url_key(url)).alert_id == "new"
    queue.close()


def test_secrets_in_urls_are_redacted_in_logs_and_check_config(tmp_path, caplog):
    endpoint = PushEndpoint()  # down: the failures are logged
    url = endpoint.url(credentials=f"user:{SECRET}")
    caplog.set_level(logging.DEBUG)
    # Telegram's token is in the path of the URL Apprise posts to, which it logs at DEBUG,
    # and urllib3 too; an ntfy topic is all it takes to read an ntfy.sh topic.
    token = f"123456789:{SECRET}"
    sink = PushSink(settings(tmp_path, url, f"ntfy://user:{SECRET}@ntfy.invalid/topic",
                             f"tgram://{token}/987654321", f"ntfy://{SECRET}-topic"))
    sink.start()
    try:
        sink.event(alert(1))
        assert until(lambda: sink.failures >= 4, timeout_s=20)  # each service tried
    finally:
        sink.stop()
    assert "push to json://user:****@127.0.0.1" in caplog.text
    assert "push to tgram://" in caplog.text and "push to ntfys://s3***" in caplog.text
    assert SECRET not in caplog.text

    shown = config_to_toml(Config(notify=settings(tmp_path, url)), redact=True)
    assert SECRET not in shown and "json://user:****@127.0.0.1" in shown
    assert SECRET not in redacted_url(url)
    with pytest.raises(ValueError) as refused:
        NotifyConfig(urls=(f"nosuchservice://{SECRET}@host",))
    assert SECRET not in str(refused.value) and "nosuchservice://***" in str(refused.value)


def test_what_a_person_reads():
    assert notification(alert(2, "break"))[0] == "legwake: time for a break"
    assert notification({**alert(1), "site": "sciatic_right"})[0] == "legwake: your right leg"


def test_check_config_and_diagnose_show_push_urls_with_their_secrets_masked(tmp_path):
    from click.testing import CliRunner

    from edge.cli import main

    path = tmp_path / "config.toml"
    path.write_text(f'[notify]\nurls = ["json://user:{SECRET}@127.0.0.1:9/x",'
                    f' "gotify://push.invalid/{SECRET}"]\n'
                    f'queue_path = "{tmp_path / "notify.db"}"\n')
    path.chmod(0o644)
    for args in (["check-config", str(path)], ["diagnose", "--config", str(path)]):
        result = CliRunner().invoke(main, args)
        shown = result.output + (result.stderr if result.stderr_bytes else "")
        assert SECRET not in shown, args
        assert "json://user:****@127.0.0.1:9/x" in shown, (args, shown)
        assert "[notify] urls is set in a file that others can read" in shown, args
