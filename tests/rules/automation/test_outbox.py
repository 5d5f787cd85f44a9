"""Outbox delivery: signed webhooks with retries and backoff, e-mail through
SMTP (or kept undelivered without it), and rows that outlive a worker."""

from __future__ import annotations

import hashlib
import hmac
import json
import socketserver
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import sqlalchemy as sa

from metacrm.platform.clock import utcnow
from metacrm.platform.jobs import job_queue
from metacrm.rules.automation import engine
from metacrm.rules.automation.outbox import webhook_secret
from metacrm.rules.automation.tables import automation_outbox


class Hook:
    """A local HTTP endpoint that records requests and answers ``status``."""

    def __init__(self):
        self.requests: list[dict] = []
        self.status = 200
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers["Content-Length"]))
                hook.requests.append({"headers": dict(self.headers), "body": body})
                self.send_response(hook.status)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hook(crm):
    """A local endpoint, allow-listed for the test: loopback is refused by
    default (docs/security.md). Not through ``monkeypatch``, which a test
    may undo for its own reasons."""
    crm.instance.config["OUTBOUND_ALLOW"] = ["127.0.0.1/32"]
    server = Hook()
    yield server
    server.close()
    crm.instance.config["OUTBOUND_ALLOW"] = []


def test_webhook_is_signed_and_delivered_after_commit(crm, hook):
    crm.rule("hook", f'WHEN created THEN WEBHOOK "{hook.url}"')
    deal = crm.store().create("deal", {"name": "Hooked", "amount": "10"})
    (request,) = hook.requests
    body = json.loads(request["body"])
    assert body["rule"] == "deal.hook" and body["record_id"] == deal["id"] and body["record"]["name"] == "Hooked"
    with crm.binding.begin() as conn:
        secret = webhook_secret(conn, "deal.hook")
    timestamp = request["headers"]["X-Metacrm-Timestamp"]
    expected = hmac.new(secret.encode(), timestamp.encode() + b"." + request["body"], hashlib.sha256).hexdigest()
    assert request["headers"]["X-Metacrm-Signature"] == f"sha256={expected}"
    (row,) = crm.outbox()
    assert row["status"] == "delivered" and row["attempts"] == 1
    assert [r["trigger"] for r in crm.runs()] == ["created", "delivery"]


def test_a_failing_webhook_is_retried_with_backoff_and_each_attempt_logged(crm, hook):
    crm.rule("hook", f'WHEN created THEN WEBHOOK "{hook.url}"')
    hook.status = 500
    crm.store().create("deal", {"name": "Flaky"})
    (row,) = crm.outbox()
    assert row["status"] == "pending" and row["attempts"] == 1 and "500" in row["last_error"]
    assert row["next_attempt_at"] is not None
    delivery = [r for r in crm.runs() if r["trigger"] == "delivery"]
    assert [r["result"] for r in delivery] == ["error"]
    # Not due yet: the retry job leaves it alone.
    job_queue(crm.instance).run_now("automation.retry")
    assert crm.outbox()[0]["attempts"] == 1
    hook.status = 204
    _make_due(crm)
    job_queue(crm.instance).run_now("automation.retry")
    row = crm.outbox()[0]
    assert row["status"] == "delivered" and row["attempts"] == 2
    assert len(hook.requests) == 2


def _make_due(crm):
    with crm.binding.begin() as conn:
        conn.execute(automation_outbox.update().values(next_attempt_at=utcnow() - timedelta(seconds=1)))


def test_a_pending_row_survives_a_worker_restart_and_the_retry_job_delivers_it(crm, hook, monkeypatch):
    crm.rule("hook", f'WHEN created THEN WEBHOOK "{hook.url}"')
    # A worker that died before it could enqueue (or a queue that is down):
    # the row is written with the record but nobody enqueues it.
    monkeypatch.setattr(engine, "enqueue_delivery", lambda instance, slug, ids: None)
    crm.store().create("deal", {"name": "Later"})
    assert [r["status"] for r in crm.outbox()] == ["pending"]
    assert hook.requests == []
    monkeypatch.undo()
    job_queue(crm.instance).run_now("automation.retry")
    assert [r["status"] for r in crm.outbox()] == ["delivered"]
    assert len(hook.requests) == 1


def test_email_without_smtp_stays_in_the_outbox_undelivered(crm):
    crm.rule("mail", 'WHEN created THEN EMAIL contact_email SUBJECT "Hi {{name}}" BODY "Amount: {{amount}}"')
    crm.store().create("deal", {"name": "Mail", "contact_email": "c@x.test", "amount": "3"})
    (row,) = crm.outbox()
    assert row["status"] == "undelivered"
    assert row["payload"] == {"to": "c@x.test", "subject": "Hi Mail", "body": "Amount: 3"}


class _Smtp(socketserver.StreamRequestHandler):
    """Just enough SMTP to accept one message."""

    def handle(self):
        self.wfile.write(b"220 test\r\n")
        while line := self.rfile.readline():
            command = line.strip().upper()
            if command.startswith((b"EHLO", b"HELO")):
                self.wfile.write(b"250 test\r\n")
            elif command == b"DATA":
                self.wfile.write(b"354 go\r\n")
                data = []
                while (chunk := self.rfile.readline()) not in (b".\r\n", b""):
                    data.append(chunk)
                self.server.messages.append(b"".join(data).decode())
                self.wfile.write(b"250 ok\r\n")
            elif command == b"QUIT":
                self.wfile.write(b"221 bye\r\n")
                return
            else:
                self.wfile.write(b"250 ok\r\n")


def test_email_is_sent_through_smtp_when_configured(crm, monkeypatch):
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Smtp)
    server.messages = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        monkeypatch.setitem(crm.instance.config, "SMTP_HOST", "127.0.0.1")
        monkeypatch.setitem(crm.instance.config, "SMTP_PORT", server.server_address[1])
        monkeypatch.setitem(crm.instance.config, "SMTP_STARTTLS", False)
        monkeypatch.setitem(crm.instance.config, "SMTP_FROM", "crm@acme.test")
        crm.rule("mail", 'WHEN created THEN EMAIL contact_email SUBJECT "Hi {{name}}" BODY "Welcome"')
        crm.store().create("deal", {"name": "Sent", "contact_email": "c@x.test"})
    finally:
        server.shutdown()
        server.server_close()
    assert [r["status"] for r in crm.outbox()] == ["delivered"]
    (message,) = server.messages
    assert "Subject: Hi Sent" in message and "To: c@x.test" in message and "Welcome" in message


def test_nothing_is_sent_for_a_save_that_rolled_back(crm, hook):
    crm.rule("hook", f'WHEN created THEN WEBHOOK "{hook.url}"')
    store = crm.store()
    with pytest.raises(Exception):  # noqa: B017 - the second row is invalid, so the bulk call fails whole
        store.bulk_create("deal", [{"name": "ok"}, {"name": "bad", "amount": "not a number"}])
    assert crm.outbox() == [] and hook.requests == []
    with crm.binding.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(automation_outbox)).scalar() == 0
