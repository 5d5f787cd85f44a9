"""Backups an operator can trust: ``metacrm backup`` (every tenant, or one),
``metacrm restore``, and the nightly ``backup.nightly`` job.

A backup of a tenant is its export (:mod:`metacrm.metadata.transfer`: one
consistent snapshot of metadata, data and audit log, secrets withheld) with
the tenant's platform side added under ``platform/``:

* ``platform/backup.json``: ``"format": "metacrm-backup"``, version, slug,
  name, when, the member and setting counts;
* ``platform/members.jsonl``: one line per member: the user's id, e-mail,
  display name, password hash (Argon2: what signing in needs, never the
  password), active flag, language, time zone, and the membership's role
  and admin flag;
* ``platform/settings.json``: the tenant's changed settings, secrets
  (``Setting.secret``) withheld and named in ``withheld_settings``.

Not in a backup, on purpose: API tokens (a restored tenant's users make new
ones), two-factor secrets (users enrol again; the tenant's "must use
two-factor" setting still holds them to it), secret settings and plugin
secrets (the export's ``withheld_secrets``), and the keys of encrypted
fields (their values travel sealed; the instance's ``ENCRYPTION_KEYS``
open them).

A backup is written beside its final name and renamed into place only after
:func:`verify_backup` has read it back whole (every member's CRC, every
table's rows against the manifest, the members file), with a ``.sha256``
file beside it. Files are ``<dir>/<slug>/<slug>-<UTC time>.zip``; after a
successful backup those older than ``BACKUP_KEEP_DAYS`` are removed, never
the newest.

Restore imports the tenant under its own slug or a new one and gives its
members back their logins: a user whose e-mail the instance knows keeps
their login (same id required: the tenant's records name users by id); an
unknown user is created with their archived id and password hash. A restore
that would need to renumber users is refused before anything is written.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import zipfile
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from metacrm.metadata.transfer import ExportFile, Progress, export_tenant, import_tenant
from metacrm.platform import audit
from metacrm.platform import settings as tenant_settings
from metacrm.platform.clock import utcnow
from metacrm.platform.database import TenantBinding, validate_slug
from metacrm.platform.errors import BadRequest, Conflict
from metacrm.platform.instance import Instance
from metacrm.platform.jobs import JobSpec, crontab
from metacrm.platform.tables import memberships, tenants, users
from metacrm.platform.tenancy import list_tenants

FORMAT = "metacrm-backup"
FORMAT_VERSION = 1
INFO = "platform/backup.json"
MEMBERS = "platform/members.jsonl"
SETTINGS = "platform/settings.json"
STAMP = "%Y%m%dT%H%M%SZ"
FILE_RE = re.compile(r"^(?P<slug>[a-z][a-z0-9_]*)-(?P<stamp>\d{8}T\d{6}Z)\.zip$")
BACKUP_ACTOR = audit.Actor(email="system:backup")


def _quiet(_message: str) -> None:
    pass


@dataclass(frozen=True)
class BackupResult:
    slug: str
    path: Path
    sha256: str
    records: int
    members: int
    removed: tuple[Path, ...] = ()


# -- writing ---------------------------------------------------------------------------------------


def backup_tenant(
    instance: Instance,
    slug: str,
    directory: str | os.PathLike,
    *,
    keep_days: int | None = None,
    progress: Progress | None = None,
    actor: audit.Actor = BACKUP_ACTOR,
) -> BackupResult:
    """Write, verify and keep a backup of tenant ``slug`` in ``directory``;
    then remove its backups older than ``keep_days`` (``BACKUP_KEEP_DAYS``)."""
    progress = progress or _quiet
    binding = instance.db.bind(slug)
    folder = Path(directory) / slug
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    final = folder / f"{slug}-{utcnow().astimezone(UTC).strftime(STAMP)}.zip"
    building = folder / f".{final.name}.building"
    try:
        manifest = export_tenant(instance, slug, building, progress, actor=actor)
        members, settings, withheld = _platform_side(instance, binding)
        with zipfile.ZipFile(building, "a", compression=zipfile.ZIP_DEFLATED) as archive:
            archive.writestr(MEMBERS, "".join(json.dumps(m, ensure_ascii=False) + "\n" for m in members))
            archive.writestr(SETTINGS, json.dumps({"settings": settings, "withheld_settings": withheld}))
            info = {
                "format": FORMAT,
                "format_version": FORMAT_VERSION,
                "slug": slug,
                "name": manifest["name"],
                "created_at": utcnow().isoformat(),
                "members": len(members),
                "settings": len(settings),
            }
            archive.writestr(INFO, json.dumps(info))
        verify_backup(building)
        digest = _sha256(building)
        os.replace(building, final)
        final.with_name(final.name + ".sha256").write_text(f"{digest}  {final.name}\n")
    except BaseException:
        building.unlink(missing_ok=True)
        raise
    removed = prune_backups(directory, slug, instance.config["BACKUP_KEEP_DAYS"] if keep_days is None else keep_days)
    progress(f"backed up {slug} to {final} ({len(members)} member(s)); removed {len(removed)} old backup(s)")
    return BackupResult(slug, final, digest, sum(manifest["objects"].values()), len(members), tuple(removed))


def backup_tenants(
    instance: Instance,
    directory: str | os.PathLike | None = None,
    slug: str | None = None,
    *,
    keep_days: int | None = None,
    progress: Progress | None = None,
) -> list[BackupResult]:
    """Back up tenant ``slug``, or every active tenant, into ``directory``
    (``BACKUP_DIR`` by default)."""
    directory = directory or instance.config["BACKUP_DIR"]
    if not directory:
        raise BadRequest("no backup directory: pass one or set BACKUP_DIR")
    slugs = [slug] if slug else [t["slug"] for t in list_tenants(instance) if t["status"] == "active"]
    return [backup_tenant(instance, s, directory, keep_days=keep_days, progress=progress) for s in slugs]


def _platform_side(instance: Instance, binding: TenantBinding) -> tuple[list[dict], dict, list[str]]:
    """The tenant's members (with what signing in needs) and its settings, secrets withheld."""
    query = (
        sa.select(
            users.c.id,
            users.c.email,
            users.c.display_name,
            users.c.password_hash,
            users.c.is_active,
            users.c.locale,
            users.c.time_zone,
            memberships.c.role,
            memberships.c.is_admin,
        )
        .join(memberships, memberships.c.user_id == users.c.id)
        .where(memberships.c.tenant_id == binding.tenant_id)
        .order_by(users.c.id)
    )
    with instance.db.platform_connect() as conn:
        members = [dict(row._mapping) for row in conn.execute(query)]
    effective = tenant_settings.tenant_settings_of(instance, binding.tenant_id)
    defaults = tenant_settings.default_settings()
    settings, withheld = {}, []
    for key, value in effective.items():
        if value == defaults[key]:
            continue
        if tenant_settings.SETTINGS[key].secret:
            withheld.append(key)
        else:
            settings[key] = value
    return members, settings, withheld


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


