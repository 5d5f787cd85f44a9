"""Outbox deliveries never reach internal addresses unless allow-listed:
a refused webhook or e-mail fails at once with the reason, and a redirect
to a forbidden address is refused too."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from metacrm.platform.jobs import job_queue
from tests.rules.automation.test_outbox import Hook, _make_due


@pytest.fixture
def hook():
    server = Hook()
    yield server
    server.close()


@pytest.fixture
def redirector():
    """Answers every POST with a 302 to ``state["location"]`` (which urllib
    follows with a GET) and every GET with 200, counting them."""
    state = {"location": "", "gets": 0}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's name
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(302)
            self.send_header("Location", state["location"])
            self.end_headers()

        def do_GET(self):  # noqa: N802
            state["gets"] += 1
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    server.url = f"http://127.0.0.1:{server.server_port}/moved"
    server.state = state
    yield server
    server.shutdown()
    server.server_close()


def test_a_webhook_to_loopback_fails_at_once_without_the_allow_list(crm, hook):
    crm.rule("hook", f'WHEN created THEN WEBHOOK "{hook.url}"')
    crm.store().create("deal", {"name": "Probe"})
    (row,) = crm.outbox()
    assert row["status"] == "failed" and row["attempts"] == 1
    assert row["last_error"] == "refused: 127.0.0.1 is a loopback address and not in OUTBOUND_ALLOW"
    assert hook.requests == []
    _make_due(crm)
    job_queue(crm.instance).run_now("automation.retry")  # not retried: failed is final
    assert crm.outbox()[0]["attempts"] == 1 and hook.requests == []
    (delivery,) = [r for r in crm.runs() if r["trigger"] == "delivery"]
    assert delivery["result"] == "error" and delivery["error"].startswith("refused:")


def test_the_allow_list_lets_the_operator_reach_an_internal_address(crm, hook, monkeypatch):
    monkeypatch.setitem(crm.instance.config, "OUTBOUND_ALLOW", ["127.0.0.0/8"])
    crm.rule("hook", f'WHEN created THEN WEBHOOK "{hook.url}"')
    crm.store().create("deal", {"name": "Allowed"})
    assert [r["status"] for r in crm.outbox()] == ["delivered"] and len(hook.requests) == 1


def test_a_redirect_to_a_forbidden_address_is_refused(crm, hook, redirector, monkeypatch):
    # The first hop is allow-listed; the redirect points at another loopback
    # address that is not (a stand-in for 169.254.169.254 and the like).
    monkeypatch.setitem(crm.instance.config, "OUTBOUND_ALLOW", ["127.0.0.1/32"])
    redirector.state["location"] = redirector.url.replace("127.0.0.1", "127.0.0.2")
    crm.rule("hook", f'WHEN created THEN WEBHOOK "{redirector.url}"')
    crm.store().create("deal", {"name": "Bounced"})
    (row,) = crm.outbox()
    assert row["status"] == "failed"
    assert row["last_error"] == "refused: 127.0.0.2 is a loopback address and not in OUTBOUND_ALLOW"
    assert redirector.state["gets"] == 0


def test_a_redirect_to_an_allowed_address_is_followed(crm, redirector, monkeypatch):
    monkeypatch.setitem(crm.instance.config, "OUTBOUND_ALLOW", ["127.0.0.1/32"])
    redirector.state["location"] = redirector.url + "/landed"
    crm.rule("hook", f'WHEN created THEN WEBHOOK "{redirector.url}"')
    crm.store().create("deal", {"name": "Moved"})
    assert [r["status"] for r in crm.outbox()] == ["delivered"] and redirector.state["gets"] == 1


def test_an_email_to_an_internal_address_fails_at_once(crm):
    crm.rule("mail", 'WHEN created THEN EMAIL contact_email SUBJECT "Hi" BODY "x"')
    crm.store().create("deal", {"name": "Mail", "contact_email": "ann@[10.0.0.1]"})
    (row,) = crm.outbox()
    assert row["status"] == "failed" and row["attempts"] == 1
    assert row["last_error"] == "refused: 10.0.0.1 is a private address and not in OUTBOUND_ALLOW"
