"""Imports as runs: the ``imports`` row of each, its stored file, the job
that carries it out, and what a user may see of it.

:func:`start_import` checks the user's rights, the file and the mapping
before anything is queued (a bad mapping is a 422 naming the column), then
queues the ``imports.run`` job, which runs it as that user (their guard,
rebuilt in the worker) and stores progress, counts, row errors and the
failed-rows file. A run is visible to the user who started it only.
"""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path
from typing import Any, BinaryIO

import sqlalchemy as sa

from metacrm.data.imports.engine import Importer, Outcome, check_duplicates_action, require_rights
from metacrm.data.imports.mapping import auto_match, best_saved, check_key, check_mapping, save_mapping
from metacrm.data.imports.reader import kind_of, open_table
from metacrm.data.imports.tables import imports
from metacrm.platform import audit
from metacrm.platform.clock import utcnow
from metacrm.platform.database import INT32_MAX
from metacrm.platform.errors import NotFound, ValidationFailed
from metacrm.platform.jobs import JobSpec, job_queue

FINISHED = ("done", "failed")
MAX_UPLOAD = 512 * 1024 * 1024


def import_dir(instance, binding) -> Path:
    return Path(instance.config["DATA_DIR"]) / "imports" / binding.slug


def store_upload(instance, binding, stream: BinaryIO, file_name: str) -> Path:
    """Copy an uploaded file (streamed, never held whole) under the data folder."""
    kind_of(file_name)
    folder = import_dir(instance, binding)
    folder.mkdir(parents=True, exist_ok=True)
    extension = Path(file_name).suffix.lower()
    path = folder / f"{uuid.uuid4().hex}{extension}"
    with path.open("wb") as out:
        shutil.copyfileobj(stream, out, 1024 * 1024)
    if path.stat().st_size == 0:
        path.unlink()
        raise ValidationFailed("the file is empty", details={"fields": {"file": ["is empty"]}})
    return path


def create_draft(instance, binding, store, object_name: str, stream: BinaryIO, file_name: str) -> int:
    """An uploaded file waiting for its mapping (the wizard's first step)."""
    obj = store.object(object_name)
    store.guard.require("import", obj)
    path = store_upload(instance, binding, stream, file_name)
    try:
        open_table(path, file_name)
    except ValidationFailed:
        path.unlink(missing_ok=True)
        raise
    with binding.begin() as conn:
        return conn.execute(
            imports.insert()
            .values(
                object=obj.api_name,
                file_name=Path(file_name).name[:255],
                file_path=str(path),
                status="draft",
                created_by=store.actor.user_id,
                created_at=utcnow(),
            )
            .returning(imports.c.id)
        ).scalar_one()


def proposal(binding, store, record: dict) -> dict:
    """What the mapping step shows: headers, a sample, the auto-matched
    fields (a saved mapping's choices first) and the saved mapping used."""
    obj = store.object(record["object"])
    table = open_table(record["file_path"], record["file_name"])
    saved = best_saved(binding, obj.api_name, table.headers)
    matched = auto_match(table.headers, obj, store.guard, saved["columns"] if saved else None)
    return {"headers": table.headers, "sample": table.sample(3), "mapping": matched, "saved": saved}


def configure(
    instance,
    binding,
    store,
    import_id: int,
    *,
    mapping: dict | None,
    mode: str = "insert",
    key: str | None = None,
    dry_run: bool = False,
    save_as: str | None = None,
    inline: bool = False,
    duplicates: str = "allow",
) -> dict:
    """Check a draft's mapping and options, store them and queue the run
    (``inline``: run it now, in this process, as the CLI does)."""
    record = get_import(binding, store, import_id)
    if record["status"] not in ("draft", "done", "failed"):
        raise ValidationFailed("the import is already running", details={"fields": {"status": ["running"]}})
    obj = store.object(record["object"])
    table = open_table(record["file_path"], record["file_name"])
    if mapping is None:
        saved = best_saved(binding, obj.api_name, table.headers)
        mapping = auto_match(table.headers, obj, store.guard, saved["columns"] if saved else None)
    mode = mode or "insert"
    targets = check_mapping(mapping, table.headers, obj, store.model, store.guard)
    key = check_key(key or None, mode, obj, store.guard, targets)
    require_rights(store.guard, obj, mode)
    duplicates = check_duplicates_action(duplicates)
    if save_as:
        save_mapping(binding, obj.api_name, save_as, {t.column: _spec(t) for t in targets}, store.actor.user_id)
    with binding.begin() as conn:
        conn.execute(
            imports.update()
            .where(imports.c.id == import_id)
            .values(
                mapping=mapping,
                mode=mode,
                key=key,
                dry_run=bool(dry_run),
                duplicates=duplicates,
                status="queued",
                message=None,
                total=0,
                processed=0,
                created=0,
                updated=0,
                failed=0,
                skipped=0,
                flagged=0,
                errors=[],
                failed_path=None,
                started_at=None,
                finished_at=None,
            )
        )
    if inline:
        run_import(instance, binding, store, import_id)
    else:
        job_queue(instance).enqueue("imports.run", tenant=binding.slug, import_id=import_id)
    return get_import(binding, store, import_id)


def start_import(
    instance,
    binding,
    store,
    object_name: str,
    stream: BinaryIO,
    file_name: str,
    *,
    mapping: dict | None = None,
    mode: str = "insert",
    key: str | None = None,
    dry_run: bool = False,
    save_as: str | None = None,
    inline: bool = False,
    duplicates: str = "allow",
) -> dict:
    """Upload, check and queue in one call (the API and the CLI)."""
    import_id = create_draft(instance, binding, store, object_name, stream, file_name)
    try:
        return configure(
            instance,
            binding,
            store,
            import_id,
            mapping=mapping,
            mode=mode,
            key=key,
            dry_run=dry_run,
            save_as=save_as,
            inline=inline,
            duplicates=duplicates,
        )
    except Exception:
        _discard(binding, import_id)
        raise


