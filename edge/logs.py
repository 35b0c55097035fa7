"""Structured logs: one JSON object per line for journald and log shippers, or plain text.

Every record carries its time (UTC, ISO 8601), level, logger and message, plus
any `extra=` fields a caller adds (for example `source`, `alert_id`), so a log
line can be filtered by field rather than by parsing prose.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

from edge.timefmt import iso_utc

QUIET_LOGGERS = ("apprise", "urllib3")
"""Libraries that log request URLs (tokens in their paths) below WARNING: kept at WARNING."""


def quiet_secret_loggers() -> None:
    """Keep the libraries that log push services' request URLs at WARNING at least, whatever
    the log level: a Telegram or Discord token is in the path of the URL posted to."""
    for name in QUIET_LOGGERS:
        logger = logging.getLogger(name)
        logger.setLevel(max(logging.WARNING, logger.getEffectiveLevel()))


_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {"time": iso_utc(datetime.fromtimestamp(record.created, UTC)),
                 "level": record.levelname.lower(), "logger": record.name,
                 "message": record.getMessage()}
        entry |= {key: value for key, value in vars(record).items()
                  if key not in _STANDARD and not key.startswith("_")}
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure(log_format: str = "text", level: str = "info") -> None:
    """Route every logger to stderr in the chosen format ("text" or "json")."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else logging.Formatter(
        "%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("bumble", "bleak"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
    quiet_secret_loggers()
