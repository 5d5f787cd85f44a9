"""Delivering the outbox: e-mail (SMTP), webhooks (signed JSON POSTs) and
slow plugin actions, on the job queue.

Rows are written in the transaction of the save that caused them, so
nothing is sent for a save that rolled back and nothing is lost when a
worker dies: ``automation.deliver`` is enqueued after commit for the new
rows, and the periodic ``automation.retry`` picks up every row still
pending whose next attempt is due. A failed attempt is logged in the run
log and retried with exponential backoff (``RETRY_BASE`` × 2^attempts) up
to ``MAX_ATTEMPTS``. Without ``SMTP_HOST``, mails are marked
``undelivered`` and kept.

Webhook bodies are signed with HMAC-SHA256 under the rule's secret
(``automation_secrets``; made on first use, rotated through the API, never
shown in definitions): header ``X-Metacrm-Signature: sha256=<hex>`` over
``<timestamp>.<body>``, timestamp in ``X-Metacrm-Timestamp``.

Both kinds go only where :mod:`metacrm.platform.outbound` allows (no
loopback, private or other internal address unless the operator's
``OUTBOUND_ALLOW`` lists it, checked after DNS resolution on every
connection, redirects included). A refused row fails at once with the
reason in ``last_error``: retrying cannot make the address acceptable.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
import smtplib
import time
import urllib.error
import urllib.request
from datetime import timedelta
from email.message import EmailMessage

import sqlalchemy as sa

from metacrm.metadata.store.sealing import open_row
from metacrm.platform import audit
from metacrm.platform.clock import utcnow
from metacrm.platform.jobs import JobSpec, crontab, job_queue
from metacrm.platform.outbound import OutboundPolicy, OutboundRefused, open_url
from metacrm.platform.tenancy import list_tenants
from metacrm.rules.automation.tables import automation_outbox, automation_runs, automation_secrets

log = logging.getLogger("metacrm.automation")

MAX_ATTEMPTS = 6
RETRY_BASE = 30  # seconds before the second attempt; doubled each time
WEBHOOK_TIMEOUT = 10
SIGNATURE_HEADER = "X-Metacrm-Signature"
TIMESTAMP_HEADER = "X-Metacrm-Timestamp"


def enqueue_delivery(instance, slug: str, ids: list[int]) -> None:
    """After commit: hand new outbox rows to the queue (the retry job covers
    a store built without an instance, or a queue that is down)."""
    if instance is None or not ids:
        return
    try:
        job_queue(instance).enqueue("automation.deliver", tenant=slug, ids=list(ids))
    except Exception:  # noqa: BLE001 - after commit must not fail; the retry job delivers later
        log.exception("could not enqueue outbox rows %s of %s", ids, slug)


def webhook_secret(conn, rule: str, *, rotate: bool = False) -> str:
    """The rule's signing secret (made on first use; a new one with ``rotate``)."""
    current = conn.execute(sa.select(automation_secrets.c.secret).where(automation_secrets.c.rule == rule)).scalar()
    if current is not None and not rotate:
        return current
    secret = "whsec_" + secrets.token_urlsafe(32)
    if current is None:
        conn.execute(automation_secrets.insert().values(rule=rule, secret=secret, created_at=utcnow()))
    else:
        conn.execute(
            automation_secrets.update()
            .where(automation_secrets.c.rule == rule)
            .values(secret=secret, created_at=utcnow())
        )
    return secret


