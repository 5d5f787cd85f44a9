"""Login identities: users, their tenant memberships, passwords, API tokens
and sign-in throttling. All of it lives in the platform namespace.

Passwords are hashed with argon2id (argon2-cffi defaults, re-hashed when the
parameters change) and must pass the tenants' password policy
(:mod:`metacrm.platform.passwords`). API tokens are 256-bit random strings
stored as SHA-256. Throttling counts failures in the database, so every
worker sees them. A password change, and "sign out everywhere", end every
browser session (``session_epoch``) and revoke every API token of the user.
Every sign-in and every failure is audited in the tenant, failures with one
reason (``bad_credentials``) whatever was wrong, so the log of one tenant
does not tell its admins whether an e-mail address has a login elsewhere.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import logging
import re
import secrets
import types
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from metacrm.platform import audit, twofactor
from metacrm.platform.caches import CacheSlot, LruDict
from metacrm.platform.clock import as_utc, utcnow
from metacrm.platform.database import INT32_MAX, SLUG_RE, validate_slug
from metacrm.platform.errors import (
    BadRequest,
    Conflict,
    NotFound,
    SecondFactorRequired,
    TooManyRequests,
    Unauthenticated,
    ValidationFailed,
)
from metacrm.platform.instance import Instance
from metacrm.platform.passwords import check_password
from metacrm.platform.settings import default_settings, settings_of, time_zone_problem
from metacrm.platform.tables import (
    PLATFORM,
    api_tokens,
    login_attempts,
    memberships,
    tenant_settings,
    tenants,
    user_totp,
    users,
)

log = logging.getLogger("metacrm.auth")
_hasher = PasswordHasher()
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
TOKEN_PREFIX = "mcrm_"


@dataclass(frozen=True)
class Identity:
    """A signed-in user acting in one tenant."""

    user_id: int
    email: str
    display_name: str
    tenant_slug: str
    tenant_id: int
    is_admin: bool
    role: str | None
    session_epoch: int = 0
    token_id: int | None = None
    tenant_name: str = ""
    # The tenant requires two-factor authentication of this role and the
    # user has not enrolled yet: nothing but enrolling is allowed.
    two_factor_pending: bool = False
    # The user's chosen language and time zone (None: not chosen).
    locale: str | None = None
    time_zone: str | None = None
    # The version of the tenant's settings (``tenants.settings_version``), the
    # key of their cache (metacrm.platform.settings.settings_for).
    tenant_settings_version: int = 0
    # How many active tenants the user belongs to (the screens offer a switch when > 1).
    tenant_count: int = 1

    def as_actor(self, ip: str | None = None, request_id: str | None = None) -> audit.Actor:
        return audit.Actor(user_id=self.user_id, email=self.email, ip=ip, request_id=request_id)


# -- passwords ---------------------------------------------------------------


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def check_password_policy(instance: Instance, password: str, tenant_ids: list[int], *, field: str = "password") -> None:
    """The password must satisfy the policy of every tenant listed (a login
    is shared by all its tenants, so the strictest one counts; a login in
    no tenant gets the default policy)."""
    policies = list(settings_of(instance, tenant_ids).values()) or [default_settings()]
    check_password(password, policies, field=field)


def normalize_email(email: str) -> str:
    email = (email or "").strip().lower()
    if not EMAIL_RE.match(email) or len(email) > 254:
        raise ValidationFailed(
            "not a valid e-mail address", details={"fields": {"email": ["not a valid e-mail address"]}}
        )
    return email


# -- users and memberships ----------------------------------------------------


def create_user(
    instance: Instance,
    *,
    tenant: str,
    email: str,
    password: str,
    display_name: str = "",
    is_admin: bool = False,
    role: str | None = None,
    actor: audit.Actor = audit.SYSTEM,
) -> int:
    """Create the user (or reuse an existing login) and make them a member of
    ``tenant``. Returns the user id; Conflict if already a member."""
    email = normalize_email(email)
    binding = instance.db.bind(tenant)
    with instance.db.platform_begin() as conn:
        row = conn.execute(sa.select(users.c.id).where(users.c.email == email)).first()
        if row is None:
            check_password_policy(instance, password, [binding.tenant_id])
            user_id = conn.execute(
                users.insert().values(
                    email=email,
                    display_name=display_name or email.split("@")[0],
                    password_hash=hash_password(password),
                    created_at=utcnow(),
                )
            ).inserted_primary_key[0]
        else:
            user_id = row.id
            already = conn.execute(
                sa.select(memberships.c.user_id).where(
                    memberships.c.user_id == user_id, memberships.c.tenant_id == binding.tenant_id
                )
            ).first()
            if already:
                raise Conflict(
                    f"{email} is already a member of {tenant}", details={"fields": {"email": ["already a member"]}}
                )
        conn.execute(
            memberships.insert().values(
                user_id=user_id, tenant_id=binding.tenant_id, is_admin=is_admin, role=role, created_at=utcnow()
            )
        )
    with binding.begin() as tconn:
        audit.record(
            tconn,
            actor,
            "user.added",
            object="user",
            record_id=user_id,
            details={"email": email, "is_admin": is_admin, "role": role},
        )
    return user_id


def list_users(instance: Instance, tenant: str) -> list[dict]:
    binding = instance.db.bind(tenant)
    query = (
        sa.select(
            users.c.id,
            users.c.email,
            users.c.display_name,
            users.c.is_active,
            memberships.c.is_admin,
            memberships.c.role,
        )
        .join(memberships, memberships.c.user_id == users.c.id)
        .where(memberships.c.tenant_id == binding.tenant_id)
        .order_by(users.c.email)
    )
    with instance.db.platform_connect() as conn:
        return [dict(row) for row in conn.execute(query).mappings()]


def user_id_of(instance: Instance, email: str) -> int:
    """The id of the login ``email`` (NotFound if there is none)."""
    email = normalize_email(email)
    with instance.db.platform_connect() as conn:
        user_id = conn.execute(sa.select(users.c.id).where(users.c.email == email)).scalar()
    if user_id is None:
        raise NotFound(f"no user {email}")
    return user_id


def set_password(
    instance: Instance, email: str, password: str, *, actor: audit.Actor = audit.SYSTEM, field: str = "password"
) -> None:
    """Change a password (checked against the policy of each of the user's
    tenants); every browser session of the user ends and every API token is
    revoked, in every tenant."""
    user_id = user_id_of(instance, email)
    with instance.db.platform_connect() as conn:
        tenant_ids = list(
            conn.execute(sa.select(memberships.c.tenant_id).where(memberships.c.user_id == user_id)).scalars()
        )
    check_password_policy(instance, password, tenant_ids, field=field)
    with instance.db.platform_begin() as conn:
        conn.execute(users.update().where(users.c.id == user_id).values(password_hash=hash_password(password)))
        revoked = _end_sessions_and_tokens(conn, user_id)
    _audit_in_every_tenant(
        instance, user_id, actor, "user.password_changed", object="user", record_id=user_id, details=revoked
    )


def change_own_password(
    instance: Instance, identity: Identity, current_password: str, new_password: str, *, ip: str, actor: audit.Actor
) -> None:
    """A signed-in user changes their password, proving they know the
    current one (a wrong one counts as a failed sign-in for throttling)."""
    with instance.db.platform_connect() as conn:
        _check_throttle(instance, conn, identity.email, ip)
        password_hash = conn.execute(sa.select(users.c.password_hash).where(users.c.id == identity.user_id)).scalar()
    if password_hash is None or not _verify(password_hash, current_password):
        with instance.db.platform_begin() as conn:
            conn.execute(login_attempts.insert().values(email=identity.email, ip=ip, succeeded=False, at=utcnow()))
        raise ValidationFailed(
            "the current password is wrong", details={"fields": {"current_password": ["wrong password"]}}
        )
    set_password(instance, identity.email, new_password, actor=actor, field="new_password")


LOCALES = ("en", "zh_CN")


def set_preferences(
    instance: Instance, user_id: int, *, locale: str | None, time_zone: str | None, actor: audit.Actor = audit.SYSTEM
) -> None:
    """The user's language and time zone for the screens (None: not chosen,
    the browser's language and the tenant's zone apply)."""
    problems = {}
    if locale is not None and locale not in LOCALES:
        problems["locale"] = [f"one of {', '.join(LOCALES)}"]
    if time_zone is not None and (reason := time_zone_problem(time_zone)):
        problems["time_zone"] = [reason]
    if problems:
        raise ValidationFailed("invalid preferences", details={"fields": problems})
    with instance.db.platform_begin() as conn:
        conn.execute(users.update().where(users.c.id == user_id).values(locale=locale, time_zone=time_zone))
    _audit_in_every_tenant(
        instance,
        user_id,
        actor,
        "user.preferences_changed",
        object="user",
        record_id=user_id,
        details={"locale": locale, "time_zone": time_zone},
    )


def set_display_name(instance: Instance, user_id: int, display_name: str, *, actor: audit.Actor = audit.SYSTEM) -> None:
    """The name the screens show for the user (1 to 200 characters, in every tenant)."""
    display_name = " ".join(display_name.split())
    if not 1 <= len(display_name) <= 200:
        raise ValidationFailed("invalid display name", details={"fields": {"display_name": ["1 to 200 characters"]}})
    with instance.db.platform_begin() as conn:
        conn.execute(users.update().where(users.c.id == user_id).values(display_name=display_name))
    _audit_in_every_tenant(
        instance,
        user_id,
        actor,
        "user.profile_changed",
        object="user",
        record_id=user_id,
        details={"display_name": display_name},
    )


def _managed_login(instance: Instance, tenant: str, user_id: int) -> str:
    """The e-mail of ``user_id`` if a tenant administrator may manage the
    login itself (activate it, reset its password): a member of ``tenant``
    and of no other organisation, since a login is shared by all of its
    tenants (NotFound / Conflict otherwise)."""
    binding = instance.db.bind(tenant)
    with instance.db.platform_connect() as conn:
        row = conn.execute(sa.select(users.c.email).where(users.c.id == user_id)).first()
        tenant_ids = set(
            conn.execute(sa.select(memberships.c.tenant_id).where(memberships.c.user_id == user_id)).scalars()
        )
    if row is None or binding.tenant_id not in tenant_ids:
        raise NotFound(f"user {user_id} is no member of {tenant}")
    if tenant_ids != {binding.tenant_id}:
        raise Conflict(
            f"{row.email} also signs in to other organisations: their login is managed by the platform operator",
            details={"user_id": user_id},
        )
    return row.email


def set_active(
    instance: Instance, tenant: str, user_id: int, active: bool, *, actor: audit.Actor = audit.SYSTEM
) -> None:
    """Deactivate (or reactivate) a member's login: a deactivated user cannot
    sign in, and their sessions and API tokens end at once. Only for a login
    that belongs to ``tenant`` alone; never one's own (the actor's)."""
    _managed_login(instance, tenant, user_id)
    if not active and actor.user_id == user_id:
        raise Conflict("you cannot deactivate yourself", details={"user_id": user_id})
    with instance.db.platform_begin() as conn:
        conn.execute(users.update().where(users.c.id == user_id).values(is_active=bool(active)))
        revoked = _end_sessions_and_tokens(conn, user_id) if not active else {}
    with instance.db.bind(tenant).begin() as tconn:
        audit.record(
            tconn,
            actor,
            "user.activated" if active else "user.deactivated",
            object="user",
            record_id=user_id,
            details=revoked or None,
        )


def temporary_password() -> str:
    """A random password to hand over once (long enough for any policy)."""
    return secrets.token_urlsafe(18)


def reset_password(instance: Instance, tenant: str, user_id: int, *, actor: audit.Actor = audit.SYSTEM) -> str:
    """Give a member a new random password, returned to be shown once to the
    administrator; their sessions and tokens end. Only for a login that
    belongs to ``tenant`` alone."""
    email = _managed_login(instance, tenant, user_id)
    password = temporary_password()
    set_password(instance, email, password, actor=actor)
    return password


def sign_out_everywhere(instance: Instance, user_id: int, *, actor: audit.Actor = audit.SYSTEM) -> int:
    """End every browser session and revoke every API token of the user, in
    every tenant. Returns the number of tokens revoked."""
    with instance.db.platform_begin() as conn:
        revoked = _end_sessions_and_tokens(conn, user_id)
    _audit_in_every_tenant(
        instance, user_id, actor, "auth.signed_out_everywhere", object="user", record_id=user_id, details=revoked
    )
    return revoked["tokens_revoked"]


def _end_sessions_and_tokens(conn, user_id: int) -> dict:
    """Sessions carry the epoch they were signed in under, so bumping it
    voids them all; tokens are marked revoked."""
    result = conn.execute(users.update().where(users.c.id == user_id).values(session_epoch=users.c.session_epoch + 1))
    if result.rowcount == 0:
        raise NotFound(f"no user {user_id}")
    tokens = conn.execute(
        api_tokens.update()
        .where(api_tokens.c.user_id == user_id, api_tokens.c.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    return {"tokens_revoked": tokens.rowcount}


def _audit_in_every_tenant(instance: Instance, user_id: int, actor: audit.Actor, action: str, **entry) -> None:
    for slug in tenants_of(instance, user_id):
        with instance.db.bind(slug).begin() as tconn:
            audit.record(tconn, actor, action, **entry)


def _identity_query():
    """Users joined with their active memberships in active tenants."""
    other_memberships = memberships.alias("other_memberships")
    other_tenants = tenants.alias("other_tenants")
    tenant_count = (
        sa.select(sa.func.count())
        .select_from(other_memberships.join(other_tenants, other_tenants.c.id == other_memberships.c.tenant_id))
        .where(other_memberships.c.user_id == users.c.id, other_tenants.c.status == "active")
        .scalar_subquery()
        .label("tenant_count")
    )
    return (
        sa.select(
            users.c.id,
            users.c.email,
            users.c.display_name,
            users.c.session_epoch,
            users.c.locale,
            users.c.time_zone,
            tenants.c.id.label("tenant_id"),
            tenants.c.slug,
            tenants.c.name.label("tenant_name"),
            tenants.c.settings_version,
            memberships.c.is_admin,
            memberships.c.role,
            user_totp.c.confirmed_at.label("two_factor_since"),
            tenant_settings.c.value.label("two_factor_roles"),
            tenant_count,
        )
        .join(memberships, memberships.c.user_id == users.c.id)
        .join(tenants, tenants.c.id == memberships.c.tenant_id)
        .outerjoin(user_totp, user_totp.c.user_id == users.c.id)
        .outerjoin(
            tenant_settings,
            sa.and_(tenant_settings.c.tenant_id == tenants.c.id, tenant_settings.c.key == "two_factor_roles"),
        )
        .where(users.c.is_active.is_(True), tenants.c.status == "active")
    )


@functools.cache
def _statements() -> dict[str, sa.Select]:
    """The identity statements, built once with bound parameters: a request
    reuses the construct (and SQLAlchemy's compiled form of it) instead of
    building the joins, aliases and sub-select anew (issue 16, item 2)."""
    member = _identity_query().where(
        users.c.id == sa.bindparam("user_id", type_=sa.Integer), tenants.c.slug == sa.bindparam("slug", type_=sa.String)
    )
    token = (
        _identity_query()
        .add_columns(api_tokens.c.id.label("token_id"), api_tokens.c.last_used_at)
        .join(api_tokens, sa.and_(api_tokens.c.user_id == users.c.id, api_tokens.c.tenant_id == tenants.c.id))
        .where(
            api_tokens.c.token_hash == sa.bindparam("token_hash", type_=sa.String), api_tokens.c.revoked_at.is_(None)
        )
    )
    return {"member": member, "token": token}


def _identity(row, token_id: int | None = None) -> Identity:
    return Identity(
        row.id,
        row.email,
        row.display_name,
        row.slug,
        row.tenant_id,
        row.is_admin,
        row.role,
        row.session_epoch,
        token_id,
        row.tenant_name,
        row.role in (row.two_factor_roles or []) and row.two_factor_since is None,
        row.locale,
        row.time_zone,
        row.settings_version,
        row.tenant_count,
    )


def identity_for(instance: Instance, user_id: int, tenant_slug: str) -> Identity | None:
    """The user's identity in the tenant, or None if not an active member."""
    with instance.db.platform_connect() as conn:
        row = conn.execute(_statements()["member"], {"user_id": user_id, "slug": tenant_slug}).first()
    return None if row is None else _identity(row)


def member_identity_and_tenant_reads(
    instance: Instance, user_id: int, tenant_slug: str
) -> tuple[Identity | None, dict | None]:
    """:func:`identity_for` for a signed-in browser session, and on PostgreSQL
    the instance's ``tenant_reads`` columns in the SAME statement (the session
    names its tenant, so the reads can always ride along): one round trip
    for the session check, the head revision and the roles, as for a token.
    The reads are None when not folded (SQLite, none registered, the
    tenant's schema gone)."""
    reads = getattr(instance, "tenant_reads", None)
    if reads is not None and instance.db.dialect == "postgresql" and SLUG_RE.match(tenant_slug or ""):
        statement, names = _with_tenant_reads(reads, "member")
        try:
            with instance.db.platform_and_tenant_connect(tenant_slug) as conn:
                row = conn.execute(statement, {"user_id": user_id, "slug": tenant_slug}).first()
        except sa.exc.ProgrammingError:  # the tenant's schema is gone: the plain check decides
            pass
        else:
            if row is None:
                return None, None
            return _identity(row), {name: getattr(row, name) for name in names}
    return identity_for(instance, user_id, tenant_slug), None


def two_factor_required(instance: Instance, identity: Identity) -> bool:
    """Whether the identity's tenant requires two-factor authentication of its role."""
    roles = settings_of(instance, [identity.tenant_id])[identity.tenant_id]["two_factor_roles"]
    return identity.role in roles


def tenants_of(instance: Instance, user_id: int) -> list[str]:
    query = (
        sa.select(tenants.c.slug)
        .join(memberships, memberships.c.tenant_id == tenants.c.id)
        .where(memberships.c.user_id == user_id, tenants.c.status == "active")
        .order_by(tenants.c.slug)
    )
    with instance.db.platform_connect() as conn:
        return list(conn.execute(query).scalars())


# -- sign-in with throttling ---------------------------------------------------


def _check_throttle(instance: Instance, conn, email: str, ip: str) -> None:
    config = instance.config
    window = timedelta(seconds=config["LOGIN_FAILURE_WINDOW_SECONDS"])
    since = utcnow() - window
    limit = config["LOGIN_MAX_FAILURES"]

    def failures(column, value, cap):
        # Failures since the last success of that key, within the window.
        last_ok = conn.execute(
            sa.select(sa.func.max(login_attempts.c.at)).where(column == value, login_attempts.c.succeeded.is_(True))
        ).scalar()
        start = max(since, as_utc(last_ok)) if last_ok else since
        rows = (
            conn.execute(
                sa.select(login_attempts.c.at)
                .where(column == value, login_attempts.c.succeeded.is_(False), login_attempts.c.at > start)
                .order_by(login_attempts.c.at)
            )
            .scalars()
            .all()
        )
        if len(rows) >= cap:
            oldest_counted = as_utc(rows[-cap])
            return max(1, int((oldest_counted + window - utcnow()).total_seconds()) + 1)
        return 0

    retry = max(failures(login_attempts.c.email, email, limit), failures(login_attempts.c.ip, ip, limit * 5))
    if retry:
        raise TooManyRequests(
            "too many failed sign-in attempts; try again later",
            retry_after=retry,
            details={"retry_after_seconds": retry},
        )


def authenticate(
    instance: Instance,
    *,
    email: str,
    password: str,
    tenant: str,
    ip: str,
    request_id: str | None = None,
    otp: str | None = None,
) -> Identity:
    """Check a password sign-in to ``tenant``; every attempt is counted and
    audited in the tenant (when it exists). Raises Unauthenticated with one
    message for every kind of failure, so nothing is revealed about which
    part was wrong; TooManyRequests when throttled. A user with two-factor
    authentication must give ``otp`` (a TOTP or recovery code) too: without
    it, SecondFactorRequired (nothing counted yet; the browser asks for the
    code in a second step, :func:`authenticate_second_factor`)."""
    email = (email or "").strip().lower()[:254]
    tenant = (tenant or "").strip()
    with instance.db.platform_connect() as conn:
        _check_throttle_audited(instance, conn, email, ip, tenant, request_id)
        row = conn.execute(
            sa.select(users.c.id, users.c.password_hash, users.c.is_active).where(users.c.email == email)
        ).first()

    identity = None
    if row is not None and row.is_active:
        if _verify(row.password_hash, password):
            try:
                identity = identity_for(instance, row.id, validate_slug(tenant))
            except BadRequest:  # malformed tenant slug
                identity = None
            if identity and _hasher.check_needs_rehash(row.password_hash):
                with instance.db.platform_begin() as conn:
                    conn.execute(
                        users.update().where(users.c.id == row.id).values(password_hash=hash_password(password))
                    )
    else:
        # Spend the same time as a real check, so timing does not tell which e-mails exist.
        with contextlib.suppress(VerificationError):
            _hasher.verify(_DUMMY_HASH, password or "")

    if identity is not None and twofactor.is_enabled(instance, identity.user_id):
        if not otp:
            raise SecondFactorRequired(
                "enter the code from your authenticator app (or a recovery code) as otp", user_id=identity.user_id
            )
        if not twofactor.verify(instance, identity.user_id, otp):
            return _conclude_sign_in(instance, None, email, tenant, ip, request_id, "bad_second_factor")
        return _conclude_sign_in(instance, identity, email, tenant, ip, request_id, method="password+totp")
    return _conclude_sign_in(instance, identity, email, tenant, ip, request_id)


def authenticate_external(
    instance: Instance, *, email: str, tenant: str, method: str, ip: str, request_id: str | None
) -> Identity:
    """A sign-in vouched for by the tenant's identity provider (``method``
    ``oidc``): the verified e-mail address stands in for the password. The
    login must be an active member of the tenant; TOTP, when the user has it
    on, is still asked (SecondFactorRequired)."""
    email = (email or "").strip().lower()[:254]
    with instance.db.platform_connect() as conn:
        _check_throttle_audited(instance, conn, email, ip, tenant, request_id)
        row = conn.execute(sa.select(users.c.id, users.c.is_active).where(users.c.email == email)).first()
    identity = identity_for(instance, row.id, tenant) if row is not None and row.is_active else None
    if identity is not None and twofactor.is_enabled(instance, identity.user_id):
        raise SecondFactorRequired("enter the code from your authenticator app", user_id=identity.user_id)
    return _conclude_sign_in(instance, identity, email, tenant, ip, request_id, method=method)


def record_failed_sign_in(instance: Instance, *, tenant: str, email: str, ip: str, request_id: str | None, reason: str):
    """Audit a sign-in that failed before an identity could be looked at
    (an identity provider's refusal)."""
    _audit_sign_in(instance, tenant, None, email, ip, request_id, reason=reason)


def authenticate_second_factor(
    instance: Instance,
    *,
    user_id: int,
    tenant: str,
    session_epoch: int,
    code: str,
    ip: str,
    request_id: str | None,
    first_factor: str = "password",
) -> Identity:
    """The second step of a browser sign-in whose first factor was right
    (SecondFactorRequired): the code must match, and the password must not
    have changed in between (``session_epoch``)."""
    identity = identity_for(instance, user_id, tenant)
    if identity is None:
        raise Unauthenticated("wrong e-mail address, password or tenant")
    with instance.db.platform_connect() as conn:
        _check_throttle_audited(instance, conn, identity.email, ip, tenant, request_id)
    if identity.session_epoch != session_epoch or not twofactor.verify(instance, user_id, code):
        return _conclude_sign_in(instance, None, identity.email, tenant, ip, request_id, "bad_second_factor")
    method = f"{first_factor}+totp"
    return _conclude_sign_in(instance, identity, identity.email, tenant, ip, request_id, method=method)


def _check_throttle_audited(instance, conn, email, ip, tenant, request_id) -> None:
    try:
        _check_throttle(instance, conn, email, ip)
    except TooManyRequests:
        _audit_sign_in(instance, tenant, None, email, ip, request_id, reason="throttled")
        raise


def _conclude_sign_in(
    instance, identity, email, tenant, ip, request_id, reason: str = "bad_credentials", method: str = "password"
) -> Identity:
    """Count the attempt, audit it, and answer the identity or Unauthenticated."""
    with instance.db.platform_begin() as conn:
        now = utcnow()
        conn.execute(login_attempts.insert().values(email=email, ip=ip, succeeded=identity is not None, at=now))
        if identity is not None:
            # Keep the table small: what is older than a day no longer counts.
            conn.execute(login_attempts.delete().where(login_attempts.c.at < now - timedelta(days=1)))
    _audit_sign_in(instance, tenant, identity, email, ip, request_id, reason=reason, method=method)
    if identity is None:
        raise Unauthenticated(
            "wrong code" if reason == "bad_second_factor" else "wrong e-mail address, password or tenant"
        )
    return identity


_DUMMY_HASH = _hasher.hash("not-a-real-password")


def _verify(password_hash: str, password: str | None) -> bool:
    try:
        return _hasher.verify(password_hash, password or "")
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def _audit_sign_in(
    instance, tenant, identity, email, ip, request_id, *, reason: str = "bad_credentials", method: str = "password"
) -> None:
    """``auth.sign_in`` with the method (``password``, ``password+totp``,
    ``oidc``, ``oidc+totp``) or ``auth.sign_in_failed`` with the reason:
    ``bad_credentials`` (unknown e-mail, wrong password or not a member:
    deliberately one reason), ``bad_second_factor``, ``sso_failed`` or
    ``throttled``."""
    try:
        binding = instance.db.bind(tenant)
    except (BadRequest, NotFound):
        # No tenant log to write to; the operator's log still sees it.
        log.warning("sign-in to unknown tenant %r from %s refused", tenant[:40], ip)
        return
    actor = identity.as_actor(ip, request_id) if identity else audit.Actor(email=email, ip=ip, request_id=request_id)
    with binding.begin() as conn:
        if identity:
            audit.record(conn, actor, "auth.sign_in", details={"method": method})
        else:
            audit.record(conn, actor, "auth.sign_in_failed", details={"reason": reason})


# -- API tokens ---------------------------------------------------------------


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_token(
    instance: Instance, identity: Identity, name: str = "", *, actor: audit.Actor | None = None
) -> tuple[int, str]:
    """Return ``(token_id, token)``; the token is shown once and stored hashed."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with instance.db.platform_begin() as conn:
        token_id = conn.execute(
            api_tokens.insert().values(
                user_id=identity.user_id,
                tenant_id=identity.tenant_id,
                name=(name or "")[:100],
                prefix=token[:12],
                token_hash=_hash_token(token),
                created_at=utcnow(),
            )
        ).inserted_primary_key[0]
    with instance.db.bind(identity.tenant_slug).begin() as tconn:
        audit.record(
            tconn,
            actor or identity.as_actor(),
            "auth.token_created",
            object="api_token",
            record_id=token_id,
            details={"name": name, "prefix": token[:12]},
        )
    return token_id, token


def list_tokens(instance: Instance, identity: Identity) -> list[dict]:
    query = (
        sa.select(
            api_tokens.c.id,
            api_tokens.c.name,
            api_tokens.c.prefix,
            api_tokens.c.created_at,
            api_tokens.c.last_used_at,
            api_tokens.c.revoked_at,
        )
        .where(api_tokens.c.user_id == identity.user_id, api_tokens.c.tenant_id == identity.tenant_id)
        .order_by(api_tokens.c.id)
    )
    with instance.db.platform_connect() as conn:
        rows = conn.execute(query).mappings().all()
    return [
        {key: (as_utc(value).isoformat() if key.endswith("_at") and value else value) for key, value in row.items()}
        for row in rows
    ]


def revoke_token(instance: Instance, identity: Identity, token_id: int, *, actor: audit.Actor | None = None) -> None:
    """Revoke one of the identity's own tokens (NotFound for anyone else's)."""
    if token_id > INT32_MAX:  # beyond the 32-bit id column: PostgreSQL would refuse the parameter
        raise NotFound(f"no active token {token_id}")
    with instance.db.platform_begin() as conn:
        result = conn.execute(
            api_tokens.update()
            .where(
                api_tokens.c.id == token_id,
                api_tokens.c.user_id == identity.user_id,
                api_tokens.c.tenant_id == identity.tenant_id,
                api_tokens.c.revoked_at.is_(None),
            )
            .values(revoked_at=utcnow())
        )
        if result.rowcount == 0:
            raise NotFound(f"no active token {token_id}")
    with instance.db.bind(identity.tenant_slug).begin() as tconn:
        audit.record(tconn, actor or identity.as_actor(), "auth.token_revoked", object="api_token", record_id=token_id)


def identity_from_token(instance: Instance, token: str) -> Identity | None:
    """The identity a bearer token stands for, or None (unknown, revoked,
    or its user no longer a member). Notes the token's last use, at most once
    a minute so busy clients don't write on every call."""
    return identity_and_tenant_reads(instance, token)[0]


