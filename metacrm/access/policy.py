"""The compiled access policy of a tenant, cached by metadata revision.

:class:`CompiledPolicy` is everything the guard needs that changes only with
a policy change: the Casbin enforcer (object permissions and explicit role
inheritance), the roles and their hierarchy, field permissions and org-wide
defaults. Every policy change writes a new metadata revision
(:mod:`metacrm.access.changes`), so :func:`policy_for` re-checks nothing but
the revision the request's compiled model was read at: a change made through
any worker or host is seen by every worker on its next request, with no
broadcast (a Redis watcher could only make this earlier, never more correct).

Who holds which role is NOT part of it: assignments take effect at once and
are read per request (:mod:`metacrm.access.members`).

The enforcer is a read-only snapshot. Object entries are resolved from its
rules once per revision (``get_implicit_permissions``-style, per role),
because a request needs the *scopes* a user holds for an action, not a yes
or no; ``enforce`` answers the platform permissions and ``explain``.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field

import casbin
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from metacrm.access.adapter import load_enforcer
from metacrm.access.permissions import (
    CONDITION,
    DEFAULT_FIELD_ACCESS,
    DEFAULT_ORG_WIDE,
    DENIED,
    GRANTED,
    SYSTEM_OBJECT,
    SYSTEM_PERMISSIONS,
    WILDCARD,
    condition_scope,
    entry_to_json,
)
from metacrm.access.tables import (
    field_permissions,
    object_settings,
    pool_access,
    pools,
    roles,
    scope_conditions,
    sharing_rules,
)
from metacrm.metadata.changes import current_revision
from metacrm.platform.caches import CacheSlot, Memo
from metacrm.platform.database import TenantBinding
from metacrm.platform.instance import Instance

# Tenant slug -> its compiled policy at the newest revision seen, for the
# TENANT_CACHE_SIZE most recently served tenants (InstanceCaches.per_tenant).
POLICIES: CacheSlot[Memo] = CacheSlot("access_policies")
Roles = frozenset[str]


@dataclass(frozen=True)
class Role:
    api_name: str
    label: str
    description: str
    parent_role: str | None
    inherits: tuple[str, ...] = ()
    # The label in other languages: {"zh_CN": "销售代表"}.
    translations: Mapping[str, str] = field(default_factory=dict, hash=False, compare=False)

    def label_in(self, locale: str | None) -> str:
        """The label in ``locale`` (``zh_CN`` or ``zh``), else the stored one."""
        if locale:
            for key in (str(locale), str(locale).split("_")[0]):
                if self.translations.get(key):
                    return self.translations[key]
            for key, text in self.translations.items():
                if key.split("_")[0] == str(locale).split("_")[0] and text:
                    return text
        return self.label


# Who a sharing rule names: holders of a role, of a role and every role below
# it, or the members of a team.
RECIPIENT_KINDS = ("role", "role_and_subordinates", "team")
SHARING_RULE_KINDS = ("owner", "criteria")
SHARING_RULE_ACCESS = ("read", "edit")


@dataclass(frozen=True)
class SharingRule:
    """Records of ``object`` owned by ``owner`` (an owner rule) or matching
    ``condition`` (a criteria rule) are shared with ``share_with`` at
    ``access`` (``read``; ``edit`` also opens update, never delete)."""

    api_name: str
    object: str
    label: str
    kind: str
    owner_kind: str | None
    owner_name: str | None
    condition: str | None
    share_kind: str
    share_name: str
    access: str

    def to_json(self) -> dict:
        out = {"api_name": self.api_name, "object": self.object, "label": self.label, "kind": self.kind}
        if self.kind == "owner":
            out["owned_by"] = {"kind": self.owner_kind, "name": self.owner_name}
        else:
            out["condition"] = self.condition
        out["share_with"] = {"kind": self.share_kind, "name": self.share_name}
        out["access"] = self.access
        return out


@dataclass(frozen=True)
class Pool:
    """A public pool: records of ``object`` nobody owns, claimed by members."""

    api_name: str
    object: str
    label: str
    member_roles: tuple[str, ...]
    member_teams: tuple[str, ...]
    admins: tuple[str, ...]
    claim_quota: int
    cooldown_days: int
    reclaim_days: int | None
    # The label in other languages, as metadata labels: {"zh_CN": {"label": "线索公海"}}.
    translations: Mapping[str, Mapping[str, str]] = field(default_factory=dict, hash=False, compare=False)
    # The date/datetime field reclaim measures "no follow-up" by (None: updated_at).
    follow_up_field: str | None = None

    def to_json(self) -> dict:
        document = {
            "api_name": self.api_name,
            "object": self.object,
            "label": self.label,
            "members": {"roles": list(self.member_roles), "teams": list(self.member_teams)},
            "admins": list(self.admins),
            "claim_quota": self.claim_quota,
            "cooldown_days": self.cooldown_days,
            "reclaim_days": self.reclaim_days,
        } | (
            {"translations": {lang: dict(texts) for lang, texts in self.translations.items()}}
            if self.translations
            else {}
        )
        if self.follow_up_field:  # only when set: pools without one read as before
            document["follow_up_field"] = self.follow_up_field
        return document


@dataclass
class CompiledPolicy:
    revision: int
    domain: str
    enforcer: casbin.Enforcer
    roles: dict[str, Role]
    # (role, object or "*") → {action: scope}: the role's own entries, from the p rules.
    entries: dict[tuple[str, str], dict[str, str]]
    # role → the role and every role it inherits permissions from (Casbin g).
    subjects: dict[str, tuple[str, ...]]
    fields: dict[tuple[str, str], dict[str, str]]
    org_wide: dict[str, str]
    pools: dict[str, Pool] = field(default_factory=dict)
    sharing_rules: dict[str, SharingRule] = field(default_factory=dict)
    # The answers per set of roles, kept as long as this revision's policy.
    memo: Memo = field(default_factory=Memo, repr=False, compare=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    # -- per role --------------------------------------------------------------------

    def entry(self, role: str, obj: str) -> tuple[dict[str, str] | None, str | None]:
        """The role's own entry for ``obj`` and where it comes from: ``"object"``
        (a row for the object), ``"default"`` (its ``*`` row) or None."""
        own = self.entries.get((role, obj))
        if own is not None:
            return own, "default" if obj == WILDCARD else "object"
        if obj.startswith("$"):
            return None, None
        default = self.entries.get((role, WILDCARD))
        return (default, "default") if default is not None else (None, None)

    # -- per user (a set of roles) --------------------------------------------------------

    def scopes(self, held: Roles, obj: str, action: str) -> frozenset[str]:
        """Every scope ``action`` on ``obj`` has for a holder of ``held``
        (empty: not permitted). Boolean actions give ``{"all"}``."""

        def build() -> frozenset[str]:
            out = set()
            for role in held:
                for subject in self.subjects.get(role, ()):
                    entry, _source = self.entry(subject, obj)
                    scope = (entry or {}).get(action, DENIED)
                    if scope != DENIED:
                        out.add(scope)
            return frozenset(out)

        return self.memo(("scopes", held, obj, action), build)

    def allows(self, held: Roles, permission: str) -> bool:
        """A platform permission (manage_metadata, manage_access), asked of Casbin."""
        if permission not in SYSTEM_PERMISSIONS:
            return False

        def build() -> bool:
            with self._lock:  # the enforcer is not meant for concurrent use
                return any(self.enforcer.enforce(role, self.domain, SYSTEM_OBJECT, permission) for role in held)

        return self.memo(("allows", held, permission), build)

    def field_sets(self, held: Roles, obj: str, names: tuple[str, ...]) -> tuple[frozenset[str], frozenset[str]]:
        """(readable, writable) fields among ``names``: readable through any
        held role that may read the object, writable through any that may
        create or update it; a field with no row of its own is editable."""

        def build() -> tuple[frozenset[str], frozenset[str]]:
            readers, writers = [], []
            for role in held:
                for subject in self.subjects.get(role, ()):
                    entry, _source = self.entry(subject, obj)
                    entry = entry or {}
                    access = self.fields.get((subject, obj), {})
                    if entry.get("read", DENIED) != DENIED:
                        readers.append(access)
                    if entry.get("create", DENIED) != DENIED or entry.get("update", DENIED) != DENIED:
                        writers.append(access)
            readable = frozenset(
                n for n in names if any(a.get(n, DEFAULT_FIELD_ACCESS) in ("read", "edit") for a in readers)
            )
            writable = frozenset(n for n in names if any(a.get(n, DEFAULT_FIELD_ACCESS) == "edit" for a in writers))
            return readable, writable

        return self.memo(("fields", held, obj, names), build)

    def below(self, held: Roles) -> frozenset[str]:
        """Every role strictly below the held ones in the hierarchy."""

        def build() -> frozenset[str]:
            children: dict[str, list[str]] = {}
            for role in self.roles.values():
                if role.parent_role:
                    children.setdefault(role.parent_role, []).append(role.api_name)
            out: set[str] = set()
            queue = [c for r in held for c in children.get(r, [])]
            while queue:
                role = queue.pop()
                if role not in out:
                    out.add(role)
                    queue.extend(children.get(role, []))
            return frozenset(out)

        return self.memo(("below", held), build)

    def with_subordinates(self, role: str) -> frozenset[str]:
        """The role and every role below it."""
        return frozenset({role}) | self.below(frozenset({role}))

    def sharing_rules_of(self, obj: str) -> list[SharingRule]:
        return [r for name, r in sorted(self.sharing_rules.items()) if r.object == obj]

    def role_label(self, name: str, locale: str | None = None) -> str:
        """A role's label in ``locale`` (its api name if there is no such role)."""
        role = self.roles.get(name)
        return role.label_in(locale) if role is not None else name

    def org_wide_default(self, obj: str) -> str:
        return self.org_wide.get(obj, DEFAULT_ORG_WIDE)

    def pools_of(self, obj: str) -> list[Pool]:
        """The object's pools, by api name (the first is its default pool)."""
        return [p for name, p in sorted(self.pools.items()) if p.object == obj]

    def administers(self, held: Roles, pool: Pool) -> bool:
        return bool(self.closure(held) & set(pool.admins))

    def member_of(self, held: Roles, pool: Pool) -> bool:
        """Through a role (or as the pool's admin); team members are found in SQL."""
        return bool(self.closure(held) & set(pool.member_roles)) or self.administers(held, pool)

    def closure(self, held: Roles) -> frozenset[str]:
        """The held roles and every role they inherit permissions from."""
        return frozenset(s for r in held for s in self.subjects.get(r, (r,)))

    # -- the document mirrored into metadata --------------------------------------------

    def document(self) -> dict:
        """The whole policy as one JSON document (the ``access`` definition):
        domain-free, so it exports and imports with the tenant's metadata."""
        out_roles = {}
        for name in sorted(self.roles):
            role = self.roles[name]
            objects = {}
            for (subject, obj), actions in sorted(self.entries.items()):
                if subject != name or obj == SYSTEM_OBJECT:
                    continue
                item = entry_to_json(actions)
                access = self.fields.get((name, obj))
                if access:
                    item["fields"] = dict(sorted(access.items()))
                objects[obj] = item
            system = self.entries.get((name, SYSTEM_OBJECT), {})
            out_roles[name] = {
                "label": role.label,
                "description": role.description,
                "parent_role": role.parent_role,
                "inherits": list(role.inherits),
                "permissions": {p: system.get(p) == GRANTED for p in SYSTEM_PERMISSIONS},
                "objects": objects,
            }
            if role.translations:
                out_roles[name]["translations"] = dict(sorted(role.translations.items()))
        out = {
            "roles": out_roles,
            "objects": {obj: {"org_wide_default": value} for obj, value in sorted(self.org_wide.items())},
            "pools": {name: pool.to_json() for name, pool in sorted(self.pools.items())},
        }
        if self.sharing_rules:
            out["sharing_rules"] = {name: rule.to_json() for name, rule in sorted(self.sharing_rules.items())}
        return out


