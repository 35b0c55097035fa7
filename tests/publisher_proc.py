"""An MqttPublisher in a process of its own, for the tests that kill the agent.

    python tests/publisher_proc.py '{"mqtt": {...MqttConfig...}, "desk": {...DeskConfig...}}'

Prints "started" once running, then reads one command per line on stdin and answers
one line on stdout:
    alert <id>     publish_alert(...) with that id -> "enqueued <id>" (in the outbox)
    drain <secs>   wait until the outbox is empty   -> "drained" or "not drained"
    stop           stop()                            -> "stopped", and exit
Logs go to stderr.
"""

from __future__ import annotations

import json
import logging
import sys

from edge.config import DeskConfig, MqttConfig
from edge.publish import MqttPublisher


def alert(alert_id: str, t: float) -> dict[str, object]:
    return {"t": t, "event": "alert", "id": alert_id, "kind": "numbness",
            "site": "peroneal_left", "posture": "crossed_left_over_right",
            "time_to_numbness_s": 120.0, "message": "Uncross your legs."}


def main() -> None:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(threadName)s %(levelname)s %(message)s")
    settings = json.loads(sys.argv[1])
    publisher = MqttPublisher(MqttConfig(**settings["mqtt"]), DeskConfig(**settings["desk"]))
    publisher.start()
    print("started", flush=True)
    for t, line in enumerate(sys.stdin):
        command, _, argument = line.strip().partition(" ")
        if command == "alert":
            print("enqueued", publisher.publish_alert(alert(argument, float(t))), flush=True)
        elif command == "drain":
            done = publisher.wait_until_sent(float(argument))
            print("drained" if done else "not drained", flush=True)
        elif command == "stop":
            publisher.stop()
            print("stopped", flush=True)
            return
        else:
            raise SystemExit(f"unknown command {line!r}")


if __name__ == "__main__":
    main()