# -- checking --------------------------------------------------------------------------------------


def verify_backup(path: str | os.PathLike) -> dict:
    """Read a backup back whole; returns its ``backup.json``. BadRequest
    names what is wrong: a member whose CRC fails, a table whose rows do not
    match the manifest, a members file that does not parse, a ``.sha256``
    beside it that does not match."""
    path = Path(path)
    sidecar = path.with_name(path.name + ".sha256")
    if sidecar.exists():
        expected = sidecar.read_text().split()[0] if sidecar.read_text().strip() else ""
        if expected != _sha256(path):
            raise BadRequest(f"{path.name} does not match its checksum file {sidecar.name}")
    with ExportFile(path) as export:
        try:
            broken = export.archive.testzip()
        except (zlib.error, EOFError, zipfile.BadZipFile) as exc:  # a member that does not even inflate
            raise BadRequest(f"{path.name} is damaged: {exc}") from None
        if broken is not None:
            raise BadRequest(f"{path.name}: {broken} is damaged (CRC mismatch)")
        for table in export.manifest["tables"]:
            for _row in export.rows(table):  # decodes every row; counts them against the manifest
                pass
        info = _read_json(export, INFO)
        if info.get("format") != FORMAT or not isinstance(info.get("format_version"), int):
            raise BadRequest(f"{path.name} is a tenant export, not a backup (no {INFO})")
        if info["format_version"] > FORMAT_VERSION:
            raise BadRequest(f"{path.name} was written by a newer metacrm (backup format {info['format_version']})")
        members = _members(export)
        if len(members) != info.get("members"):
            raise BadRequest(
                f"{path.name}: {MEMBERS} holds {len(members)} member(s), {INFO} says {info.get('members')}"
            )
        _read_json(export, SETTINGS)
    return info


