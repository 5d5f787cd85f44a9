"""Inviting a user by e-mail: the login is created with a password nobody
knows, the chosen roles are assigned, and a one-time link (valid
:data:`VALID_DAYS` days; only its SHA-256 is stored) goes out through the
automation outbox (``automation_outbox``, kind ``email``, rule
``access.invitation``), delivered by the outbox's jobs like every mail.
Following the link the user sets their own password; the link then stops
working. A login that exists already (in another organisation) is refused:
its owner has a password, and an invitation must never set it."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

import sqlalchemy as sa

from metacrm.access.members import check_roles, set_member_roles
from metacrm.access.tables import invitations
from metacrm.platform import audit
from metacrm.platform import identity as identities
from metacrm.platform.clock import as_utc, utcnow
from metacrm.platform.database import TenantBinding
from metacrm.platform.errors import Conflict, NotFound, ValidationFailed
from metacrm.platform.instance import Instance
from metacrm.rules.automation.outbox import enqueue_delivery
from metacrm.rules.automation.tables import automation_outbox

VALID_DAYS = 7
OUTBOX_RULE = "access.invitation"


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def invite(
    instance: Instance,
    binding: TenantBinding,
    *,
    email: str,
    display_name: str,
    roles: list[str],
    link: str,
    organisation: str,
    actor: audit.Actor,
    editor: int,
) -> dict:
    """Create the login and membership, assign ``roles``, and queue the mail
    whose link is ``link`` with ``{token}`` filled in. Returns
    ``{"user_id", "email", "expires_at", "outbox_id"}``."""
    email = identities.normalize_email(email)
    check_roles(binding, roles)
    try:
        identities.user_id_of(instance, email)
    except NotFound:
        pass
    else:
        raise Conflict(
            f"{email} already has a login: add them as a user instead of inviting them",
            details={"fields": {"email": ["already has a login: add them as a user instead"]}},
        )
    user_id = identities.create_user(
        instance,
        tenant=binding.slug,
        email=email,
        password=identities.temporary_password() + secrets.token_urlsafe(16),
        display_name=display_name,
        actor=actor,
    )
    set_member_roles(instance, binding, user_id, roles, actor, editor=editor)
    token = secrets.token_urlsafe(32)
    now = utcnow()
    expires = now + timedelta(days=VALID_DAYS)
    url = link.replace("{token}", token)
    body = (
        f"You are invited to {organisation} on metacrm.\n\n"
        f"Set your password here (the link works once, until {expires:%Y-%m-%d %H:%M} UTC):\n{url}\n\n"
        f"你已受邀加入 {organisation}。请通过上面的链接设置密码（仅可使用一次，{VALID_DAYS} 天内有效）。\n"
    )
    with binding.begin() as conn:
        conn.execute(
            invitations.insert().values(
                user_id=user_id,
                email=email,
                token_hash=_hash(token),
                invited_by=actor.user_id,
                created_at=now,
                expires_at=expires,
            )
        )
        outbox_id = conn.execute(
            automation_outbox.insert()
            .values(
                kind="email",
                rule=OUTBOX_RULE,
                object="user",
                record_id=user_id,
                payload={"to": email, "subject": f"Your invitation to {organisation}", "body": body},
                status="pending",
                attempts=0,
                next_attempt_at=now,
                created_at=now,
            )
            .returning(automation_outbox.c.id)
        ).scalar_one()
        audit.record(
            conn,
            actor,
            "access.user_invited",
            object="user",
            record_id=user_id,
            details={"email": email, "roles": sorted(roles), "expires_at": expires.isoformat()},
        )
    enqueue_delivery(instance, binding.slug, [outbox_id])
    return {"user_id": user_id, "email": email, "expires_at": expires.isoformat(), "outbox_id": outbox_id}


def pending(binding: TenantBinding, token: str) -> dict:
    """The invitation a link's token opens (NotFound when unknown, used or expired)."""
    with binding.connect() as conn:
        row = conn.execute(sa.select(invitations).where(invitations.c.token_hash == _hash(token))).mappings().first()
    if row is None or row["used_at"] is not None or as_utc(row["expires_at"]) <= utcnow():
        raise NotFound("this invitation link is unknown, used or expired: ask your administrator for a new one")
    return dict(row)


def accept(instance: Instance, binding: TenantBinding, token: str, password: str, confirm: str) -> str:
    """Set the invited user's password (the policy's checks apply) and use up
    the link — taken first, so two posts of one link cannot both set it; a
    refused password gives it back. Returns the user's e-mail."""
    row = pending(binding, token)
    if password != confirm:
        raise ValidationFailed("the passwords differ", details={"fields": {"confirm": ["does not match the password"]}})
    with binding.begin() as conn:
        taken = conn.execute(
            invitations.update()
            .where(invitations.c.id == row["id"], invitations.c.used_at.is_(None))
            .values(used_at=utcnow())
        ).rowcount
    if not taken:
        raise NotFound("this invitation link was used already")
    actor = audit.Actor(user_id=row["user_id"], email=row["email"])
    try:
        identities.set_password(instance, row["email"], password, actor=actor)
    except Exception:
        with binding.begin() as conn:
            conn.execute(invitations.update().where(invitations.c.id == row["id"]).values(used_at=None))
        raise
    with binding.begin() as conn:
        audit.record(conn, actor, "access.invitation_accepted", object="user", record_id=row["user_id"])
    return row["email"]
