"""Configuration, read once per app: defaults → instance config file →
``METACRM_*`` environment variables → the mapping passed to ``create_app``.

No secret has a hard-coded default: without ``METACRM_SECRET_KEY`` a random key
is generated on first start and kept (mode 0600) in the data folder.
"""

from __future__ import annotations

import os
import secrets
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from metacrm.platform.caches import DEFAULT_TENANT_CACHE_SIZE
from metacrm.platform.crypto import keyring_from_config
from metacrm.platform.errors import ConfigError
from metacrm.platform.outbound import OutboundPolicy

DEFAULTS: dict[str, Any] = {
    # Where the embedded instance keeps its files (SQLite databases, secret key).
    "DATA_DIR": "metacrm-data",
    # Empty: embedded SQLite in DATA_DIR. Otherwise a SQLAlchemy URL
    # (postgresql+psycopg://user@host/db).
    "DATABASE_URL": "",
    "SECRET_KEY": "",
    "REDIS_URL": "",
    # PostgreSQL namespaces: platform tables live in PLATFORM_SCHEMA, tenant
    # <slug> in TENANT_SCHEMA_PREFIX + slug.
    "PLATFORM_SCHEMA": "metacrm",
    "TENANT_SCHEMA_PREFIX": "t_",
    # PostgreSQL connections each process keeps open (plus up to 10 more
    # while busy, closed again when returned). 0: 5, or under `metacrm serve`
    # the worker's thread count when larger, so no request waits for a
    # connection or opens a fresh one.
    "DATABASE_POOL_SIZE": 0,
    # A worker keeps the derived values (compiled model and policy, settings;
    # on SQLite the tenant file's engine) of this many most recently served
    # tenants; another tenant's first request rebuilds them (docs/scaling.md).
    "TENANT_CACHE_SIZE": DEFAULT_TENANT_CACHE_SIZE,
    # PostgreSQL: false turns psycopg's server-side prepared statements off
    # (behind PgBouncer in transaction mode older than 1.21); a pooled
    # connection older than DATABASE_POOL_RECYCLE_SECONDS is replaced (0:
    # never), which bounds what a server process caches of the tenants'
    # catalogs (docs/scaling.md).
    "DATABASE_PREPARED_STATEMENTS": True,
    "DATABASE_POOL_RECYCLE_SECONDS": 0,
    # Browser sessions: cookies only over HTTPS unless explicitly turned off
    # (the demo turns it off because it serves plain http on localhost).
    "SESSION_COOKIE_SECURE": True,
    "SESSION_LIFETIME_HOURS": 12,
    "MAX_CONTENT_LENGTH": 10 * 1024 * 1024,
    # Sign-in throttling: this many failures for one e-mail address (or five
    # times as many from one IP address) within the window locks out further
    # attempts until the window has passed.
    "LOGIN_MAX_FAILURES": 5,
    "LOGIN_FAILURE_WINDOW_SECONDS": 900,
    "LOG_LEVEL": "INFO",
    # Run background jobs synchronously where they are enqueued (tests only).
    "JOBS_IMMEDIATE": False,
    # Deleted fields, objects and records stay restorable this long; then
    # `metacrm recycle purge` (or its scheduled job) removes them for good.
    "RECYCLE_BIN_DAYS": 15,
    # Nightly backups (`backup.nightly`, docs/operations.md) go here, one
    # folder per tenant; empty: no nightly backup. `metacrm backup` removes a
    # tenant's backups older than BACKUP_KEEP_DAYS (never the newest).
    "BACKUP_DIR": "",
    "BACKUP_KEEP_DAYS": 14,
    # Automation run-log rows and finished outbox rows are kept this long.
    "AUTOMATION_LOG_DAYS": 30,
    # Prefilled in the sign-in form (the demo sets "demo").
    "DEFAULT_TENANT": "",
    # The address users reach the app at ("https://crm.example.com"), for
    # links that leave it in e-mails (satisfaction surveys); empty: such
    # links are paths only.
    "PUBLIC_URL": "",
    # Outgoing mail of automation EMAIL actions; with SMTP_HOST empty, mails
    # stay in the tenant's outbox marked undelivered (docs/automation.md).
    "SMTP_HOST": "",
    "SMTP_PORT": 587,
    "SMTP_USERNAME": "",
    "SMTP_PASSWORD": "",
    "SMTP_FROM": "",
    "SMTP_STARTTLS": True,
    # Webhooks and e-mail never go to loopback, link-local, private or other
    # non-public addresses except these networks ("10.0.0.0/8") and host
    # names ("hooks.internal"); the environment variable takes them
    # comma-separated (docs/security.md).
    "OUTBOUND_ALLOW": [],
    # Keys of encrypted fields, "id:key" entries (key: 32 bytes, URL-safe
    # base64; `metacrm keys generate`), oldest first: the last encrypts, all
    # decrypt. Empty: one key generated and kept in DATA_DIR (one host only).
    # The environment variable takes them comma-separated (docs/security.md).
    "ENCRYPTION_KEYS": [],
    # Mass e-mail (docs/marketing.md): at most this many campaign e-mails
    # leave one tenant's outbox per minute.
    "MASS_EMAIL_PER_MINUTE": 60,
    # Public web-to-lead forms: posts accepted from one IP address per form
    # within an hour (more are answered 429), and the largest post in bytes.
    "WEB_FORM_POSTS_PER_HOUR": 10,
    "WEB_FORM_MAX_BYTES": 16 * 1024,
}