def _read_json(export: ExportFile, member: str) -> dict:
    try:
        with export.archive.open(member) as raw:
            value = json.load(io.TextIOWrapper(raw, encoding="utf-8"))
    except KeyError:
        raise BadRequest(f"{export.label} is a tenant export, not a backup (no {member})") from None
    except ValueError as exc:
        raise BadRequest(f"{export.label}: {member} is not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise BadRequest(f"{export.label}: {member} must hold an object")
    return value


MEMBER_KEYS = {"id", "email", "display_name", "password_hash", "is_active", "locale", "time_zone", "role", "is_admin"}


def _members(export: ExportFile) -> list[dict]:
    members = []
    try:
        with export.archive.open(MEMBERS) as raw:
            for number, line in enumerate(io.TextIOWrapper(raw, encoding="utf-8"), 1):
                if not line.strip():
                    continue
                member = json.loads(line)
                if not isinstance(member, dict) or set(member) != MEMBER_KEYS or not isinstance(member["id"], int):
                    raise ValueError(f"line {number}: expected the keys {sorted(MEMBER_KEYS)}")
                members.append(member)
    except KeyError:
        raise BadRequest(f"{export.label} is a tenant export, not a backup (no {MEMBERS})") from None
    except ValueError as exc:
        raise BadRequest(f"{export.label}: {MEMBERS}: {exc}") from None
    return members


def prune_backups(directory: str | os.PathLike, slug: str, keep_days: int) -> list[Path]:
    """Remove ``slug``'s backups older than ``keep_days`` (by the time in
    their names), never the newest. Returns what was removed."""
    folder = Path(directory) / slug
    found = []
    for path in folder.glob(f"{slug}-*.zip") if folder.is_dir() else ():
        match = FILE_RE.match(path.name)
        if match and match["slug"] == slug:
            found.append((datetime.strptime(match["stamp"], STAMP).replace(tzinfo=UTC), path))
    found.sort()
    cutoff = utcnow() - timedelta(days=keep_days)
    removed = []
    for when, path in found[:-1]:  # the newest stays, however old
        if when < cutoff:
            path.unlink(missing_ok=True)
            path.with_name(path.name + ".sha256").unlink(missing_ok=True)
            removed.append(path)
    return removed


# -- restoring -------------------------------------------------------------------------------------


def restore_tenant(
    instance: Instance,
    path: str | os.PathLike,
    slug: str | None = None,
    *,
    progress: Progress | None = None,
    actor: audit.Actor = BACKUP_ACTOR,
) -> TenantBinding:
    """Bring a backed-up tenant back under its slug or ``slug``, its members
    able to sign in. Refused (nothing written) when the file is damaged, the
    slug is taken, or a member's e-mail belongs to another user id here."""
    progress = progress or _quiet
    path = Path(path)
    info = verify_backup(path)
    with ExportFile(path) as export:
        members = _members(export)
        stored = _read_json(export, SETTINGS)
    target = validate_slug(slug or info["slug"])
    new_users = _check_members(instance, members)
    binding = import_tenant(instance, path, target, progress, actor=actor)
    with instance.db.platform_begin() as conn:
        for member in new_users:
            conn.execute(
                users.insert().values(
                    id=member["id"],
                    email=member["email"],
                    display_name=member["display_name"],
                    password_hash=member["password_hash"],
                    is_active=member["is_active"],
                    locale=member["locale"],
                    time_zone=member["time_zone"],
                    created_at=utcnow(),
                )
            )
        if new_users and conn.dialect.name == "postgresql":
            # Rows inserted with their ids: the sequence continues after the highest.
            qualified = f'"{instance.db.platform_schema}".users'
            conn.execute(
                sa.select(sa.func.setval(sa.func.pg_get_serial_sequence(qualified, "id"), sa.func.max(users.c.id)))
            )
        if members:
            conn.execute(
                memberships.insert(),
                [
                    {
                        "user_id": m["id"],
                        "tenant_id": binding.tenant_id,
                        "role": m["role"],
                        "is_admin": m["is_admin"],
                        "created_at": utcnow(),
                    }
                    for m in members
                ],
            )
        conn.execute(tenants.update().where(tenants.c.id == binding.tenant_id).values(name=info["name"]))
    if stored.get("settings"):
        tenant_settings.update_tenant_settings(instance, target, stored["settings"], actor=actor)
    with binding.begin() as conn:
        audit.record(
            conn,
            actor,
            "tenant.restored",
            object="tenant",
            details={
                "file": path.name,
                "from_slug": info["slug"],
                "members": len(members),
                "users_created": len(new_users),
                "withheld_settings": stored.get("withheld_settings", []),
            },
        )
    progress(
        f"restored {info['slug']} as {target}: {len(members)} member(s), {len(new_users)} login(s) created"
        + (f"; set again: {', '.join(stored['withheld_settings'])}" if stored.get("withheld_settings") else "")
    )
    return binding


def _check_members(instance: Instance, members: list[dict]) -> list[dict]:
    """The members whose logins must be created; Conflict when an e-mail is
    another user's here or an archived id is taken by another e-mail."""
    if not members:
        return []
    ids_and_emails = sa.select(users.c.id, users.c.email)
    with instance.db.platform_connect() as conn:
        emails = [m["email"] for m in members]
        by_email = {row.email: row.id for row in conn.execute(ids_and_emails.where(users.c.email.in_(emails)))}
        ids = [m["id"] for m in members]
        by_id = {row.id: row.email for row in conn.execute(ids_and_emails.where(users.c.id.in_(ids)))}
    clashes, new = [], []
    for member in members:
        known = by_email.get(member["email"])
        if known is not None and known != member["id"]:
            clashes.append(f"{member['email']} is user {known} here, {member['id']} in the backup")
        elif known is None and member["id"] in by_id:
            clashes.append(f"user id {member['id']} ({member['email']}) belongs to {by_id[member['id']]} here")
        elif known is None:
            new.append(member)
    if clashes:
        raise Conflict(
            "the backup's users cannot keep their ids on this instance (the tenant's records name users by id): "
            + "; ".join(clashes),
            details={"users": clashes},
        )
    return new


# -- the nightly job -------------------------------------------------------------------------------


def _nightly(instance: Instance) -> None:
    if instance.config["BACKUP_DIR"]:
        backup_tenants(instance)


JOBS = [JobSpec("backup.nightly", _nightly, schedule=crontab(minute="5", hour="2"))]


def backup_files(directory: str | os.PathLike, slug: str) -> list[Path]:
    """``slug``'s backups in ``directory``, oldest first."""
    folder = Path(directory) / slug
    return sorted(p for p in folder.glob(f"{slug}-*.zip") if FILE_RE.match(p.name)) if folder.is_dir() else []
