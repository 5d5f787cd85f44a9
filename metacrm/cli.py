"""The ``metacrm`` command.

Every verb acts on one instance: the data folder given by ``--data-dir`` /
``METACRM_DATA_DIR`` (embedded SQLite), or the database named by
``--database-url`` / ``METACRM_DATABASE_URL``. So an operator can run
``metacrm tenant create`` against the folder a running ``metacrm demo`` serves.
Plugins add verbs through the ``register_commands`` hook.
"""

from __future__ import annotations

import functools
import os
import secrets
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

import click

from metacrm import access
from metacrm.access import sharing
from metacrm.app import BUILTIN_PLUGINS, build_instance, create_app
from metacrm.metadata.guard import SystemGuard
from metacrm.metadata.model import model_for, record_store, tenant_hooks
from metacrm.metadata.recycle import purge_recycle_bin
from metacrm.platform import audit, tenancy
from metacrm.platform import identity as identities
from metacrm.platform.config import load_config
from metacrm.platform.database import DEFAULT_POOL_SIZE
from metacrm.platform.errors import MetacrmError
from metacrm.platform.hooks import create_plugin_manager
from metacrm.platform.jobs import job_queue
from metacrm.platform.server import DEFAULT_THREADS, DEFAULT_WORKERS, run_gunicorn
from metacrm.plugins import lifecycle
from metacrm.plugins.scaffold import substitutions, write_plugin

DEMO_TENANT = "demo"
DEMO_CREDENTIALS_FILE = "demo-admin.txt"
# One demo user per standard role (e-mail: sales.rep@demo.example.com, …),
# sharing the admin's password.
DEMO_ROLES = (
    ("sales_manager", "Sales Manager"),
    ("sales_rep", "Sales Rep"),
    ("service_agent", "Service Agent"),
    ("marketing", "Marketing"),
    ("read_only", "Read Only"),
)
# The demo's teams by role.
DEMO_TEAMS = {"sales_manager": "sales", "sales_rep": "sales", "service_agent": "service"}
CLI_ACTOR = audit.Actor(email="cli")


def instance_options(fn):
    """``--data-dir`` and ``--database-url`` on every verb; passes ``overrides``."""

    @click.option(
        "--data-dir",
        envvar="METACRM_DATA_DIR",
        type=click.Path(file_okay=False),
        help="Instance data folder (embedded SQLite). [env: METACRM_DATA_DIR]",
    )
    @click.option(
        "--database-url",
        envvar="METACRM_DATABASE_URL",
        help="PostgreSQL URL instead of embedded SQLite. [env: METACRM_DATABASE_URL]",
    )
    @functools.wraps(fn)
    def wrapper(*args, data_dir, database_url, **kwargs):
        overrides = {}
        if data_dir:
            overrides["DATA_DIR"] = data_dir
        if database_url:
            overrides["DATABASE_URL"] = database_url
        return fn(*args, overrides=overrides, **kwargs)

    return wrapper


def _instance(overrides):
    instance = build_instance(overrides)
    instance.upgrade_platform()
    return instance


