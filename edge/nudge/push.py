"""Push notifications through Apprise: ntfy, Gotify, Pushover, Home Assistant, e-mail, ...

Owns the [notify] URLs: which ones Apprise can use, and how they are shown (redacted,
as Apprise prints them with privacy on: passwords and tokens masked).
"""

from __future__ import annotations

import functools

import apprise


@functools.lru_cache(maxsize=256)
def _plugin(url: str) -> apprise.NotifyBase | None:
    try:
        return apprise.Apprise.instantiate(url, suppress_exceptions=True) or None
    except Exception:  # noqa: BLE001 - a URL no plugin takes is just not usable
        return None


def usable_url(url: str) -> bool:
    """Whether Apprise knows the service `url` names and can parse it."""
    return _plugin(url) is not None


def redacted_url(url: str) -> str:
    """`url` for a log line or check-config: its service and host, its secrets masked. A URL
    Apprise cannot parse shows its scheme only."""
    plugin = _plugin(url)
    if plugin is None:
        scheme = url.split("://", 1)[0] if "://" in url else ""
        return f"{scheme[:20]}://*** (not an Apprise URL)" if scheme.isalnum() else "***"
    return str(plugin.url(privacy=True)).split("?", 1)[0]
