"""The roles every tenant starts with.

Written by the ``tenant_created`` hook inside the creating transaction (and,
for a tenant older than the access layer, by its migration). Object
permissions are given on ``*``, the role's default for every object, so they
apply to objects installed later (crm_core, industry plugins, an admin's own);
an admin narrows or widens one object for one role with an entry of its own,
which overrides the default for that object.

The seed is part of the tenant's initial state: it writes the ``access``
definition at the current head revision and makes no revision of its own.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from metacrm.access.adapter import TenantPolicyAdapter
from metacrm.access.permissions import (
    ACTIONS,
    ADMIN_ROLE,
    DEFINITION_KEY,
    DEFINITION_KIND,
    GRANTED,
    SYSTEM_OBJECT,
    SYSTEM_PERMISSIONS,
    WILDCARD,
)
from metacrm.access.policy import load_policy
from metacrm.access.tables import STORED_DOMAIN, casbin_rule, roles
from metacrm.metadata.changes import current_revision
from metacrm.metadata.tables import meta_definitions

# api name, label, parent role, description
STANDARD_ROLES = (
    (ADMIN_ROLE, "Administrator", None, "Every object, every action, every record; manages metadata and access."),
    ("sales_manager", "Sales manager", None, "Works the records of the sales team below them in the hierarchy."),
    ("sales_rep", "Sales representative", "sales_manager", "Works their own records."),
    ("service_agent", "Service agent", None, "Works the records of their teams; deletes nothing."),
    ("marketing", "Marketing", None, "Reads everything, edits their own records, imports and exports."),
    ("read_only", "Read only", None, "Reads everything, changes nothing."),
)

# role → its default (*) entry: create, read, update, delete, export, import, transfer
STANDARD_DEFAULTS = {
    ADMIN_ROLE: (True, "all", "all", "all", True, True, True),
    "sales_manager": (True, "subordinates", "subordinates", "own", True, True, True),
    "sales_rep": (True, "own", "own", "own", False, False, False),
    "service_agent": (True, "team", "team", "none", False, False, False),
    "marketing": (True, "all", "own", "own", True, True, False),
    "read_only": (False, "all", "none", "none", False, False, False),
}


def standard_rules(domain: str) -> list[list[str]]:
    rules = []
    for role, values in STANDARD_DEFAULTS.items():
        for action, value in zip(ACTIONS, values, strict=True):
            scope = value if isinstance(value, str) else (GRANTED if value else "none")
            rules.append([role, domain, WILDCARD, action, scope])
    for permission in SYSTEM_PERMISSIONS:
        rules.append([ADMIN_ROLE, domain, SYSTEM_OBJECT, permission, GRANTED])
    return rules


def seed_standard_roles(conn: Connection) -> bool:
    """Write the standard roles unless the tenant has roles already.
    Returns whether it wrote them."""
    if conn.execute(sa.select(roles.c.api_name).limit(1)).first() is not None:
        return False
    conn.execute(
        roles.insert(),
        [
            {"api_name": name, "label": label, "parent_role": parent, "description": description}
            for name, label, parent, description in STANDARD_ROLES
        ],
    )
    TenantPolicyAdapter(conn, STORED_DOMAIN).add_policies("p", "p", standard_rules(STORED_DOMAIN))
    write_policy_definition(conn)
    return True


def add_transfer_right(conn: Connection) -> None:
    """Give ``transfer`` on ``*`` to the standard roles that have it, in a
    tenant seeded before the action existed (migration ``a0002``)."""
    present = set(conn.execute(sa.select(roles.c.api_name)).scalars())
    if not present:
        return  # a new namespace: the seed writes every rule
    rules = []
    for role, values in STANDARD_DEFAULTS.items():
        if role not in present or not values[ACTIONS.index("transfer")]:
            continue
        exists = conn.execute(
            sa.select(casbin_rule.c.id).where(
                casbin_rule.c.ptype == "p",
                casbin_rule.c.v0 == role,
                casbin_rule.c.v2 == WILDCARD,
                casbin_rule.c.v3 == "transfer",
            )
        ).first()
        if exists is None:
            rules.append([role, STORED_DOMAIN, WILDCARD, "transfer", GRANTED])
    if rules:
        TenantPolicyAdapter(conn, STORED_DOMAIN).add_policies("p", "p", rules)
        write_policy_definition(conn)


def write_policy_definition(conn: Connection) -> None:
    """Mirror the policy into the ``access`` definition at the current head
    revision (part of the tenant's initial state: no revision of its own)."""
    revision = current_revision(conn)
    document = load_policy(conn, STORED_DOMAIN, revision).document()
    where = sa.and_(meta_definitions.c.kind == DEFINITION_KIND, meta_definitions.c.key == DEFINITION_KEY)
    conn.execute(meta_definitions.delete().where(where))
    conn.execute(
        meta_definitions.insert().values(
            kind=DEFINITION_KIND, key=DEFINITION_KEY, document=document, deleted_at=None, revision=revision
        )
    )