TenantReads = Callable[[sa.ColumnElement], dict[str, sa.ColumnElement]]
"""Columns of the token's tenant read beside its identity: given the user id
column, labelled scalar sub-selects of tenant tables (the request's head
revision and the caller's roles, ``metacrm.access.members``)."""


@dataclass(frozen=True)
class _SeenToken:
    """What this worker last found a token standing for: its tenant (a token
    belongs to one tenant for its life) and, when the tenant reads rode
    along, the identity and the reads."""

    slug: str
    identity: Identity | None = None
    values: dict | None = None


TOKEN_TENANTS: CacheSlot[LruDict[str, _SeenToken]] = CacheSlot("token_tenants")
TOKEN_TENANTS_MAX = 10_000


def _seen_tokens(instance: Instance) -> LruDict[str, _SeenToken]:
    return instance.caches.get_or_build(TOKEN_TENANTS, lambda: LruDict(TOKEN_TENANTS_MAX))


def identity_and_tenant_reads(instance: Instance, token: str) -> tuple[Identity | None, dict | None]:
    """:func:`identity_from_token`, and on PostgreSQL, once the token's tenant
    is known to this worker, the instance's ``tenant_reads`` columns in the
    SAME statement: one round trip for the token check, the head revision and
    the roles (issue 16, item 2). The reads are None when not folded (first
    sight of the token, SQLite, none registered)."""
    if not token or not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        return None, None
    token_hash = _hash_token(token)
    reads = getattr(instance, "tenant_reads", None)
    known = _seen_tokens(instance)
    seen = known.get(token_hash) if reads is not None and instance.db.dialect == "postgresql" else None
    slug = seen.slug if seen is not None else None
    row, values = None, None
    if slug is not None:
        statement, names = _with_tenant_reads(reads, "token")
        try:
            with instance.db.platform_and_tenant_connect(slug) as conn:
                row = conn.execute(statement, {"token_hash": token_hash}).first()
        except sa.exc.ProgrammingError:  # the tenant's schema is gone: the plain check decides
            known.pop(token_hash, None)
            slug = None
        else:
            if row is not None and row.slug == slug:
                values = {name: getattr(row, name) for name in names}
    if slug is None:
        with instance.db.platform_connect() as conn:
            row = conn.execute(_statements()["token"], {"token_hash": token_hash}).first()
    if row is None:
        known.pop(token_hash, None)
        return None, None
    identity = _identity(row, row.token_id)
    if reads is not None:
        known[token_hash] = _SeenToken(row.slug, identity, values) if values is not None else _SeenToken(row.slug)
    _note_token_use(instance, row.token_id, row.last_used_at)
    return identity, values


