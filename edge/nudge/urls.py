"""Apprise URLs ([notify] urls): which ones Apprise can use, and how they are shown.

A URL names a push service and carries its secrets (tokens, passwords). It is shown as
Apprise prints it with privacy on (passwords and tokens masked, the query left out),
in our log lines, in Apprise's own (`Redacting`), and by `check-config` and `diagnose`.
Parsing a URL is all this module does: no connection is made.
"""

from __future__ import annotations

import functools
import logging

import apprise


@functools.lru_cache(maxsize=256)
def _plugin(url: str) -> apprise.NotifyBase | None:
    try:
        return apprise.Apprise.instantiate(url, suppress_exceptions=True) or None
    except Exception:  # noqa: BLE001 - a URL no plugin takes is just not usable
        return None


class Redacting(logging.Filter):
    """Apprise logs the URLs it loads at DEBUG, tokens and all: every configured URL in an
    Apprise log line is replaced by its redacted form, whatever the level."""

    def __init__(self, urls: list[str]) -> None:
        super().__init__()
        self.urls: dict[str, str] = {}
        for url in urls:
            plugin = _plugin(url)
            for form in (url, str(plugin.url(privacy=False)) if plugin else url):
                self.urls[form] = redacted_url(url)
                self.urls[form.split("?", 1)[0]] = redacted_url(url)

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        if any(form in text for form in self.urls):
            for form in sorted(self.urls, key=len, reverse=True):
                text = text.replace(form, self.urls[form])
            record.msg, record.args = text, ()
        return True


def usable_url(url: str) -> bool:
    """Whether Apprise knows the service `url` names and can parse it."""
    return _plugin(url) is not None


def redacted_url(url: str) -> str:
    """`url` for a log line or check-config: its service and host, its secrets masked. A URL
    Apprise cannot parse shows its scheme only. An ntfy topic is masked too: on a public
    ntfy server whoever knows the topic reads its notifications."""
    plugin = _plugin(url)
    if plugin is None:
        scheme = url.split("://", 1)[0] if "://" in url else ""
        return f"{scheme[:20]}://*** (not an Apprise URL)" if scheme.isalnum() else "***"
    shown = str(plugin.url(privacy=True)).split("?", 1)[0]
    for topic in getattr(plugin, "topics", None) or ():
        if isinstance(topic, str) and len(topic) > 2:
            shown = shown.replace(topic, topic[:2] + "***")
    return shown

