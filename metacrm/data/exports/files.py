"""Large exports as jobs: the file, its owner and its expiry.

Beyond ``EXPORT_JOB_THRESHOLD`` rows (default 10,000) an export is not
streamed to the browser: :func:`start` writes a small record of it and
queues the job ``data.export``, which writes the file through the record
store of the user who asked (their guard: scope and field access) under
``DATA_DIR/exports/<tenant>/`` and notifies them with a link. Only they can
download it (:func:`open_download`; anybody else gets a 404, as for a file
that does not exist), until it expires (``EXPORT_TTL_DAYS``, default 7);
the daily job ``data.export.purge`` deletes expired files.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from metacrm.access.guard import PolicyGuard
from metacrm.metadata.model import model_for, record_store
from metacrm.platform import audit
from metacrm.platform import identity as identities
from metacrm.platform.clock import utcnow
from metacrm.platform.errors import NotFound
from metacrm.platform.jobs import JobSpec, crontab, job_queue
from metacrm.plugins.records import ListRequest
from metacrm.rules.automation.tables import notifications

from . import service

log = logging.getLogger("metacrm.exports")

JOB = "data.export"
PURGE_JOB = "data.export.purge"
DEFAULT_TTL_DAYS = 7
TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
# The notification's ``rule`` marks it as an export's and carries the token.
NOTIFICATION_RULE = "data.export:"
READY_MESSAGES = {
    "en": "Your export of {label} is ready ({rows} rows).",
    "zh_CN": "{label}的导出已就绪（{rows} 行）。",
}
FAILED_MESSAGES = {
    "en": "Your export of {label} failed: {reason}",
    "zh_CN": "{label}的导出失败：{reason}",
}


@dataclass(frozen=True)
class ExportFile:
    token: str
    meta: dict[str, Any]
    path: Path

    @property
    def download_name(self) -> str:
        return self.meta["filename"]


def job_threshold(instance) -> int:
    return int(instance.config.get("EXPORT_JOB_THRESHOLD") or service.DEFAULT_JOB_THRESHOLD)


def ttl(instance) -> timedelta:
    return timedelta(days=int(instance.config.get("EXPORT_TTL_DAYS") or DEFAULT_TTL_DAYS))


def folder(instance, tenant_slug: str) -> Path:
    path = Path(instance.config["DATA_DIR"]) / "exports" / tenant_slug
    path.mkdir(parents=True, exist_ok=True)
    return path


def _meta_path(instance, tenant_slug: str, token: str) -> Path:
    return folder(instance, tenant_slug) / f"{token}.json"


def _write_meta(instance, tenant_slug: str, token: str, meta: dict) -> None:
    path = _meta_path(instance, tenant_slug, token)
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(meta), encoding="utf-8")
    temporary.replace(path)


def start(
    instance,
    tenant_slug: str,
    user_id: int,
    object_name: str,
    args: list[tuple[str, str]],
    fmt: str,
    locale: str | None,
    label: str,
) -> str:
    """Record an export and queue its job; its token."""
    token = secrets.token_urlsafe(18)
    now = utcnow()
    meta = {
        "owner": user_id,
        "object": object_name,
        "label": label,
        "format": fmt,
        "status": "pending",
        "created_at": now.isoformat(),
        "expires_at": (now + ttl(instance)).isoformat(),
        "filename": f"{object_name}-{now.date().isoformat()}.{fmt}",
        "rows": None,
    }
    _write_meta(instance, tenant_slug, token, meta)
    job_queue(instance).enqueue(
        JOB,
        tenant=tenant_slug,
        user_id=user_id,
        token=token,
        object_name=object_name,
        args=[list(pair) for pair in args],
        fmt=fmt,
        locale=locale,
    )
    return token


def run_export(instance, *, tenant, user_id, token, object_name, args, fmt, locale=None):
    """The job: write the file as the user who asked, then notify them."""
    binding = instance.db.bind(tenant)
    meta = json.loads(_meta_path(instance, tenant, token).read_text(encoding="utf-8"))
    identity = identities.identity_for(instance, user_id, tenant)
    language = "zh_CN" if (locale or "").startswith("zh") else "en"
    try:
        if identity is None:
            raise NotFound("the user is no longer a member of the tenant")
        guard = PolicyGuard.for_identity(instance, binding, identity, model_for(instance, binding))
        store = record_store(instance, binding, guard, audit.Actor(user_id=user_id, email=identity.email))
        request = ListRequest.from_args([tuple(pair) for pair in args], filter_prefix=True)
        target = folder(instance, tenant) / f"{token}.{fmt}"
        rows = service.write_file(store, object_name, request, fmt, target, locale, title=meta["label"])
    except Exception as exc:  # noqa: BLE001 (the user hears of any failure; the job does not retry)
        log.warning("export %s of %s failed: %r", token, object_name, exc)
        meta |= {"status": "failed", "error": str(exc)}
        _write_meta(instance, tenant, token, meta)
        message = FAILED_MESSAGES[language].format(label=meta["label"], reason=str(exc))
        _notify(binding, user_id, object_name, token, message)
        return meta
    meta |= {"status": "ready", "rows": rows, "finished_at": utcnow().isoformat()}
    _write_meta(instance, tenant, token, meta)
    _notify(binding, user_id, object_name, token, READY_MESSAGES[language].format(label=meta["label"], rows=rows))
    return meta


def _notify(binding, user_id: int, object_name: str, token: str, message: str) -> None:
    with binding.begin() as conn:
        conn.execute(
            notifications.insert().values(
                user_id=user_id,
                rule=NOTIFICATION_RULE + token,
                object=object_name,
                record_id=None,
                message=message[:2000],
                created_at=utcnow(),
            )
        )


def token_of_notification(note: dict) -> str | None:
    """The export a notification announces (its download token), if any."""
    rule = note.get("rule") or ""
    return rule[len(NOTIFICATION_RULE) :] if rule.startswith(NOTIFICATION_RULE) else None


def status(instance, tenant_slug: str, user_id: int, token: str) -> dict:
    """An export's record, for its owner only (404 for anybody else)."""
    if not TOKEN_RE.match(token or ""):
        raise NotFound("no such export")
    path = _meta_path(instance, tenant_slug, token)
    if not path.is_file():
        raise NotFound("no such export")
    meta = json.loads(path.read_text(encoding="utf-8"))
    if meta.get("owner") != user_id:
        raise NotFound("no such export")
    if meta["expires_at"] < utcnow().isoformat():
        raise NotFound("the export has expired")
    return meta


def open_download(instance, tenant_slug: str, user_id: int, token: str) -> ExportFile:
    """A finished export's file, for its owner only."""
    meta = status(instance, tenant_slug, user_id, token)
    path = folder(instance, tenant_slug) / f"{token}.{meta['format']}"
    if meta.get("status") != "ready" or not path.is_file():
        raise NotFound("the export is not ready")
    return ExportFile(token, meta, path)


def purge_expired(instance) -> int:
    """Delete expired exports of every tenant; how many."""
    root = Path(instance.config["DATA_DIR"]) / "exports"
    if not root.is_dir():
        return 0
    now = utcnow().isoformat()
    removed = 0
    for meta_path in root.glob("*/*.json"):
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if meta.get("expires_at", "") < now:
            for suffix in (".csv", ".xlsx", ".json"):
                meta_path.with_suffix(suffix).unlink(missing_ok=True)
            removed += 1
    return removed


def _purge_job(instance):
    return purge_expired(instance)


JOBS = [
    JobSpec(JOB, run_export, retries=0),
    JobSpec(PURGE_JOB, _purge_job, schedule=crontab(minute="17", hour="3")),
]