def _note_token_use(instance: Instance, token_id: int, last_used_at) -> None:
    """Write the token's last use, at most once a minute."""
    now = utcnow()
    last_used = as_utc(last_used_at)
    if last_used is None or last_used < now - timedelta(minutes=1):
        with instance.db.platform_begin() as conn:
            conn.execute(api_tokens.update().where(api_tokens.c.id == token_id).values(last_used_at=now))


@functools.lru_cache(maxsize=8)
def _with_tenant_reads(reads: TenantReads, kind: str) -> tuple[sa.Select, tuple[str, ...]]:
    """The ``kind`` ("token" or "member") identity statement with the tenant reads added."""
    columns = reads(users.c.id)
    statement = _statements()[kind].add_columns(*(column.label(name) for name, column in columns.items()))
    return statement, tuple(columns)


# -- the token check of a read-only request, sent with its first read ---------------------


class IdentityChanged(Exception):  # noqa: N818 - a signal to answer again, not an error
    """A deferred token check found the token standing for another identity,
    or other roles or another metadata revision, than the request assumed:
    the request is answered again from the start with ``identity`` and
    ``values`` (``platform.web.read_only``)."""

    def __init__(self, identity: Identity, values: dict | None):
        super().__init__("the identity changed since the token was last checked")
        self.identity = identity
        self.values = values