class _Group(click.Group):
    """Turns domain errors into one clear line and exit code 1."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except MetacrmError as exc:
            detail = f" {exc.details}" if exc.details else ""
            raise click.ClickException(f"{exc.message}{detail}") from None


@click.group(cls=_Group)
@click.version_option(package_name="metacrm")
def main():
    """metacrm: a low-code, metadata-driven CRM platform."""


# -- demo and serve ------------------------------------------------------------


@main.command()
@instance_options
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=int, help="Port to listen on.")
@click.option("--admin-email", default="admin@demo.example.com", show_default=True, help="Demo admin login.")
@click.option(
    "--admin-password", default=None, help="Demo admin password (default: generated once and kept in the data folder)."
)
@click.option(
    "--plugins",
    default=None,
    help="Comma-separated packages to install in a new demo (default: every available one), e.g. crm_core,finance.",
)
def demo(overrides, host, port, admin_email, admin_password, plugins):
    """Create the embedded demo instance if absent, then serve it."""
    overrides.setdefault("SESSION_COOKIE_SECURE", False)  # plain http on this machine
    overrides.setdefault("DEFAULT_TENANT", DEMO_TENANT)
    instance = _instance(overrides)
    data_dir = Path(instance.config["DATA_DIR"])
    credentials = data_dir / DEMO_CREDENTIALS_FILE

    if not tenancy.tenant_exists(instance, DEMO_TENANT):
        click.echo(f"Creating the demo instance in {data_dir} …")
        password = admin_password or secrets.token_urlsafe(12)
        chosen = [name.strip() for name in plugins.split(",") if name.strip()] if plugins else None
        create_demo_tenant(instance, admin_email=admin_email, password=password, echo=click.echo, package_names=chosen)
        _keep_credentials(credentials, admin_email, password)
    elif admin_password:
        identities.set_password(instance, admin_email, admin_password, actor=CLI_ACTOR)
        _keep_credentials(credentials, admin_email, admin_password)

    email, password = _read_credentials(credentials, admin_email)
    url = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}/"
    click.echo("")
    click.echo(f"  metacrm demo is running at {url}")
    click.echo(f"  sign in to organisation '{DEMO_TENANT}' as {email} with password {password}")
    others = ", ".join(f"{role.replace('_', '.')}@demo.example.com" for role, _name in DEMO_ROLES)
    click.echo(f"  (the same password works for {others})")
    click.echo("  (Ctrl+C stops it)")
    click.echo("")
    sys.stdout.flush()
    instance.dispose()
    run_gunicorn(lambda: create_app(overrides), host=host, port=port, workers=1, threads=8, access_log=False)


def create_demo_tenant(
    instance,
    *,
    admin_email: str,
    password: str,
    echo: Callable[[str], None] | None = None,
    records: bool = True,
    package_names: Iterable[str] | None = None,
) -> None:
    """The demo organisation: its admin, one user per standard role (all with
    ``password``), the teams, the metadata packages ``package_names`` (default: every
    available one) and, unless ``records`` is false, the plugins' demo
    records. The browser tests build their tenant with it too (with the
    standard CRM only)."""
    echo = echo or (lambda message: None)
    available = lifecycle.available_plugins(instance)
    chosen = sorted(available) if package_names is None else list(dict.fromkeys(package_names))
    unknown = [name for name in chosen if name not in available]
    if unknown:
        raise click.UsageError(f"no package {', '.join(unknown)} (available: {', '.join(sorted(available))})")
    tenancy.create_tenant(instance, DEMO_TENANT, "Demo Company", actor=CLI_ACTOR, progress=lambda m: echo(f"  {m}"))
    admin_id = identities.create_user(
        instance,
        tenant=DEMO_TENANT,
        email=admin_email,
        password=password,
        display_name="Demo Admin",
        is_admin=True,
        role="admin",
        actor=CLI_ACTOR,
    )
    binding = instance.db.bind(DEMO_TENANT)
    access.provision_member(instance, binding, admin_id, actor=CLI_ACTOR)
    owner_ids = [admin_id]
    team_members: dict[str | None, list[int]] = {}
    for role, name in DEMO_ROLES:
        user_id = identities.create_user(
            instance,
            tenant=DEMO_TENANT,
            email=f"{role.replace('_', '.')}@demo.example.com",
            password=password,
            display_name=name,
            role=role,
            actor=CLI_ACTOR,
        )
        access.provision_member(instance, binding, user_id, actor=CLI_ACTOR)
        if role in ("sales_manager", "sales_rep", "service_agent"):
            owner_ids.append(user_id)
        team_members.setdefault(DEMO_TEAMS.get(role), []).append(user_id)
    for team, members in team_members.items():
        if team:  # web leads are assigned round-robin over "sales" (crm_core's assign_web_leads)
            document = {"api_name": team, "label": team.title(), "members": members}
            sharing.create_team(instance, binding, document, CLI_ACTOR)
    for name in chosen:
        result = lifecycle.install(instance, binding, name, CLI_ACTOR)
        echo(f"  installed plugin {name} {result['version']} ({result['created']} definitions)")
    if records:
        _generate_demo_records(instance, binding, owner_ids, echo)


def _generate_demo_records(instance, binding, owner_ids: list[int], echo) -> None:
    """Let the plugins generate their demo records, owned by the users in ``owner_ids``."""

    def create(object_name: str, rows: list[dict]) -> list[int]:
        store = record_store(instance, binding, SystemGuard(), CLI_ACTOR)
        owners = [row.pop("owner_id", None) for row in rows]
        return [record["id"] for record in store.bulk_create(object_name, rows, owner_ids=owners)]

    def progress(object_name: str, done: int, total: int) -> None:
        if done == total:
            echo(f"  generated {total} {object_name} records")

    hooks = tenant_hooks(instance, model_for(instance, binding).definitions)
    hooks.generate_demo_data(tenant=binding, create=create, owner_ids=owner_ids, progress=progress)


def _keep_credentials(path: Path, email: str, password: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(f"{email}\n{password}\n")


def _read_credentials(path: Path, fallback_email: str) -> tuple[str, str]:
    if path.is_file():
        lines = path.read_text(encoding="utf-8").splitlines()
        if len(lines) >= 2:
            return lines[0], lines[1]
    return fallback_email, "(the password you chose)"


@main.command()
@instance_options
@click.option("--host", default="0.0.0.0", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=int, help="Port to listen on.")
@click.option("--workers", default=DEFAULT_WORKERS, show_default=True, type=int, help="gunicorn worker processes.")
@click.option("--threads", default=DEFAULT_THREADS, show_default=True, type=int, help="Threads per worker.")
@click.option(
    "--control-socket",
    default=None,
    type=click.Path(dir_okay=False),
    help="Open gunicorn's control socket (gunicornc) at this path, one per instance (default: none).",
)
@click.option(
    "--access-log/--no-access-log",
    default=True,
    show_default=True,
    help="Write gunicorn's access log to standard output.",
)
def serve(overrides, host, port, workers, threads, control_socket, access_log):
    """Serve the instance in production (gunicorn). Run `metacrm db upgrade` first."""
    if not load_config(overrides)["DATABASE_POOL_SIZE"]:
        # One pooled connection per thread: none waits, none opens a fresh one.
        overrides = {**overrides, "DATABASE_POOL_SIZE": max(DEFAULT_POOL_SIZE, threads)}
    try:
        run_gunicorn(
            lambda: create_app(overrides),
            host=host,
            port=port,
            workers=workers,
            threads=threads,
            access_log=access_log,
            control_socket=control_socket,
        )
    except OSError as exc:
        raise click.ClickException(str(exc)) from None


# -- db -------------------------------------------------------------------------


@main.group()
def db():
    """Database schema management."""


@db.command("upgrade")
@instance_options
def db_upgrade(overrides):
    """Create or upgrade the platform namespace and every tenant namespace."""
    instance = build_instance(overrides)
    click.echo("upgrading the platform namespace")
    instance.upgrade_platform()
    count = tenancy.upgrade_tenants(instance, progress=lambda m: click.echo(m))
    click.echo(f"done: platform and {count} tenant namespace(s) are up to date")


# -- tenants ----------------------------------------------------------------------


@main.group()
def tenant():
    """Tenants (organisations), each with its own namespace."""


@tenant.command("create")
@instance_options
@click.argument("slug")
@click.option("--name", default=None, help="Display name (default: the slug).")
def tenant_create(overrides, slug, name):
    """Create tenant SLUG and its namespace."""
    instance = _instance(overrides)
    tenancy.create_tenant(instance, slug, name, actor=CLI_ACTOR, progress=lambda m: click.echo(m))
    click.echo(f"created tenant {slug}")


@tenant.command("list")
@instance_options
def tenant_list(overrides):
    """List tenants."""
    for row in tenancy.list_tenants(_instance(overrides)):
        click.echo(f"{row['slug']}\t{row['status']}\t{row['name']}")


@tenant.command("drop")
@instance_options
@click.argument("slug")
@click.option("--confirm", "confirmed", required=True, help="The slug again: dropping cannot be undone.")
def tenant_drop(overrides, slug, confirmed):
    """Remove tenant SLUG, its data and memberships, for good (back it up first)."""
    if confirmed != slug:
        raise click.BadParameter(f"type the slug {slug!r} again to drop it", param_hint="--confirm")
    tenancy.drop_tenant(_instance(overrides), slug)
    click.echo(f"dropped tenant {slug}")


@tenant.command("export")
@instance_options
@click.argument("slug")
@click.argument("file", type=click.Path(dir_okay=False))
def tenant_export(overrides, slug, file):
    """Write tenant SLUG (metadata, data, audit log) to the zip FILE."""
    from metacrm.metadata import transfer

    manifest = transfer.export_tenant(_instance(overrides), slug, file, progress=click.echo, actor=CLI_ACTOR)
    records = sum(manifest["objects"].values())
    click.echo(f"exported tenant {slug} to {file}: {len(manifest['objects'])} object(s), {records} record(s)")


@tenant.command("import")
@instance_options
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--slug", default=None, help="Slug of the new tenant (default: the exported one).")
def tenant_import(overrides, file, slug):
    """Create a tenant from the export FILE (refused if its slug exists)."""
    from metacrm.metadata import transfer

    binding = transfer.import_tenant(_instance(overrides), file, slug, progress=click.echo, actor=CLI_ACTOR)
    click.echo(f"imported tenant {binding.slug} from {file}")


@main.command("backup")
@instance_options
@click.option("--tenant", "slug", default=None, help="Back up this tenant only (default: every active tenant).")
@click.option("--dir", "directory", default=None, type=click.Path(file_okay=False), help="Default: BACKUP_DIR.")
@click.option("--keep-days", type=click.IntRange(min=0), default=None, help="Default: BACKUP_KEEP_DAYS.")
def backup_command(overrides, slug, directory, keep_days):
    """Write a verified backup of every tenant (or one) with its members."""
    from metacrm.metadata import backup

    for result in backup.backup_tenants(
        _instance(overrides), directory, slug, keep_days=keep_days, progress=click.echo
    ):
        click.echo(f"{result.path}\tsha256 {result.sha256}\t{result.records} record(s), {result.members} member(s)")


@main.command("restore")
@instance_options
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--slug", default=None, help="Restore under this slug (default: the backed-up one).")
@click.option("--check", is_flag=True, help="Only verify the backup; restore nothing.")
def restore_command(overrides, file, slug, check):
    """Bring a tenant back from a backup FILE, its members able to sign in."""
    from metacrm.metadata import backup

    if check:
        info = backup.verify_backup(file)
        click.echo(f"{file}: a sound backup of {info['slug']} ({info['members']} member(s), {info['created_at']})")
        return
    binding = backup.restore_tenant(_instance(overrides), file, slug, progress=click.echo, actor=CLI_ACTOR)
    click.echo(f"restored tenant {binding.slug} from {file}")


# -- users ------------------------------------------------------------------------


@main.group()
def user():
    """Users and their tenant memberships."""


@user.command("create")
@instance_options
@click.option("--tenant", "tenant_slug", required=True, help="Tenant the user joins.")
@click.option("--email", required=True, help="Login e-mail address.")
@click.option(
    "--password", prompt=True, hide_input=True, confirmation_prompt=True, help="Password (prompted when omitted)."
)
@click.option("--role", default=None, help="Role api name, e.g. sales_rep.")
@click.option("--admin", is_flag=True, help="Make the user a tenant admin.")
@click.option("--name", "display_name", default="", help="Display name.")
def user_create(overrides, tenant_slug, email, password, role, admin, display_name):
    """Create a user in a tenant (or add an existing login to it)."""
    instance = _instance(overrides)
    binding = instance.db.bind(tenant_slug)
    if role:
        access.check_roles(binding, [role])
    user_id = identities.create_user(
        instance,
        tenant=tenant_slug,
        email=email,
        password=password,
        display_name=display_name,
        is_admin=admin,
        role=role,
        actor=CLI_ACTOR,
    )
    roles = access.provision_member(instance, binding, user_id, actor=CLI_ACTOR)
    click.echo(f"user {email} (id {user_id}) is a member of {tenant_slug} with roles: {', '.join(roles) or 'none'}")


@user.command("list")
@instance_options
@click.option("--tenant", "tenant_slug", required=True, help="Tenant whose members to list.")
def user_list(overrides, tenant_slug):
    """List the members of a tenant."""
    for row in identities.list_users(_instance(overrides), tenant_slug):
        flags = ",".join(f for f, on in (("admin", row["is_admin"]), ("inactive", not row["is_active"])) if on)
        click.echo(f"{row['email']}\t{row['role'] or '-'}\t{flags or '-'}\t{row['display_name']}")


@user.command("set-password")
@instance_options
@click.option("--email", required=True, help="Login e-mail address.")
@click.option(
    "--password", prompt=True, hide_input=True, confirmation_prompt=True, help="New password (prompted when omitted)."
)
def user_set_password(overrides, email, password):
    """Set a user's password; their browser sessions end and API tokens are revoked."""
    identities.set_password(_instance(overrides), email, password, actor=CLI_ACTOR)
    click.echo(f"password of {email} changed; every session and API token of the user ended")