ENV_PREFIX = "METACRM_"
CONFIG_FILE_NAME = "metacrm.toml"


def _coerce(key: str, raw: str, default: Any) -> Any:
    if isinstance(default, bool):
        lowered = raw.strip().lower()
        if lowered in {"1", "true", "yes", "on"}:
            return True
        if lowered in {"0", "false", "no", "off"}:
            return False
        raise ConfigError(f"{ENV_PREFIX}{key} must be true or false, not {raw!r}")
    if isinstance(default, list):
        return [item.strip() for item in raw.split(",") if item.strip()]
    if isinstance(default, int):
        try:
            return int(raw)
        except ValueError:
            raise ConfigError(f"{ENV_PREFIX}{key} must be an integer, not {raw!r}") from None
    return raw


def load_config(overrides: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Return the effective configuration.

    ``overrides`` (what the caller of ``create_app`` passed) wins over the
    environment, which wins over the instance file ``DATA_DIR/metacrm.toml``
    (or the file named by ``METACRM_CONFIG``), which wins over the defaults.
    """
    environ = os.environ if environ is None else environ
    overrides = dict(overrides or {})
    config = dict(DEFAULTS)

    data_dir = overrides.get("DATA_DIR") or environ.get(ENV_PREFIX + "DATA_DIR") or DEFAULTS["DATA_DIR"]
    config_file = overrides.get("CONFIG_FILE") or environ.get(ENV_PREFIX + "CONFIG")
    path = Path(config_file) if config_file else Path(data_dir) / CONFIG_FILE_NAME
    if path.is_file():
        try:
            file_values = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: {exc}") from None
        for key, value in file_values.items():
            config[key.upper()] = value
    elif config_file:
        raise ConfigError(f"config file {config_file} does not exist")

    for key, default in DEFAULTS.items():
        if ENV_PREFIX + key in environ:
            config[key] = _coerce(key, environ[ENV_PREFIX + key], default)

    config.update(overrides)
    config["DATA_DIR"] = str(Path(config["DATA_DIR"]).resolve())
    OutboundPolicy.from_config(config)  # a malformed allow-list stops start-up, not a delivery
    if config.get("ENCRYPTION_KEYS"):
        keyring_from_config(config)  # likewise a malformed key ring
    return config


def ensure_secret_key(config: dict[str, Any]) -> str:
    """Return the configured secret key, or the one kept in the data folder
    (generated on first use)."""
    if config.get("SECRET_KEY"):
        return config["SECRET_KEY"]
    key_file = Path(config["DATA_DIR"]) / "secret_key"
    if not key_file.is_file():
        key_file.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        # Write a private temporary file, then link it into place: the link is
        # atomic, so workers starting together all end up reading one complete key.
        tmp = key_file.with_name(f"secret_key.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(secrets.token_urlsafe(48) + "\n")
        try:
            os.link(tmp, key_file)
        except FileExistsError:
            pass  # another process won the race; use its key
        finally:
            tmp.unlink()
    key = key_file.read_text(encoding="utf-8").strip()
    if not key:
        raise ConfigError(f"{key_file} is empty: delete it or set METACRM_SECRET_KEY")
    return key