FOLDED_PREFIX = "_token_check_"


@functools.lru_cache(maxsize=8)
def _folded_check(reads: TenantReads) -> tuple[sa.Subquery, tuple[sa.Label, ...], tuple[str, ...]]:
    """The token statement with the tenant reads as a subquery a read joins
    ON true, and its columns under names no record column has."""
    statement, names = _with_tenant_reads(reads, "token")
    check = statement.subquery("token_check")
    return check, tuple(column.label(FOLDED_PREFIX + column.key) for column in check.c), names


# A statement kept for reuse (a model's memo) keeps its folded twin as long as it lives.
_FOLDED: weakref.WeakKeyDictionary[sa.Select, sa.Select] = weakref.WeakKeyDictionary()


@dataclass(eq=False)
class DeferredTokenCheck:
    """The token check of a read-only request on PostgreSQL, assumed to find
    what it found the last time this worker ran it (``assumed``), and sent
    with the request's first read of its tenant (:meth:`fold_into`) or alone
    before any other statement (:meth:`ensure`) — one round trip saved per
    request, and nothing read is used before the check confirms it. A
    revoked token answers 401 as before; anything else different (roles,
    revision, the user's settings) raises :class:`IdentityChanged` and the
    request starts again with the fresh values."""

    instance: Instance
    token: str
    token_hash: str
    assumed: _SeenToken
    _done: bool = False
    _running: bool = False
    _failure: Exception | None = None

    def pending(self) -> bool:
        return not self._done and not self._running

    def ensure(self) -> None:
        if self._running:
            return  # the check's own statement
        if not self._done:
            self._running = True
            try:
                self._conclude(*identity_and_tenant_reads(self.instance, self.token))
            finally:
                self._running = False
        if self._failure is not None:
            raise self._failure

    def fold_into(self, conn: sa.Connection, statement: sa.Select, params: dict | None = None) -> Sequence[sa.Row]:
        """``statement``'s rows (a read of the request's tenant, on ``conn``,
        with ``params``), each joined to the token check's one row: one round
        trip for both. Without rows the check runs alone."""
        _check, labels, names = _folded_check(self.instance.tenant_reads)
        folded = _FOLDED.get(statement)
        if folded is None:
            folded = _FOLDED[statement] = statement.join(_check, sa.true()).add_columns(*labels)
        db = self.instance.db
        translate = {PLATFORM: db.platform_schema, None: db.tenant_schema(self.assumed.slug)}
        self._running = True
        try:
            parameters = {**(params or {}), "token_hash": self.token_hash}
            rows = conn.execute(folded, parameters, execution_options={"schema_translate_map": translate}).all()
        finally:
            self._running = False
        if not rows:
            self.ensure()
            return rows
        mapping = rows[0]._mapping
        found = types.SimpleNamespace(**{label.name[len(FOLDED_PREFIX) :]: mapping[label.name] for label in labels})
        identity = _identity(found, found.token_id)
        # The reads came from the assumed tenant's schema: worth nothing for another.
        values = {name: getattr(found, name) for name in names} if found.slug == self.assumed.slug else None
        _seen_tokens(self.instance)[self.token_hash] = _SeenToken(found.slug, identity, values)
        _note_token_use(self.instance, found.token_id, found.last_used_at)
        self._conclude(identity, values)
        self.ensure()
        return rows

    def _conclude(self, identity: Identity | None, values: dict | None) -> None:
        self._done = True
        if identity is None:
            self._failure = Unauthenticated("the API token is invalid or revoked")
        elif identity != self.assumed.identity or values != self.assumed.values:
            self._failure = IdentityChanged(identity, values)