def load_policy(conn: Connection, domain: str, revision: int) -> CompiledPolicy:
    """Read the policy on ``conn`` (call it after reading the revision, in
    the same transaction, so the label is never newer than the content)."""
    enforcer = load_enforcer(conn, domain)
    role_rows = conn.execute(sa.select(roles).order_by(roles.c.api_name)).mappings().all()
    inherits: dict[str, list[str]] = {}
    for rule in enforcer.get_named_grouping_policy("g"):
        inherits.setdefault(rule[0], []).append(rule[1])
    role_map = {
        r["api_name"]: Role(
            r["api_name"],
            r["label"],
            r["description"] or "",
            r["parent_role"],
            tuple(inherits.get(r["api_name"], ())),
            dict(r["translations"] or {}),
        )
        for r in role_rows
    }
    conditions = {(r.role, r.object, r.action): r.condition for r in conn.execute(sa.select(scope_conditions))}
    entries: dict[tuple[str, str], dict[str, str]] = {}
    for sub, dom, obj, act, scope in (rule[:5] for rule in enforcer.get_policy()):
        if dom == domain:
            if scope == CONDITION:
                # No text (cannot happen through the API): the entry grants nothing.
                text = conditions.get((sub, obj, act))
                scope = condition_scope(text) if text else DENIED
            entries.setdefault((sub, obj), {})[act] = scope
    subjects = {
        name: (name, *[r for r in enforcer.get_implicit_roles_for_user(name, domain) if r != name]) for name in role_map
    }
    fields: dict[tuple[str, str], dict[str, str]] = {}
    for row in conn.execute(sa.select(field_permissions)).mappings():
        fields.setdefault((row["role"], row["object"]), {})[row["field"]] = row["access"]
    org_wide = {row.object: row.org_wide_default for row in conn.execute(sa.select(object_settings))}
    return CompiledPolicy(
        revision,
        domain,
        enforcer,
        role_map,
        entries,
        subjects,
        fields,
        org_wide,
        load_pools(conn),
        load_sharing_rules(conn),
    )


