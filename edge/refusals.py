"""Bad input refused at a boundary: counted, and logged without flooding the log.

Owns the bookkeeping every process that takes messages from others shares (the agent's
commands, the dashboard's feed, the collector): each refusal is counted, in all and per
topic, and logged with its reason at most once per `every_s` per topic, with the number
refused there since the last line. Anyone on the broker can send a flood of bad
messages, so the per-topic memory is bounded too (the topic heard from least recently
is forgotten first).

Must not touch: what a message means or why it is bad (the caller's reason says).
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

LOG_EVERY_S = 60.0
TOPICS_KEPT = 1000
SHOWN_CHARS = 200  # of a reason, in the log


@dataclass(slots=True)
class _Topic:
    logged_at: float
    unlogged: int = 0


def reason_of(error: BaseException,
              ours: type[BaseException] | tuple[type[BaseException], ...] = ValueError) -> str:
    """Why a message was refused, from what its handling raised: our own errors (`ours`)
    say it in words; anything else is named with its type, so a surprise shows as one."""
    return str(error) if isinstance(error, ours) else f"{type(error).__name__}: {error}"


class Refusals:
    """Refused messages of one boundary (`what`, e.g. "command", "message")."""

    def __init__(self, logger: logging.Logger, what: str, *, every_s: float = LOG_EVERY_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.logger = logger
        self.what = what
        self.every_s = every_s
        self.clock = clock
        self.total = 0
        self._topics: OrderedDict[str, _Topic] = OrderedDict()

    def refuse(self, topic: str, reason: str) -> None:
        """Count one refused message on `topic`; log it unless this topic was logged lately."""
        self.total += 1
        now = self.clock()
        seen = self._topics.get(topic)
        if seen is not None and now - seen.logged_at < self.every_s:
            seen.unlogged += 1
            self._topics.move_to_end(topic)
            return
        also = f" (and {seen.unlogged} more here since the last line)" if seen and \
            seen.unlogged else ""
        self.logger.warning("refused a %s on %s: %s%s; %d refused in all", self.what,
                            topic[:SHOWN_CHARS], reason[:SHOWN_CHARS], also, self.total)
        self._topics[topic] = _Topic(logged_at=now)
        self._topics.move_to_end(topic)
        while len(self._topics) > TOPICS_KEPT:
            self._topics.popitem(last=False)