@user.command("sign-out-everywhere")
@instance_options
@click.option("--email", required=True, help="Login e-mail address.")
def user_sign_out_everywhere(overrides, email):
    """End every browser session and revoke every API token of a user."""
    instance = _instance(overrides)
    user_id = identities.user_id_of(instance, email)
    revoked = identities.sign_out_everywhere(instance, user_id, actor=CLI_ACTOR)
    click.echo(f"{email} is signed out everywhere; {revoked} API token(s) revoked")


# -- tokens -----------------------------------------------------------------------


@main.group()
def token():
    """API tokens."""


@token.command("create")
@instance_options
@click.option("--tenant", "tenant_slug", required=True, help="Tenant the token acts in.")
@click.option("--email", required=True, help="User the token acts as.")
@click.option("--name", default="cli", show_default=True, help="A name to tell tokens apart.")
def token_create(overrides, tenant_slug, email, name):
    """Print a new API token for a user in a tenant."""
    instance = _instance(overrides)
    members = {row["email"]: row for row in identities.list_users(instance, tenant_slug)}
    email = identities.normalize_email(email)
    if email not in members:
        raise click.ClickException(f"{email} is not a member of {tenant_slug}")
    identity = identities.identity_for(instance, members[email]["id"], tenant_slug)
    _, token_value = identities.create_token(instance, identity, name, actor=CLI_ACTOR)
    click.echo(token_value)


