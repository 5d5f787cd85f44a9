"""The browser session's cookie slides (expires a lifetime after the last
request) but is re-sent only when it changed or is older than a minute."""

from __future__ import annotations

from datetime import timedelta

from flask import Flask, session

from metacrm.platform import sessions
from metacrm.platform.sessions import SlidingSessionInterface


def app_of() -> Flask:
    app = Flask("sessions")
    app.secret_key = "test"
    app.session_interface = SlidingSessionInterface()
    app.permanent_session_lifetime = timedelta(hours=12)

    @app.post("/sign-in")
    def sign_in():
        session.permanent = True
        session["uid"] = 7
        return "in"

    @app.get("/page")
    def page():
        return str(session.get("uid"))

    @app.post("/change")
    def change():
        session["app"] = "sales"
        return "changed"

    return app


def test_a_fresh_cookie_is_not_re_sent_an_old_or_changed_one_is(monkeypatch):
    client = app_of().test_client()
    assert "Set-Cookie" in client.post("/sign-in").headers
    fresh = client.get("/page")
    assert fresh.get_data(as_text=True) == "7" and "Set-Cookie" not in fresh.headers
    assert "Set-Cookie" in client.post("/change").headers  # changed: sent at once
    monkeypatch.setattr(sessions, "REFRESH_AFTER", 0)  # the cookie is now "old": sliding it re-sends it
    old = client.get("/page")
    assert "Set-Cookie" in old.headers and "Expires=" in old.headers["Set-Cookie"]
    assert old.get_data(as_text=True) == "7"


def test_a_tampered_or_expired_cookie_is_an_empty_session():
    app = app_of()
    client = app.test_client()
    client.post("/sign-in")
    client.set_cookie("session", "forged.value.sig")
    assert client.get("/page").get_data(as_text=True) == "None"
    client.post("/sign-in")
    app.permanent_session_lifetime = timedelta(seconds=-1)  # every cookie is past its lifetime
    assert client.get("/page").get_data(as_text=True) == "None"
