"""Per-tenant settings kept in the platform namespace (``tenant_settings``):
what a tenant's admins choose for their organisation (the password policy,
the roles that must use two-factor authentication), as opposed to the
operator's instance configuration (:mod:`metacrm.platform.config`).

Every setting is declared in :data:`SETTINGS` with its default and check; a
tenant's row exists only for a value changed from the default. Changes are
validated whole (422 naming each bad setting) and audited in the tenant.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import sqlalchemy as sa

from metacrm.platform import audit
from metacrm.platform.caches import CacheSlot, Memo
from metacrm.platform.clock import utcnow
from metacrm.platform.errors import ValidationFailed
from metacrm.platform.instance import Instance
from metacrm.platform.oidc import check_issuer
from metacrm.platform.tables import tenant_settings, tenants

ROLE_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
# The bounds of the password policy a tenant may choose.
PASSWORD_MIN_LENGTH_RANGE = (8, 128)


@dataclass(frozen=True)
class Setting:
    default: Any
    # Returns the reason a value is refused, or None.
    problem: Callable[[Any], str | None]
    # Never shown again once set: reads say only whether it is set.
    secret: bool = False


def _length(value: Any) -> str | None:
    low, high = PASSWORD_MIN_LENGTH_RANGE
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        return f"an integer from {low} to {high}"
    return None


def _boolean(value: Any) -> str | None:
    return None if isinstance(value, bool) else "true or false"


def _text(limit: int) -> Callable[[Any], str | None]:
    def problem(value: Any) -> str | None:
        return None if isinstance(value, str) and len(value) <= limit else f"a string of at most {limit} characters"

    return problem


def _role_names(value: Any) -> str | None:
    if (
        not isinstance(value, list)
        or len(value) > 100
        or not all(isinstance(v, str) and ROLE_NAME.match(v) for v in value)
    ):
        return "a list of role api names"
    return None


def _one_of(*choices: str) -> Callable[[Any], str | None]:
    def problem(value: Any) -> str | None:
        return None if value in choices else f"one of {', '.join(choices)}"

    return problem


def time_zone_problem(value: Any) -> str | None:
    """Why ``value`` is not an IANA time zone name (None when it is)."""
    if not isinstance(value, str) or not value or len(value) > 64:
        return "an IANA time zone name such as Asia/Shanghai"
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        return f"unknown time zone {value!r}"
    return None


def _currency(value: Any) -> str | None:
    return None if isinstance(value, str) and re.fullmatch(r"[A-Z]{3}", value) else "a three-letter ISO 4217 code"


def _month(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 12:
        return "a month from 1 (January) to 12 (December)"
    return None


SETTINGS: dict[str, Setting] = {
    # Passwords shorter than this are refused (NIST SP 800-63B asks for 8 at least).
    "password_min_length": Setting(10, _length),
    # Refuse the 10,000 most common passwords (common_passwords.txt).
    "password_refuse_common": Setting(True, _boolean),
    # Members with one of these roles must use two-factor authentication:
    # until they enrol, they can do nothing but enrol (metacrm.platform.twofactor).
    "two_factor_roles": Setting([], _role_names),
    # Single sign-on through the tenant's OpenID Connect provider
    # (metacrm.platform.oidc); off while the issuer or client id is empty.
    "oidc_issuer": Setting("", check_issuer),
    "oidc_client_id": Setting("", _text(200)),
    "oidc_client_secret": Setting("", _text(500), secret=True),
    # What the screens use for a member who has chosen nothing (the
    # browser's language comes before the tenant's).
    "default_locale": Setting("en", _one_of("en", "zh_CN")),
    "default_time_zone": Setting("UTC", time_zone_problem),
    # The ISO 4217 code currency fields are shown in.
    "currency": Setting("CNY", _currency),
    # The month the fiscal year starts in (1 = January): fiscal periods of reports.
    "fiscal_year_start": Setting(1, _month),
}


def default_settings() -> dict[str, Any]:
    return {key: setting.default for key, setting in SETTINGS.items()}


def settings_of(instance: Instance, tenant_ids: Iterable[int]) -> dict[int, dict[str, Any]]:
    """The effective settings of each tenant: defaults, then its changes."""
    tenant_ids = list(tenant_ids)
    result = {tenant_id: default_settings() for tenant_id in tenant_ids}
    if not tenant_ids:
        return result
    with instance.db.platform_connect() as conn:
        rows = conn.execute(sa.select(tenant_settings).where(tenant_settings.c.tenant_id.in_(tenant_ids)))
        for row in rows:
            if row.key in SETTINGS:
                result[row.tenant_id][row.key] = row.value
    return result


def tenant_settings_of(instance: Instance, tenant_id: int) -> dict[str, Any]:
    return settings_of(instance, [tenant_id])[tenant_id]


# The settings of recently seen tenants by (tenant id, settings version).
SETTINGS_BY_VERSION: CacheSlot[Memo] = CacheSlot("tenant_settings_by_version")


def settings_for(instance: Instance, tenant_id: int, version: int) -> Mapping[str, Any]:
    """A tenant's settings at ``version`` (``tenants.settings_version``, read
    with the signed-in identity): read once per process and version, so a
    request needs no query of its own and never sees settings older than
    its identity. Read-only: a copy is the caller's to change."""
    memo = instance.caches.per_tenant(SETTINGS_BY_VERSION)
    return memo((tenant_id, version), lambda: tenant_settings_of(instance, tenant_id))


def shown(settings: Mapping[str, Any]) -> dict[str, Any]:
    """Settings as they may be shown (to admins, in the audit log): a secret
    appears only as ``<name>_set``, true or false."""
    result = {}
    for key, value in settings.items():
        if SETTINGS[key].secret:
            result[f"{key}_set"] = bool(value)
        else:
            result[key] = value
    return result


def update_tenant_settings(
    instance: Instance, tenant_slug: str, changes: Mapping[str, Any], *, actor: audit.Actor = audit.SYSTEM
) -> dict[str, Any]:
    """Apply ``changes`` (all or none) and return the effective settings."""
    problems = {}
    for key, value in changes.items():
        setting = SETTINGS.get(key)
        reason = "unknown setting" if setting is None else setting.problem(value)
        if reason:
            problems[key] = [reason]
    if problems:
        raise ValidationFailed("invalid tenant settings", details={"fields": problems})
    binding = instance.db.bind(tenant_slug)
    with instance.db.platform_begin() as conn:
        conn.execute(
            tenants.update()
            .where(tenants.c.id == binding.tenant_id)
            .values(settings_version=tenants.c.settings_version + 1)
        )
        for key, value in changes.items():
            conn.execute(
                tenant_settings.delete().where(
                    tenant_settings.c.tenant_id == binding.tenant_id, tenant_settings.c.key == key
                )
            )
            if value != SETTINGS[key].default:
                conn.execute(
                    tenant_settings.insert().values(
                        tenant_id=binding.tenant_id, key=key, value=value, updated_at=utcnow()
                    )
                )
    with binding.begin() as tconn:
        audit.record(tconn, actor, "tenant.settings_changed", object="tenant", details=shown(changes))
    return tenant_settings_of(instance, binding.tenant_id)