# -- data import ----------------------------------------------------------------------


@main.command("import")
@instance_options
@click.argument("object_name", metavar="OBJECT")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--tenant", "tenant_slug", required=True, help="Tenant to import into.")
@click.option("--dry-run", is_flag=True, help="Check every row and report; write nothing.")
@click.option("--mode", type=click.Choice(["insert", "update", "upsert"]), default="insert", show_default=True)
@click.option("--key", default=None, help="Unique field (or id) that finds records to update.")
@click.option(
    "--mapping",
    "mapping_file",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help='JSON file {"Column": "field", ...} (default: columns matched by name and label).',
)
@click.option(
    "--duplicates",
    type=click.Choice(["allow", "skip", "update", "flag"]),
    default="allow",
    show_default=True,
    help="A row the duplicate rules match: allow it (block rules still refuse), skip it, update the match, flag it.",
)
@click.option("--as", "email", default=None, help="Import as this member (their rights apply); default: the system.")
def import_command(overrides, object_name, file, tenant_slug, dry_run, mode, key, mapping_file, duplicates, email):
    """Import a CSV or XLSX FILE into OBJECT; exits 1 when a row failed."""
    import json

    from metacrm.access.guard import PolicyGuard
    from metacrm.data.imports import service as imports
    from metacrm.metadata.model import model_for

    instance = _instance(overrides)
    binding = instance.db.bind(tenant_slug)
    if email:
        members = {row["email"]: row for row in identities.list_users(instance, tenant_slug)}
        email = identities.normalize_email(email)
        if email not in members:
            raise click.ClickException(f"{email} is not a member of {tenant_slug}")
        identity = identities.identity_for(instance, members[email]["id"], tenant_slug)
        guard = PolicyGuard.for_identity(instance, binding, identity, model_for(instance, binding))
        store = record_store(instance, binding, guard, audit.Actor(user_id=identity.user_id, email=identity.email))
    else:
        guard = SystemGuard(("create", "read", "update", "delete", "import"), purpose="the import command")
        store = record_store(instance, binding, guard, CLI_ACTOR)
    mapping = None
    if mapping_file:
        try:
            mapping = json.loads(Path(mapping_file).read_text(encoding="utf-8"))
        except ValueError as exc:
            raise click.ClickException(f"{mapping_file} is not valid JSON: {exc}") from None
    with open(file, "rb") as stream:
        record = imports.start_import(
            instance,
            binding,
            store,
            object_name,
            stream,
            Path(file).name,
            mapping=mapping,
            mode=mode,
            key=key,
            dry_run=dry_run,
            inline=True,
            duplicates=duplicates,
        )
    if record["status"] == "failed":
        raise click.ClickException(record["message"] or "the import failed")
    for error in record["errors"] or []:
        where = f" {error['field']}" if error.get("field") else ""
        click.echo(f"row {error['row']}{where}: {error['reason']}")
    if record["failed"] > len(record["errors"] or []):
        click.echo(f"... and more; every failed row is in {record['failed_path']}")
    verb = "would create" if dry_run else "created"
    click.echo(
        f"{record['total']} rows: {verb} {record['created']}, "
        f"{'would update' if dry_run else 'updated'} {record['updated']}, failed {record['failed']}"
        + (f", skipped {record['skipped']} likely duplicates" if record["skipped"] else "")
        + (f", flagged {record['flagged']}" if record["flagged"] else "")
        + (f" (failed rows: {record['failed_path']})" if record["failed_path"] else "")
    )
    if record["failed"]:
        sys.exit(1)