def sign(secret: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def _send_mail(config, payload: dict) -> str:
    """'delivered' or 'undelivered' (no SMTP configured); raises on failure."""
    OutboundPolicy.from_config(config).check_email(payload["to"])
    if not config.get("SMTP_HOST"):
        return "undelivered"
    message = EmailMessage()
    message["From"] = config.get("SMTP_FROM") or config.get("SMTP_USERNAME") or "metacrm@localhost"
    message["To"] = payload["to"]
    message["Subject"] = payload["subject"]
    # Mass e-mail adds List-Unsubscribe headers and an HTML part (docs/marketing.md).
    for name, value in (payload.get("headers") or {}).items():
        message[name] = value
    message.set_content(payload["body"])
    if payload.get("html"):  # a rendered document (email_document): the text above is its fallback
        message.add_alternative(payload["html"], subtype="html")
    with smtplib.SMTP(config["SMTP_HOST"], int(config.get("SMTP_PORT") or 25), timeout=30) as smtp:
        if config.get("SMTP_STARTTLS"):
            smtp.starttls()
        if config.get("SMTP_USERNAME"):
            smtp.login(config["SMTP_USERNAME"], config.get("SMTP_PASSWORD") or "")
        smtp.send_message(message)
    return "delivered"


def _post_webhook(config, conn, row) -> str:
    payload = row.payload
    body = json.dumps(payload["body"], separators=(",", ":"), sort_keys=True).encode()
    timestamp = str(int(time.time()))
    request = urllib.request.Request(
        payload["url"],
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "User-Agent": "metacrm-webhook",
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: sign(webhook_secret(conn, row.rule), timestamp, body),
        },
    )
    try:
        with open_url(request, policy=OutboundPolicy.from_config(config), timeout=WEBHOOK_TIMEOUT) as response:
            status = response.status
    except urllib.error.HTTPError as exc:
        raise RuntimeError(f"the webhook answered {exc.code}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise RuntimeError(f"the webhook could not be reached: {getattr(exc, 'reason', exc)}") from None
    if not 200 <= status < 300:
        raise RuntimeError(f"the webhook answered {status}")
    return "delivered"


def _run_call(instance, binding, conn, row) -> str:
    from metacrm.metadata.model import model_for
    from metacrm.rules.automation.actions import ActionCall
    from metacrm.rules.automation.engine import actions_of

    payload = row.payload
    model = model_for(instance, binding)
    action = actions_of(instance, model).get(payload["action"])
    if action is None:
        raise RuntimeError(f"unknown automation action {payload['action']!r}")
    obj = model.object(row.object)
    record = {}
    if obj is not None and row.record_id is not None:
        found = conn.execute(sa.select(obj.table).where(obj.table.c.id == row.record_id)).mappings().first()
        record = open_row(model.registry, obj.api_name, obj.fields, dict(found or {}))
    call = ActionCall(conn, model, row.object, row.record_id, record, tuple(payload["args"]), audit.SYSTEM, row.rule)
    action.run(call)
    return "delivered"


def deliver(instance, tenant: str, ids: list[int] | None = None) -> dict[str, int]:
    """Attempt the pending rows ``ids`` (or every pending row that is due)
    of tenant ``tenant``; each row in its own transaction, locked so two
    workers never send the same row."""
    binding = instance.db.bind(tenant)
    counts: dict[str, int] = {}
    now = utcnow()
    with binding.connect() as conn:
        query = sa.select(automation_outbox.c.id).where(automation_outbox.c.status == "pending")
        if ids is not None:
            query = query.where(automation_outbox.c.id.in_(ids))
        else:
            query = query.where(automation_outbox.c.next_attempt_at <= now)
        pending = list(conn.execute(query.order_by(automation_outbox.c.id).limit(500)).scalars())
    for row_id in pending:
        with binding.begin() as conn:
            query = sa.select(automation_outbox).where(
                automation_outbox.c.id == row_id, automation_outbox.c.status == "pending"
            )
            if conn.dialect.name == "postgresql":
                query = query.with_for_update(skip_locked=True)
            row = conn.execute(query).first()
            if row is None:
                continue
            started = time.perf_counter()
            error = None
            try:
                if row.kind == "email":
                    status = _send_mail(instance.config, row.payload)
                elif row.kind == "webhook":
                    status = _post_webhook(instance.config, conn, row)
                else:
                    status = _run_call(instance, binding, conn, row)
            except OutboundRefused as exc:
                error, status = f"refused: {exc.message}", "failed"
            except Exception as exc:  # noqa: BLE001 - recorded and retried
                error = str(exc)[:2000] or type(exc).__name__
                status = "failed" if row.attempts + 1 >= MAX_ATTEMPTS else "pending"
            attempts = row.attempts + 1
            values = {"status": status, "attempts": attempts, "last_error": error}
            if status == "pending":
                values["next_attempt_at"] = utcnow() + timedelta(seconds=RETRY_BASE * 2 ** (attempts - 1))
            if status == "delivered":
                values["delivered_at"] = utcnow()
            conn.execute(automation_outbox.update().where(automation_outbox.c.id == row_id).values(**values))
            conn.execute(
                automation_runs.insert().values(
                    rule=row.rule,
                    object=row.object,
                    record_id=row.record_id,
                    trigger="delivery",
                    result="error" if error else "ok",
                    error=error,
                    actions=[
                        {"action": f"deliver {row.kind}", "outbox_id": row_id, "attempt": attempts, "status": status}
                    ],
                    at=utcnow(),
                    duration_ms=round((time.perf_counter() - started) * 1000, 3),
                )
            )
            counts[status] = counts.get(status, 0) + 1
    return counts


def _deliver_job(instance, tenant: str, ids: list[int]) -> None:
    deliver(instance, tenant, ids)


def retry_pending(instance) -> None:
    """Every tenant's due pending rows (the outbox's safety net)."""
    for tenant in list_tenants(instance):
        if tenant["status"] == "active":
            try:
                deliver(instance, tenant["slug"])
            except Exception:  # noqa: BLE001 - one tenant must not stop the others
                log.exception("outbox delivery failed for tenant %s", tenant["slug"])


JOBS = [
    JobSpec("automation.deliver", _deliver_job, retries=0),
    JobSpec("automation.retry", retry_pending, schedule=crontab(minute="*")),
]
