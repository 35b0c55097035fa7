"""Who may use the dashboard: everyone on this machine, or whoever holds the token.

Owns the access rule. Without `[dashboard] token` (only allowed on a loopback address,
see edge/config.py) every request passes. With it, a request passes with the header
`Authorization: Bearer <token>`, or with the session cookie a browser gets by signing in
once at /login. The cookie holds an HMAC of the token, never the token itself, and is
HttpOnly and SameSite=Strict; the token appears in no page and no log line.

Must not touch: what the pages show, or MQTT.
"""

from __future__ import annotations

import hashlib
import hmac

COOKIE = "legwake_session"
_SESSION_LABEL = b"legwake dashboard session v1"


class TokenGate:
    def __init__(self, token: str) -> None:
        self._token = token.encode("utf-8")
        self._session = hmac.new(self._token, _SESSION_LABEL, hashlib.sha256).hexdigest() \
            if token else ""

    @property
    def required(self) -> bool:
        return bool(self._token)

    @property
    def session_value(self) -> str:
        """The cookie value for a browser that signed in."""
        return self._session

    def token_matches(self, given: str) -> bool:
        return self.required and hmac.compare_digest(given.encode("utf-8"), self._token)

    def allows(self, authorization: str | None, cookie: str | None) -> bool:
        """The request's Authorization header or session cookie is good (or none needed)."""
        if not self.required:
            return True
        if authorization and authorization.lower().startswith("bearer "):
            return self.token_matches(authorization[7:].strip())
        return bool(cookie) and hmac.compare_digest(cookie or "", self._session)
