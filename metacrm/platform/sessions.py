"""The browser session's cookie: Flask's signed cookie, re-sent less often.

A permanent session slides: each response re-signs the cookie so that it
expires ``PERMANENT_SESSION_LIFETIME`` after the last request. Flask does
that on every response, which costs a signature and a ``Set-Cookie`` on each
of the screens' many small htmx requests (a list page's keystrokes). Here the
cookie is re-sent when it changed, or when it is older than
:data:`REFRESH_AFTER`: the session still expires within that much of the
lifetime after the last request.
"""

from __future__ import annotations

import time

from flask import Flask, Request
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from itsdangerous import BadSignature

REFRESH_AFTER = 60  # seconds


class SlidingSession(SecureCookieSession):
    issued_at: float | None = None  # when the cookie it was read from was signed


class SlidingSessionInterface(SecureCookieSessionInterface):
    session_class = SlidingSession

    def open_session(self, app: Flask, request: Request) -> SlidingSession | None:
        cookie = request.cookies.get(self.get_cookie_name(app))
        if not cookie:  # an API call with a token: no signer to build
            return self.session_class() if app.secret_key else None
        serializer = self.get_signing_serializer(app)
        if serializer is None:
            return None
        max_age = int(app.permanent_session_lifetime.total_seconds())
        try:
            data, signed_at = serializer.loads(cookie, max_age=max_age, return_timestamp=True)
        except BadSignature:
            return self.session_class()
        session = self.session_class(data)
        session.issued_at = signed_at.timestamp()
        return session

    def should_set_cookie(self, app: Flask, session: SlidingSession) -> bool:
        if session.modified:
            return True
        if not session.permanent:
            return False
        return session.issued_at is None or time.time() - session.issued_at >= REFRESH_AFTER
