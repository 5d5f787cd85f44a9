"""TOTP two-factor authentication (RFC 6238 through pyotp) with recovery codes.

A user enrols (a new secret, shown once as an ``otpauth://`` URI for the
authenticator app), confirms with a first code (the factor is then in force
and ten single-use recovery codes are shown once), and may disable it with a
code. A code is accepted within one 30-second step either side, and each
step only once (``last_used_step``), so an observed code cannot be replayed.
Recovery codes are stored as SHA-256 (60 random bits each) and burn on use.

Which roles must use it is a tenant setting (``two_factor_roles``); whether
an identity still has to enrol is worked out with the identity
(:func:`metacrm.platform.identity.identity_for`).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

import pyotp
import sqlalchemy as sa

from metacrm.platform import audit
from metacrm.platform.clock import utcnow
from metacrm.platform.errors import Conflict, Forbidden, NotFound, ValidationFailed
from metacrm.platform.instance import Instance
from metacrm.platform.tables import user_totp

ISSUER = "metacrm"
RECOVERY_CODES = 10
RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i look-alikes


def _hash_code(code: str) -> str:
    return hashlib.sha256(code.encode("utf-8")).hexdigest()


def _normalise(code: str) -> str:
    return "".join((code or "").split()).lower()


def _new_recovery_codes() -> list[str]:
    def one() -> str:
        raw = "".join(secrets.choice(RECOVERY_ALPHABET) for _ in range(12))
        return f"{raw[:4]}-{raw[4:8]}-{raw[8:]}"

    return [one() for _ in range(RECOVERY_CODES)]


def _row(conn, user_id: int):
    return conn.execute(sa.select(user_totp).where(user_totp.c.user_id == user_id)).first()


def is_enabled(instance: Instance, user_id: int) -> bool:
    with instance.db.platform_connect() as conn:
        row = _row(conn, user_id)
    return row is not None and row.confirmed_at is not None


def status(instance: Instance, user_id: int) -> dict:
    with instance.db.platform_connect() as conn:
        row = _row(conn, user_id)
    enabled = row is not None and row.confirmed_at is not None
    return {
        "enabled": enabled,
        "pending_confirmation": row is not None and not enabled,
        "recovery_codes_left": len(row.recovery_codes) if enabled else 0,
    }


def enrol(instance: Instance, user_id: int, email: str) -> dict:
    """Start (or restart) enrolment: a new secret, not in force until
    confirmed. Conflict when two-factor authentication is already on."""
    secret = pyotp.random_base32()
    with instance.db.platform_begin() as conn:
        row = _row(conn, user_id)
        if row is not None and row.confirmed_at is not None:
            raise Conflict("two-factor authentication is already on; disable it first to enrol a new device")
        conn.execute(user_totp.delete().where(user_totp.c.user_id == user_id))
        conn.execute(user_totp.insert().values(user_id=user_id, secret=secret, recovery_codes=[], created_at=utcnow()))
    uri = pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name=ISSUER)
    return {"secret": secret, "otpauth_uri": uri}


def confirm(instance: Instance, user_id: int, code: str, *, tenants: list[str], actor: audit.Actor) -> list[str]:
    """Put the enrolled secret in force with a first code; returns the
    recovery codes (shown once)."""
    codes = _new_recovery_codes()
    with instance.db.platform_begin() as conn:
        row = _row(conn, user_id)
        if row is None or row.confirmed_at is not None:
            raise NotFound("no two-factor enrolment waiting for confirmation; enrol first")
        step = _matching_step(row.secret, code, None)
        if step is None:
            raise ValidationFailed("the code is wrong or expired", details={"fields": {"code": ["wrong code"]}})
        conn.execute(
            user_totp.update()
            .where(user_totp.c.user_id == user_id)
            .values(confirmed_at=utcnow(), last_used_step=step, recovery_codes=[_hash_code(c) for c in codes])
        )
    _audit(instance, tenants, actor, "auth.two_factor_enabled", user_id)
    return codes


def disable(
    instance: Instance, user_id: int, code: str, *, required: bool, tenants: list[str], actor: audit.Actor
) -> None:
    """Turn two-factor authentication off, proven by a current code or a
    recovery code; Forbidden while a tenant requires it of the user's role."""
    if required:
        raise Forbidden("your role requires two-factor authentication in this tenant", code="two_factor_required")
    with instance.db.platform_begin() as conn:
        if not _use_code(conn, user_id, code):
            raise ValidationFailed("the code is wrong or expired", details={"fields": {"code": ["wrong code"]}})
        conn.execute(user_totp.delete().where(user_totp.c.user_id == user_id))
    _audit(instance, tenants, actor, "auth.two_factor_disabled", user_id)


def verify(instance: Instance, user_id: int, code: str) -> bool:
    """Check a sign-in's second factor: a TOTP code (each step once) or an
    unused recovery code (burnt)."""
    with instance.db.platform_begin() as conn:
        return _use_code(conn, user_id, code)


def _use_code(conn, user_id: int, code: str) -> bool:
    query = sa.select(user_totp).where(user_totp.c.user_id == user_id, user_totp.c.confirmed_at.is_not(None))
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()  # two requests with one code: only one wins
    row = conn.execute(query).first()
    if row is None:
        return False
    step = _matching_step(row.secret, code, row.last_used_step)
    if step is not None:
        # Conditional, so of two requests racing with one code only one wins
        # (SQLite has no row lock to take above).
        used = conn.execute(
            user_totp.update()
            .where(
                user_totp.c.user_id == user_id,
                sa.or_(user_totp.c.last_used_step.is_(None), user_totp.c.last_used_step < step),
            )
            .values(last_used_step=step)
        )
        return used.rowcount == 1
    hashed = _hash_code(_normalise(code))
    left = [h for h in row.recovery_codes if not hmac.compare_digest(h, hashed)]
    if len(left) == len(row.recovery_codes):
        return False
    conn.execute(user_totp.update().where(user_totp.c.user_id == user_id).values(recovery_codes=left))
    return True


def _matching_step(secret: str, code: str, last_used_step: int | None) -> int | None:
    code = _normalise(code)
    if not (len(code) == 6 and code.isdigit()):
        return None
    totp = pyotp.TOTP(secret)
    now = totp.timecode(utcnow())
    for step in (now - 1, now, now + 1):
        if (last_used_step is None or step > last_used_step) and hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def _audit(instance: Instance, tenants: list[str], actor: audit.Actor, action: str, user_id: int) -> None:
    for slug in tenants:
        with instance.db.bind(slug).begin() as tconn:
            audit.record(tconn, actor, action, object="user", record_id=user_id)