# -- plugins in a tenant ------------------------------------------------------------


@main.group()
def plugin():
    """Plugins in a tenant: list, install, upgrade, uninstall; new writes one."""


@plugin.command("new")
@click.argument("name")
@click.option("--path", "path", type=click.Path(path_type=Path), default=None, help="Folder to write (default ./NAME).")
def plugin_new(name, path):
    """Write a new plugin package NAME: an object, its rules, a record event, a panel, tests."""
    folder = write_plugin(name, path or Path(name))
    values = substitutions(name)
    click.echo(f"wrote {values['dist']} to {folder}")
    click.echo(f"next: pip install -e {folder} && python -m pytest {folder / 'tests'} -q -p no:xdist")


@plugin.command("list")
@instance_options
@click.option("--tenant", "tenant_slug", default=None, help="Also show what this tenant has installed.")
def plugin_list(overrides, tenant_slug):
    """List the plugins (version, and a tenant's installed version), then the broken ones."""
    instance = _instance(overrides)
    installed = lifecycle.installed_plugins(instance, instance.db.bind(tenant_slug)) if tenant_slug else {}
    for name, info in sorted(lifecycle.available_plugins(instance).items()):
        state = f"installed {installed[name].get('version')}" if name in installed else "not installed"
        click.echo(f"{name}\t{info.version}\t{state}\t{info.label}")
    for name, reason in sorted(instance.pm.broken.items()):
        click.echo(f"{name}\t-\tbroken\t{reason}")