def _discard(binding, import_id: int) -> None:
    with binding.begin() as conn:
        path = conn.execute(sa.select(imports.c.file_path).where(imports.c.id == import_id)).scalar()
        conn.execute(imports.delete().where(imports.c.id == import_id))
    if path:
        Path(path).unlink(missing_ok=True)


def _spec(target) -> Any:
    return {"field": target.field, "match": target.match} if target.match else target.field


def get_import(binding, store, import_id: int) -> dict:
    """The run ``import_id`` if the store's user started it (404 otherwise)."""
    if import_id > INT32_MAX:  # beyond the 32-bit id column: PostgreSQL would refuse the parameter
        raise NotFound(f"no import {import_id}")
    with binding.connect() as conn:
        row = conn.execute(sa.select(imports).where(imports.c.id == import_id)).mappings().first()
    if row is None or (store.actor.user_id is not None and row["created_by"] != store.actor.user_id):
        raise NotFound(f"no import {import_id}")
    return dict(row)


def public(record: dict) -> dict:
    """A run as the API shows it."""
    total = record["total"] or 0
    return {
        "id": record["id"],
        "object": record["object"],
        "file_name": record["file_name"],
        "status": record["status"],
        "message": record["message"],
        "mode": record["mode"],
        "key": record["key"],
        "dry_run": bool(record["dry_run"]),
        "mapping": record["mapping"],
        "total": total,
        "processed": record["processed"],
        "created": record["created"],
        "updated": record["updated"],
        "failed": record["failed"],
        "duplicates": record["duplicates"],
        "skipped": record["skipped"],
        "flagged": record["flagged"],
        "progress": round(100 * record["processed"] / total) if total else (100 if record["status"] == "done" else 0),
        "errors": record["errors"] or [],
        "failed_rows": bool(record["failed_path"]) and (record["failed"] > 0 or record["skipped"] > 0),
        "created_at": record["created_at"].isoformat() if record["created_at"] else None,
        "finished_at": record["finished_at"].isoformat() if record["finished_at"] else None,
    }


def failed_rows_path(binding, store, import_id: int) -> Path:
    record = get_import(binding, store, import_id)
    path = record["failed_path"]
    if not path or not (record["failed"] or record["skipped"]) or not Path(path).exists():
        raise NotFound(f"import {import_id} has no failed rows")
    return Path(path)


# -- the job --------------------------------------------------------------------------------------


def run_import(instance, binding, store, import_id: int) -> dict:
    """Carry out a queued run with ``store`` (its user's guard), storing progress."""
    with binding.connect() as conn:
        record = dict(conn.execute(sa.select(imports).where(imports.c.id == import_id)).mappings().one())
    _update(binding, import_id, status="running", started_at=utcnow())
    failed_path = Path(record["file_path"]).with_suffix(".failed.csv")

    def progress(outcome: Outcome) -> None:
        _update(binding, import_id, **outcome.as_dict(), errors=outcome.errors)

    try:
        importer = Importer(
            store,
            record["object"],
            record["file_path"],
            record["file_name"],
            record["mapping"] or {},
            mode=record["mode"],
            key=record["key"],
            dry_run=record["dry_run"],
            failed_path=failed_path,
            duplicates=record["duplicates"],
        )
        outcome = importer.run(progress)
    except Exception as exc:  # noqa: BLE001 - the run fails as a whole, with its reason stored
        message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
        _update(binding, import_id, status="failed", message=message[:2000], finished_at=utcnow())
    else:
        _update(
            binding,
            import_id,
            **outcome.as_dict(),
            errors=outcome.errors,
            status="done",
            failed_path=str(failed_path) if outcome.failed or outcome.skipped else None,
            finished_at=utcnow(),
        )
        if not (outcome.failed or outcome.skipped):
            failed_path.unlink(missing_ok=True)
    with binding.connect() as conn:
        return dict(conn.execute(sa.select(imports).where(imports.c.id == import_id)).mappings().one())


def _update(binding, import_id: int, **values) -> None:
    with binding.begin() as conn:
        conn.execute(imports.update().where(imports.c.id == import_id).values(**values))


def _job(instance, tenant: str, import_id: int) -> None:
    """The ``imports.run`` job: the run, as the user who started it."""
    from metacrm.access.guard import PolicyGuard
    from metacrm.metadata.guard import SystemGuard
    from metacrm.metadata.model import model_for, record_store
    from metacrm.platform.identity import identity_for

    binding = instance.db.bind(tenant)
    with binding.connect() as conn:
        user_id = conn.execute(sa.select(imports.c.created_by).where(imports.c.id == import_id)).scalar()
    if user_id is None:
        guard = SystemGuard(("create", "read", "update", "delete", "import"), purpose="an import")
        store = record_store(instance, binding, guard, audit.Actor(email="cli"))
    else:
        identity = identity_for(instance, user_id, tenant)
        if identity is None:
            _update(binding, import_id, status="failed", message="the user is no longer a member", finished_at=utcnow())
            return
        model = model_for(instance, binding)
        guard = PolicyGuard.for_identity(instance, binding, identity, model)
        actor = audit.Actor(user_id=identity.user_id, email=identity.email)
        store = record_store(instance, binding, guard, actor)
    run_import(instance, binding, store, import_id)


JOBS = [JobSpec("imports.run", _job, retries=0)]