def deferred_token_check(instance: Instance, token: str) -> DeferredTokenCheck | None:
    """The check to defer for a read-only request carrying ``token``, when
    this worker has checked the token with its tenant reads before (PostgreSQL)."""
    if instance.db.dialect != "postgresql" or getattr(instance, "tenant_reads", None) is None:
        return None
    if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        return None
    token_hash = _hash_token(token)
    seen = _seen_tokens(instance).get(token_hash)
    if seen is None or seen.identity is None or seen.identity.two_factor_pending:
        return None  # never seen with its reads, or refused before any view runs
    return DeferredTokenCheck(instance, token, token_hash, seen)


# -- public forms, throttled like the sign-in -------------------------------------------


def check_public_attempts(instance: Instance, key: str, ip: str) -> None:
    """Refuse (TooManyRequests) a post to a public form (``key`` names the
    form, e.g. ``survey:<tenant>``) when this key or this client address
    failed as often as the sign-in allows: the sign-in's throttle and table."""
    with instance.db.platform_connect() as conn:
        _check_throttle(instance, conn, key, ip)


def count_public_attempt(instance: Instance, key: str, ip: str, *, succeeded: bool) -> None:
    """Count a post to a public form for :func:`check_public_attempts`."""
    with instance.db.platform_begin() as conn:
        conn.execute(login_attempts.insert().values(email=key[:254], ip=ip, succeeded=succeeded, at=utcnow()))