def _report(result: dict, tenant_slug: str) -> None:
    name, version = result["plugin"], result["version"]
    if result["revision"] is None:
        click.echo(f"{name} {version} is already up to date in {tenant_slug}")
    else:
        click.echo(
            f"{name} {version} {result['action']} in {tenant_slug} as metadata revision {result['revision']}: "
            f"{result['created']} created, {result['updated']} updated, {result.get('removed', 0)} removed"
        )
    for conflict in result["conflicts"]:
        click.echo(f"  kept {conflict['kind']} {conflict['key']}: {conflict['reason']}")


@plugin.command("install")
@instance_options
@click.argument("name")
@click.option("--tenant", "tenant_slug", required=True, help="Tenant to install into.")
def plugin_install(overrides, name, tenant_slug):
    """Install plugin NAME in a tenant (or bring it to this version)."""
    instance = _instance(overrides)
    _report(lifecycle.install(instance, instance.db.bind(tenant_slug), name, CLI_ACTOR), tenant_slug)


@plugin.command("upgrade")
@instance_options
@click.argument("name")
@click.option("--tenant", "tenant_slug", required=True, help="Tenant to upgrade in.")
def plugin_upgrade(overrides, name, tenant_slug):
    """Upgrade installed plugin NAME to this version, keeping the tenant's changes."""
    instance = _instance(overrides)
    _report(lifecycle.upgrade(instance, instance.db.bind(tenant_slug), name, CLI_ACTOR), tenant_slug)


