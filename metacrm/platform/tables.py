"""Table definitions of the platform namespace and of the part of every tenant
namespace that the platform owns.

Platform tables carry the symbolic schema ``"platform"``; tenant tables carry
no schema. :class:`metacrm.platform.database.Database` maps both onto real
namespaces with SQLAlchemy's ``schema_translate_map``, so the same definitions
serve PostgreSQL (schemas) and SQLite (files). The migrations under
``platform/migrations`` create exactly these tables.
"""

from __future__ import annotations

import sqlalchemy as sa

PLATFORM = "platform"  # symbolic schema, translated per database

platform_metadata = sa.MetaData(schema=PLATFORM)

tenants = sa.Table(
    "tenants",
    platform_metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("slug", sa.String(40), nullable=False, unique=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("status", sa.String(20), nullable=False, server_default="active"),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    # Bumped by every change of the tenant's settings: a signed-in request reads
    # it with the identity and finds the settings in a per-process cache by it.
    sa.Column("settings_version", sa.Integer, nullable=False, server_default="0"),
)

users = sa.Table(
    "users",
    platform_metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("email", sa.String(254), nullable=False, unique=True),
    sa.Column("display_name", sa.String(200), nullable=False, server_default=""),
    sa.Column("password_hash", sa.String(255), nullable=False),
    sa.Column("is_active", sa.Boolean, nullable=False, server_default=sa.true()),
    # Bumped when the password changes: every session signed before is void.
    sa.Column("session_epoch", sa.Integer, nullable=False, server_default="0"),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    # The screens' language and time zone; null: the browser's language, the tenant's zone.
    sa.Column("locale", sa.String(16), nullable=True),
    sa.Column("time_zone", sa.String(64), nullable=True),
)

memberships = sa.Table(
    "memberships",
    platform_metadata,
    sa.Column("user_id", sa.Integer, sa.ForeignKey("platform.users.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("tenant_id", sa.Integer, sa.ForeignKey("platform.tenants.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("is_admin", sa.Boolean, nullable=False, server_default=sa.false()),
    # The role api name given at creation; the access layer owns what it means.
    sa.Column("role", sa.String(63), nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

api_tokens = sa.Table(
    "api_tokens",
    platform_metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("platform.users.id", ondelete="CASCADE"), nullable=False),
    sa.Column("tenant_id", sa.Integer, sa.ForeignKey("platform.tenants.id", ondelete="CASCADE"), nullable=False),
    sa.Column("name", sa.String(100), nullable=False, server_default=""),
    # First characters of the token, shown so a user can tell tokens apart.
    sa.Column("prefix", sa.String(16), nullable=False),
    # SHA-256 of the token: tokens are 256-bit random, so a slow hash adds nothing.
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
)

login_attempts = sa.Table(
    "login_attempts",
    platform_metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("email", sa.String(254), nullable=False, index=True),
    sa.Column("ip", sa.String(45), nullable=False, index=True),
    sa.Column("succeeded", sa.Boolean, nullable=False),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False, index=True),
)

# TOTP two-factor authentication (metacrm.platform.twofactor). The row exists
# from enrolment; the factor is in force once confirmed_at is set.
user_totp = sa.Table(
    "user_totp",
    platform_metadata,
    sa.Column("user_id", sa.Integer, sa.ForeignKey("platform.users.id", ondelete="CASCADE"), primary_key=True),
    # Base32 shared secret: the server must read it back to check codes, so
    # it cannot be hashed; it never leaves the platform namespace after
    # enrolment (not in exports, not in any API answer).
    sa.Column("secret", sa.String(64), nullable=False),
    sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=True),
    # SHA-256 of each unused recovery code.
    sa.Column("recovery_codes", sa.JSON, nullable=False),
    # The last time step whose code was accepted: a code works only once.
    sa.Column("last_used_step", sa.BigInteger, nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

# One row per setting a tenant changed from its default; the settings and
# their defaults are defined in metacrm.platform.settings.
tenant_settings = sa.Table(
    "tenant_settings",
    platform_metadata,
    sa.Column("tenant_id", sa.Integer, sa.ForeignKey("platform.tenants.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("key", sa.String(63), primary_key=True),
    sa.Column("value", sa.JSON, nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)

tenant_metadata = sa.MetaData()

# Append-only: database triggers (created by the tenant migration) refuse
# UPDATE and DELETE, so not even a bug in our code can rewrite history.
audit_log = sa.Table(
    "audit_log",
    tenant_metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False, index=True),
    sa.Column("actor_id", sa.Integer, nullable=True),
    sa.Column("actor_email", sa.String(254), nullable=True),
    sa.Column("action", sa.String(60), nullable=False, index=True),
    sa.Column("object", sa.String(63), nullable=True),
    sa.Column("record_id", sa.String(64), nullable=True),
    sa.Column("details", sa.JSON, nullable=True),
    sa.Column("ip", sa.String(45), nullable=True),
    sa.Column("request_id", sa.String(36), nullable=True),
    sa.Index("ix_audit_log_object_record", "object", "record_id"),
)