def load_sharing_rules(conn: Connection) -> dict[str, SharingRule]:
    return {
        row.api_name: SharingRule(
            row.api_name,
            row.object,
            row.label,
            row.kind,
            row.owner_kind,
            row.owner_name,
            row.condition,
            row.share_kind,
            row.share_name,
            row.access,
        )
        for row in conn.execute(sa.select(sharing_rules).order_by(sharing_rules.c.api_name))
    }


def load_pools(conn: Connection) -> dict[str, Pool]:
    access: dict[tuple[str, str], list[str]] = {}
    for row in conn.execute(sa.select(pool_access).order_by(pool_access.c.name)):
        access.setdefault((row.pool, row.kind), []).append(row.name)
    return {
        row.api_name: Pool(
            row.api_name,
            row.object,
            row.label,
            tuple(access.get((row.api_name, "role"), ())),
            tuple(access.get((row.api_name, "team"), ())),
            tuple(access.get((row.api_name, "admin"), ())),
            row.claim_quota,
            row.cooldown_days,
            row.reclaim_days,
            row.translations or {},
            row.follow_up_field,
        )
        for row in conn.execute(sa.select(pools).order_by(pools.c.api_name))
    }


def policy_for(instance: Instance, binding: TenantBinding, revision: int | None = None) -> CompiledPolicy:
    """The tenant's compiled policy at ``revision`` (the request's model
    revision) or newer. Costs nothing when the cached one is that revision;
    otherwise one read of the head revision and the policy tables."""
    cache = instance.caches.per_tenant(POLICIES)
    cached = cache.get(binding.slug)
    if cached is not None and revision is not None and cached.revision >= revision:
        return cached
    with binding.connect() as conn:
        head = current_revision(conn)
        if cached is not None and cached.revision == head:
            return cached
        policy = load_policy(conn, binding.slug, head)
    current = cache.get(binding.slug)
    if current is None or current.revision <= policy.revision:
        cache[binding.slug] = policy
    return policy