@plugin.command("uninstall")
@instance_options
@click.argument("name")
@click.option("--tenant", "tenant_slug", required=True, help="Tenant to uninstall from.")
@click.option("--purge", is_flag=True, help="Also delete its objects and fields with their data, for good.")
def plugin_uninstall(overrides, name, tenant_slug, purge):
    """Uninstall plugin NAME: its definitions go to the recycle bin (data kept) unless --purge."""
    instance = _instance(overrides)
    result = lifecycle.uninstall(instance, instance.db.bind(tenant_slug), name, CLI_ACTOR, purge=purge)
    where = "deleted for good" if purge else "moved to the recycle bin"
    click.echo(f"{name} {result['version']} uninstalled from {tenant_slug}: {result['removed']} definitions {where}")


@main.group()
def keys():
    """Keys of encrypted fields (ENCRYPTION_KEYS; docs/security.md)."""


@keys.command("generate")
@click.option("--id", "key_id", default=None, help="The new key's id (default: k<timestamp>).")
def keys_generate(key_id):
    """Print a new key entry to append to ENCRYPTION_KEYS (then run `metacrm keys rotate`)."""
    import time

    from metacrm.platform.crypto import generate_key

    click.echo(f"{key_id or f'k{int(time.time())}'}:{generate_key()}")


@keys.command("rotate")
@instance_options
@click.option("--tenant", "tenant_slug", default=None, help="Only this tenant (default: every tenant).")
@click.option("--batch-size", default=500, show_default=True, type=click.IntRange(1, 10000), help="Rows per commit.")
def keys_rotate(overrides, tenant_slug, batch_size):
    """Re-encrypt every encrypted value under the newest key, in batches.
    Interrupted, it resumes where it stopped when run again; retire an old
    key from ENCRYPTION_KEYS only after a run that re-encrypted nothing."""
    from metacrm.metadata.model import field_types, model_for
    from metacrm.metadata.store.sealing import rotate

    instance = _instance(overrides)
    ring = field_types(instance).keyring
    slugs = [tenant_slug] if tenant_slug else [row["slug"] for row in tenancy.list_tenants(instance)]
    total = 0
    for slug in slugs:
        binding = instance.db.bind(slug)
        done = rotate(binding, model_for(instance, binding), ring, batch_size=batch_size, progress=click.echo)
        with binding.begin() as conn:
            audit.record(conn, CLI_ACTOR, "keys.rotated", details={"key": ring.current_id, "re_encrypted": done})
        total += sum(done.values())
    click.echo(f"done: {total} value(s) re-encrypted under key {ring.current_id}")


@main.group()
def recycle():
    """The recycle bin of deleted fields, objects and records."""


@recycle.command("purge")
@instance_options
@click.option("--tenant", "tenant_slug", required=True, help="Tenant whose recycle bin to purge.")
@click.option(
    "--days",
    type=int,
    default=None,
    help="Purge what was deleted more than DAYS ago (default: the RECYCLE_BIN_DAYS setting, 15).",
)
def recycle_purge(overrides, tenant_slug, days):
    """Remove for good what has been in the recycle bin longer than the retention period."""
    instance = _instance(overrides)
    for line in purge_recycle_bin(instance, instance.db.bind(tenant_slug), days):
        click.echo(f"purged {line}")
    click.echo("done")


@main.command()
@instance_options
@click.option("--workers", default=2, show_default=True, type=int, help="Worker threads.")
def worker(overrides, workers):
    """Run background and scheduled jobs (huey consumer) until stopped."""
    queue = job_queue(_instance(overrides))
    click.echo(f"running jobs: {', '.join(queue.names())}")
    queue.consumer(workers=workers).run()


def _register_plugin_commands() -> None:
    pm = create_plugin_manager(BUILTIN_PLUGINS)
    pm.hook.register_commands(cli=main)


_register_plugin_commands()
