"""The one path for every policy change: roles, object access, field access,
org-wide defaults.

``with AccessChanges(...).change("summary") as change:`` opens a metadata
change (:class:`~metacrm.metadata.changes.MetadataService`): ONE transaction
on the tenant binding that holds the tenant's metadata lock. Each method
validates its input against the live definitions (no rule may name a missing
object, field or role: 422 naming the member), writes the policy tables — the
Casbin rules through pycasbin's SQLAlchemy adapter on the same connection —
and, on leaving the block, the whole policy is mirrored into the ``access``
definition. That makes a new metadata revision (who, when, before/after):
policies are versioned and exported with the rest of the metadata, and every
worker reloads its compiled policy on its next request because the revision
moved. A change that changes nothing makes no revision.

Who holds a role (:mod:`metacrm.access.members`), teams and record shares
(:mod:`metacrm.access.sharing`) are data, not policy: they take effect at once
and are audited, but make no revision.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from metacrm.access.adapter import TenantPolicyAdapter
from metacrm.access.guard import check_condition
from metacrm.access.permissions import (
    ACTIONS,
    ADMIN_ROLE,
    CONDITION,
    DEFINITION_KEY,
    DEFINITION_KIND,
    GRANTED,
    ORG_WIDE_DEFAULTS,
    SYSTEM_OBJECT,
    SYSTEM_PERMISSIONS,
    WILDCARD,
    check_name,
    condition_text,
    parse_object_access,
)
from metacrm.access.policy import (
    RECIPIENT_KINDS,
    SHARING_RULE_ACCESS,
    SHARING_RULE_KINDS,
    CompiledPolicy,
    load_policy,
)
from metacrm.access.tables import (
    field_permissions,
    object_settings,
    pool_access,
    pool_claims,
    pool_records,
    pools,
    roles,
    scope_conditions,
    sharing_rules,
    teams,
    user_roles,
)
from metacrm.metadata.changes import ChangeSet, MetadataService
from metacrm.metadata.kinds import DefinitionKind
from metacrm.metadata.model import definition_kinds, field_types
from metacrm.metadata.physical import CompiledModel, compile_model
from metacrm.platform import audit
from metacrm.platform.database import TenantBinding
from metacrm.platform.errors import Conflict, Forbidden, NotFound, ValidationFailed
from metacrm.platform.instance import Instance

# The policy mirror as a definition kind (registered by the access plugin):
# tenant-wide, written only by PolicyChange.mirror, never by admins directly.
POLICY_KIND = DefinitionKind(DEFINITION_KIND, "access policy")

ROLE_MEMBERS = ("api_name", "label", "description", "parent_role", "inherits", "permissions", "translations")
SHARING_RULE_MEMBERS = ("api_name", "object", "label", "kind", "owned_by", "condition", "share_with", "access")


def _role_translations_valid(value: Any) -> bool:
    """A role's label in other languages: {"zh_CN": "销售代表"}."""
    return isinstance(value, dict) and all(
        isinstance(lang, str) and 0 < len(lang) <= 20 and isinstance(text, str) and len(text.strip()) <= 200
        for lang, text in value.items()
    )


def _clean_translations(value: dict | None) -> dict | None:
    return {lang: text.strip() for lang, text in (value or {}).items() if text.strip()} or None


POOL_MEMBERS = (
    "api_name",
    "object",
    "label",
    "members",
    "admins",
    "claim_quota",
    "cooldown_days",
    "reclaim_days",
    "translations",
    "follow_up_field",
)
POOL_DEFAULTS = {"claim_quota": 50, "cooldown_days": 0, "reclaim_days": None}


MOMENT_TYPES = ("date", "datetime")


def is_moment_field(state, object_name: Any, name: Any) -> bool:
    """``name`` is ``updated_at`` or a date/datetime field of the object, or a
    min/max roll-up of one (``last_activity_at``): what reclaim can age."""
    if name == "updated_at":
        return True
    if not isinstance(name, str) or not isinstance(object_name, str):
        return False
    field = state.field(object_name, name)
    if field is None:
        return False
    if field.get("type") in MOMENT_TYPES:
        return True
    options = field.get("options") or {}
    if field.get("type") == "roll_up" and options.get("function") in ("min", "max"):
        child = state.field(options.get("object") or "", options.get("field") or "")
        return child is not None and child.get("type") in MOMENT_TYPES
    return False


def _pool_translations_valid(value: Any) -> bool:
    """A pool's label in other languages, as metadata labels: {"zh_CN": {"label": "线索公海"}}."""
    return isinstance(value, dict) and all(
        isinstance(lang, str)
        and 0 < len(lang) <= 20
        and isinstance(texts, dict)
        and set(texts) == {"label"}
        and isinstance(texts["label"], str)
        and 0 < len(texts["label"].strip()) <= 200
        for lang, texts in value.items()
    )


def _invalid(message: str, errors: dict[str, list[str]]) -> ValidationFailed:
    return ValidationFailed(message, details={"fields": errors})


class PolicyChange:
    """The open transaction of one policy change."""

    def __init__(self, tx: ChangeSet, domain: str, protected: frozenset[str], below_protected: frozenset[str]):
        self.tx = tx
        self.conn: Connection = tx.conn
        self.domain = domain
        self.adapter = TenantPolicyAdapter(tx.conn, domain)
        # The editor's own roles (and what they inherit): not theirs to change.
        self.protected = protected
        # Roles below the editor's: putting a role there would widen what the editor sees.
        self.below_protected = below_protected

    # -- reading the current state ---------------------------------------------------------

    def policy(self) -> CompiledPolicy:
        return load_policy(self.conn, self.domain, self.tx.revision)

    def _role_names(self) -> set[str]:
        return set(self.conn.execute(sa.select(roles.c.api_name)).scalars())

    def _require_role(self, name: str) -> None:
        if name not in self._role_names():
            raise NotFound(f"no role {name!r}")

    def _refuse_own(self, name: str) -> None:
        if name in self.protected:
            raise Forbidden(
                f"you hold the role {name} (or inherit it): another administrator must change it",
                details={"role": name},
            )

    # -- roles ---------------------------------------------------------------------------------

    def _check_role_document(
        self, name: str, doc: dict, *, creating: bool, current_parent: str | None = None
    ) -> dict[str, list[str]]:
        errors: dict[str, list[str]] = {}
        for key in doc:
            if key not in ROLE_MEMBERS:
                errors.setdefault(key, []).append(f"unknown member; use {', '.join(ROLE_MEMBERS)}")
        if creating:
            check_name(doc.get("api_name"), "role", errors)
        if not isinstance(doc.get("label"), str) or not doc["label"].strip() or len(doc["label"]) > 200:
            errors.setdefault("label", []).append("is required: 1 to 200 characters")
        if not isinstance(doc.get("description", ""), str) or len(doc.get("description") or "") > 1000:
            errors.setdefault("description", []).append("must be text of at most 1000 characters")
        known = self._role_names() | {name}
        parent = doc.get("parent_role")
        if parent is not None:
            if not isinstance(parent, str):
                errors.setdefault("parent_role", []).append("must be a role's api name (text) or null")
            elif parent not in known or parent == name:
                errors.setdefault("parent_role", []).append(f"no role {parent!r} to report to")
            elif parent != current_parent and (parent in self.protected or parent in self.below_protected):
                raise Forbidden(
                    f"putting {name} under {parent} would widen what your own role sees",
                    details={"parent_role": parent},
                )
            elif self._ancestors(parent, name):
                errors.setdefault("parent_role", []).append(f"{parent} reports to {name}: that would be a cycle")
        inherits = doc.get("inherits", [])
        if not isinstance(inherits, list) or not all(isinstance(r, str) for r in inherits):
            errors.setdefault("inherits", []).append("must be a list of role api names")
        else:
            for other in inherits:
                if other not in known or other == name:
                    errors.setdefault("inherits", []).append(f"no role {other!r} to inherit from")
                elif name in self._inherited(other):
                    errors.setdefault("inherits", []).append(f"{other} inherits {name}: that would be a cycle")
        if not _role_translations_valid(doc.get("translations", {})):
            errors.setdefault("translations", []).append('must be {"<language>": "label, at most 200 characters"}')
        permissions = doc.get("permissions", {})
        if not isinstance(permissions, dict):
            errors.setdefault("permissions", []).append("must be an object of permission → true/false")
        else:
            for key, value in permissions.items():
                if key not in SYSTEM_PERMISSIONS:
                    errors.setdefault(f"permissions.{key}", []).append(
                        f"unknown permission; use {', '.join(SYSTEM_PERMISSIONS)}"
                    )
                elif not isinstance(value, bool):
                    errors.setdefault(f"permissions.{key}", []).append("must be true or false")
        return errors

    def _ancestors(self, start: str, target: str) -> bool:
        """Whether ``target`` is ``start`` or above it in the hierarchy."""
        parents = dict(self.conn.execute(sa.select(roles.c.api_name, roles.c.parent_role)).all())
        seen, current = set(), start
        while current is not None and current not in seen:
            if current == target:
                return True
            seen.add(current)
            current = parents.get(current)
        return False

    def _inherited(self, role: str) -> set[str]:
        edges: dict[str, list[str]] = {}
        for rule in self.policy().enforcer.get_named_grouping_policy("g"):
            edges.setdefault(rule[0], []).append(rule[1])
        out, queue = set(), [role]
        while queue:
            current = queue.pop()
            if current not in out:
                out.add(current)
                queue.extend(edges.get(current, []))
        return out

    def _write_links(self, name: str, doc: dict) -> None:
        if "inherits" in doc:
            self.adapter.remove_filtered_policy("g", "g", 0, name)
            rules = [[name, other, self.domain] for other in dict.fromkeys(doc["inherits"])]
            if rules:
                self.adapter.add_policies("g", "g", rules)
        if "permissions" in doc:
            for permission, granted in doc["permissions"].items():
                self.adapter.remove_filtered_policy("p", "p", 0, name, self.domain, SYSTEM_OBJECT, permission)
                if granted:
                    self.adapter.add_policy("p", "p", [name, self.domain, SYSTEM_OBJECT, permission, GRANTED])

    def create_role(self, doc: Any) -> None:
        if not isinstance(doc, dict):
            raise _invalid("send a JSON object", {"$": ["must be an object"]})
        name = doc.get("api_name")
        errors = self._check_role_document(name if isinstance(name, str) else "", doc, creating=True)
        if not errors and (name in self._role_names() or name == WILDCARD):
            raise Conflict(f"role {name!r} already exists", details={"fields": {"api_name": ["already exists"]}})
        if errors:
            raise _invalid("the role is not valid: " + "; ".join(f"{k}: {v[0]}" for k, v in errors.items()), errors)
        self.conn.execute(
            roles.insert().values(
                api_name=name,
                label=doc["label"].strip(),
                description=(doc.get("description") or "").strip(),
                parent_role=doc.get("parent_role"),
                translations=_clean_translations(doc.get("translations")),
            )
        )
        self._write_links(name, doc)

    def update_role(self, name: str, patch: Any) -> None:
        self._require_role(name)
        self._refuse_own(name)
        if not isinstance(patch, dict):
            raise _invalid("send a JSON object", {"$": ["must be an object"]})
        if "api_name" in patch and patch["api_name"] != name:
            raise _invalid("api_name cannot be changed", {"api_name": ["is immutable"]})
        current = self.conn.execute(sa.select(roles).where(roles.c.api_name == name)).mappings().one()
        doc = {"label": current["label"], "description": current["description"], **patch}
        doc.pop("api_name", None)
        errors = self._check_role_document(name, doc, creating=False, current_parent=current["parent_role"])
        if name == ADMIN_ROLE and (
            any(v is not True for v in (patch.get("permissions") or {}).values()) or patch.get("inherits")
        ):
            errors.setdefault("permissions", []).append("the admin role always has every permission")
        if errors:
            raise _invalid("the role is not valid: " + "; ".join(f"{k}: {v[0]}" for k, v in errors.items()), errors)
        values = {k: (doc[k].strip() if isinstance(doc[k], str) else doc[k]) for k in ("label", "description")}
        if "parent_role" in patch:
            values["parent_role"] = patch["parent_role"]
        if "translations" in patch:
            values["translations"] = _clean_translations(patch["translations"])
        self.conn.execute(roles.update().where(roles.c.api_name == name).values(**values))
        self._write_links(name, patch)

    def delete_role(self, name: str) -> None:
        self._require_role(name)
        self._refuse_own(name)
        if name == ADMIN_ROLE:
            raise Conflict("the admin role cannot be deleted")
        holders = self.conn.execute(
            sa.select(sa.func.count()).select_from(user_roles).where(user_roles.c.role == name)
        ).scalar()
        children = list(self.conn.execute(sa.select(roles.c.api_name).where(roles.c.parent_role == name)).scalars())
        heirs = sorted({r[0] for r in self.policy().enforcer.get_named_grouping_policy("g") if r[1] == name})
        in_pools = sorted(
            set(
                self.conn.execute(
                    sa.select(pool_access.c.pool).where(pool_access.c.kind != "team", pool_access.c.name == name)
                ).scalars()
            )
        )
        in_rules = sorted(
            rule.api_name
            for rule in self.policy().sharing_rules.values()
            if (rule.owner_kind in ("role", "role_and_subordinates") and rule.owner_name == name)
            or (rule.share_kind in ("role", "role_and_subordinates") and rule.share_name == name)
        )
        if holders or children or heirs or in_pools or in_rules:
            raise Conflict(
                f"role {name} is still in use: reassign its holders, the roles that report to or inherit it "
                "and the pools and sharing rules that name it first",
                details={
                    "holders": holders,
                    "reporting_roles": children,
                    "inherited_by": heirs,
                    "pools": in_pools,
                    "sharing_rules": in_rules,
                },
            )
        self.adapter.remove_filtered_policy("p", "p", 0, name)
        self.adapter.remove_filtered_policy("g", "g", 0, name)
        self.conn.execute(scope_conditions.delete().where(scope_conditions.c.role == name))
        self.conn.execute(field_permissions.delete().where(field_permissions.c.role == name))
        self.conn.execute(roles.delete().where(roles.c.api_name == name))

    # -- object and field access -------------------------------------------------------------------

    def _require_object(self, obj: str) -> None:
        if obj != WILDCARD and self.tx.state.object(obj) is None:
            raise _invalid(f"no object {obj!r}", {"object": [f"no object {obj!r}"]})

    def put_object_access(self, role: str, obj: str, body: Any) -> None:
        self._require_role(role)
        self._refuse_own(role)
        self._require_object(obj)
        if role == ADMIN_ROLE:
            raise _invalid("the admin role always has every permission", {"role": ["the admin role is fixed"]})
        actions, fields = parse_object_access(body, wildcard=obj == WILDCARD)
        errors: dict[str, list[str]] = {}
        for field_name, access in fields.items():
            field = self.tx.state.field(obj, field_name)
            if field is None:
                errors.setdefault(f"fields.{field_name}", []).append(f"no field {field_name!r} on {obj}")
            elif access != "edit" and field.get("required") and actions["create"] == GRANTED:
                errors.setdefault(f"fields.{field_name}", []).append(
                    f"{field_name} is required: a role that may create {obj} must be able to edit it"
                )
        if errors:
            raise _invalid("the field access is not valid: " + "; ".join(errors), errors)
        conditions = {a: condition_text(v) for a, v in actions.items() if condition_text(v) is not None}
        if conditions:
            self._check_conditions(obj, conditions)
        self.adapter.remove_filtered_policy("p", "p", 0, role, self.domain, obj)
        stored = {a: CONDITION if a in conditions else actions[a] for a in ACTIONS}
        self.adapter.add_policies("p", "p", [[role, self.domain, obj, a, stored[a]] for a in ACTIONS])
        self._write_conditions(role, obj, conditions)
        self._write_fields(role, obj, fields)

    def model(self) -> CompiledModel:
        """The model as this change sees it (its own edits included)."""
        return compile_model(self.tx.revision, self.tx.state, self.tx.registry)

    def _check_conditions(self, obj: str, conditions: dict[str, str]) -> None:
        """Each condition parses and type-checks as a boolean for SQL against
        ``obj`` (422 naming ``<action>.condition`` and line:column)."""
        model = self.model()
        errors: dict[str, list[str]] = {}
        positions = {}
        for action, text in sorted(conditions.items()):
            try:
                check_condition(model, obj, text)
            except ValidationFailed as exc:
                errors[f"{action}.condition"] = [exc.message]
                details = exc.details if isinstance(exc.details, dict) else {}
                if "line" in details:
                    positions[f"{action}.condition"] = {
                        k: details[k] for k in ("line", "column", "snippet") if k in details
                    }
        if errors:
            first = next(iter(errors))
            raise ValidationFailed(
                f"{first}: {errors[first][0]}", details={"fields": errors, "positions": positions or None}
            )

    def _write_conditions(self, role: str, obj: str, conditions: dict[str, str]) -> None:
        where = sa.and_(scope_conditions.c.role == role, scope_conditions.c.object == obj)
        self.conn.execute(scope_conditions.delete().where(where))
        if conditions:
            self.conn.execute(
                scope_conditions.insert(),
                [{"role": role, "object": obj, "action": a, "condition": t} for a, t in sorted(conditions.items())],
            )

    def _write_fields(self, role: str, obj: str, fields: dict[str, str]) -> None:
        where = sa.and_(field_permissions.c.role == role, field_permissions.c.object == obj)
        self.conn.execute(field_permissions.delete().where(where))
        rows = [
            {"role": role, "object": obj, "field": f, "access": a} for f, a in sorted(fields.items()) if a != "edit"
        ]
        if rows:
            self.conn.execute(field_permissions.insert(), rows)

    def delete_object_access(self, role: str, obj: str) -> None:
        """Drop the role's entry for ``obj`` (back to its ``*`` default)."""
        self._require_role(role)
        self._refuse_own(role)
        if role == ADMIN_ROLE:
            raise _invalid("the admin role always has every permission", {"role": ["the admin role is fixed"]})
        self.adapter.remove_filtered_policy("p", "p", 0, role, self.domain, obj)
        self._write_conditions(role, obj, {})
        self._write_fields(role, obj, {})

    # -- org-wide defaults --------------------------------------------------------------------------

    def set_org_wide_default(self, obj: str, body: Any) -> None:
        if obj == WILDCARD:
            raise _invalid("org-wide defaults belong to concrete objects", {"object": ["not *"]})
        self._require_object(obj)
        value = body.get("org_wide_default") if isinstance(body, dict) else None
        if value not in ORG_WIDE_DEFAULTS:
            raise _invalid(
                f"org_wide_default must be one of {', '.join(ORG_WIDE_DEFAULTS)}",
                {"org_wide_default": [f"one of {', '.join(ORG_WIDE_DEFAULTS)}"]},
            )
        self.conn.execute(object_settings.delete().where(object_settings.c.object == obj))
        self.conn.execute(object_settings.insert().values(object=obj, org_wide_default=value))

    # -- public pools --------------------------------------------------------------------------------

    def _check_pool(self, doc: dict, *, current: dict | None) -> dict[str, list[str]]:
        errors: dict[str, list[str]] = {}
        for key in doc:
            if key not in POOL_MEMBERS:
                errors.setdefault(key, []).append(f"unknown member; use {', '.join(POOL_MEMBERS)}")
        if current is None:
            check_name(doc.get("api_name"), "pool", errors)
            obj = doc.get("object")
            if not isinstance(obj, str) or obj == WILDCARD or self.tx.state.object(obj) is None:
                errors.setdefault("object", []).append(f"no object {obj!r}")
        if not isinstance(doc.get("label"), str) or not doc["label"].strip() or len(doc["label"]) > 200:
            errors.setdefault("label", []).append("is required: 1 to 200 characters")
        known_roles = self._role_names()
        known_teams = set(self.conn.execute(sa.select(teams.c.api_name)).scalars())
        members = doc.get("members", {})
        if not isinstance(members, dict) or set(members) - {"roles", "teams"}:
            errors.setdefault("members", []).append('must be {"roles": [role names], "teams": [team names]}')
            members = {}
        for path, names, known in (
            ("members.roles", members.get("roles", []), known_roles),
            ("members.teams", members.get("teams", []), known_teams),
            ("admins", doc.get("admins", []), known_roles),
        ):
            if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
                errors.setdefault(path, []).append("must be a list of api names")
                continue
            for unknown in [n for n in names if n not in known]:
                what = "team" if path == "members.teams" else "role"
                errors.setdefault(path, []).append(f"no {what} {unknown!r}")
        for key, low, nullable in (("claim_quota", 1, False), ("cooldown_days", 0, False), ("reclaim_days", 1, True)):
            value = doc.get(key)
            if value is None and nullable:
                continue
            if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= 100_000:
                errors.setdefault(key, []).append(f"must be a whole number from {low} to 100000")
        if not _pool_translations_valid(doc.get("translations", {})):
            errors.setdefault("translations", []).append('must be {"<language>": {"label": "1 to 200 characters"}}')
        follow_up = doc.get("follow_up_field")
        object_name = doc.get("object") or (current or {}).get("object")
        if follow_up is not None and not is_moment_field(self.tx.state, object_name, follow_up):
            errors.setdefault("follow_up_field", []).append(
                f"must be updated_at or a date or datetime field of {object_name} (a roll-up of one too)"
            )
        return errors

    def _refuse_own_pool_roles(self, doc: dict, current: dict | None) -> None:
        """Making a role one holds a member or admin of a pool would widen
        what one sees: another administrator's job."""
        before = set()
        if current is not None:
            before = set(current["members"]["roles"]) | set(current["admins"])
        after = set(doc.get("members", {}).get("roles", [])) | set(doc.get("admins", []))
        widened = sorted((after - before) & self.protected)
        if widened:
            raise Forbidden(
                f"you hold {', '.join(widened)}: another administrator must make it a pool member or admin",
                details={"roles": widened},
            )

    def _pool(self, name: str) -> dict:
        pool = self.policy().pools.get(name)
        if pool is None:
            raise NotFound(f"no pool {name!r}")
        return pool.to_json()

    def put_pool(self, doc: Any, *, name: str | None = None) -> None:
        """Create a pool (``name`` None) or replace one's settings (its api name
        and object are fixed)."""
        if not isinstance(doc, dict):
            raise _invalid("send a JSON object", {"$": ["must be an object"]})
        current = self._pool(name) if name is not None else None
        if current is not None:
            for key in ("api_name", "object"):
                if key in doc and doc[key] != current[key]:
                    raise _invalid(f"{key} cannot be changed", {key: ["is immutable"]})
            doc = {**{k: current[k] for k in POOL_MEMBERS if k in current and k not in ("api_name", "object")}, **doc}
            doc.pop("api_name", None)
            doc.pop("object", None)
        else:
            doc = {**POOL_DEFAULTS, **doc}
        errors = self._check_pool(doc, current=current)
        if not errors and current is None:
            exists = self.conn.execute(sa.select(pools.c.api_name).where(pools.c.api_name == doc["api_name"])).first()
            if exists is not None:
                raise Conflict(f"pool {doc['api_name']!r} already exists", details={"fields": {"api_name": ["exists"]}})
        if errors:
            raise _invalid("the pool is not valid: " + "; ".join(f"{k}: {v[0]}" for k, v in errors.items()), errors)
        self._refuse_own_pool_roles(doc, current)
        pool_name = name or doc["api_name"]
        values = {
            "label": doc["label"].strip(),
            "claim_quota": doc["claim_quota"],
            "cooldown_days": doc["cooldown_days"],
            "reclaim_days": doc.get("reclaim_days"),
            "follow_up_field": doc.get("follow_up_field"),
            "translations": {
                lang: {"label": texts["label"].strip()} for lang, texts in doc.get("translations", {}).items()
            }
            or None,
        }
        if current is None:
            self.conn.execute(pools.insert().values(api_name=pool_name, object=doc["object"], **values))
        else:
            self.conn.execute(pools.update().where(pools.c.api_name == pool_name).values(**values))
        self.conn.execute(pool_access.delete().where(pool_access.c.pool == pool_name))
        members = doc.get("members", {})
        rows = [
            {"pool": pool_name, "kind": kind, "name": n}
            for kind, names in (
                ("role", members.get("roles", [])),
                ("team", members.get("teams", [])),
                ("admin", doc.get("admins", [])),
            )
            for n in dict.fromkeys(names)
        ]
        if rows:
            self.conn.execute(pool_access.insert(), rows)

    def delete_pool(self, name: str) -> None:
        """Only an empty pool (409 while records are in it)."""
        self._pool(name)
        waiting = self.conn.execute(
            sa.select(sa.func.count()).select_from(pool_records).where(pool_records.c.pool == name)
        ).scalar()
        if waiting:
            raise Conflict(
                f"pool {name} still holds {waiting} record(s): assign them first", details={"records": waiting}
            )
        self.conn.execute(pool_claims.delete().where(pool_claims.c.pool == name))
        self.conn.execute(pool_access.delete().where(pool_access.c.pool == name))
        self.conn.execute(pools.delete().where(pools.c.api_name == name))

    # -- sharing rules ---------------------------------------------------------------------------------

    def _check_recipient(self, value: Any, path: str, errors: dict[str, list[str]]) -> None:
        if not isinstance(value, dict) or set(value) != {"kind", "name"}:
            errors.setdefault(path, []).append(
                f'must be {{"kind": {" | ".join(RECIPIENT_KINDS)}, "name": a role or team api name}}'
            )
            return
        if not isinstance(value["name"], str):
            errors.setdefault(f"{path}.name", []).append("must be a role or team api name")
        elif value["kind"] not in RECIPIENT_KINDS:
            errors.setdefault(f"{path}.kind", []).append(f"must be one of {', '.join(RECIPIENT_KINDS)}")
        elif value["kind"] == "team":
            known = set(self.conn.execute(sa.select(teams.c.api_name)).scalars())
            if value["name"] not in known:
                errors.setdefault(f"{path}.name", []).append(f"no team {value['name']!r}")
        elif value["name"] not in self._role_names():
            errors.setdefault(f"{path}.name", []).append(f"no role {value['name']!r}")

    def _check_sharing_rule(self, doc: dict, *, creating: bool) -> tuple[dict[str, list[str]], dict]:
        errors: dict[str, list[str]] = {}
        positions: dict = {}
        for key in doc:
            if key not in SHARING_RULE_MEMBERS:
                errors.setdefault(key, []).append(f"unknown member; use {', '.join(SHARING_RULE_MEMBERS)}")
        if creating:
            check_name(doc.get("api_name"), "sharing rule", errors)
        obj = doc.get("object")
        if not isinstance(obj, str) or obj == WILDCARD or self.tx.state.object(obj) is None:
            errors.setdefault("object", []).append(f"no object {obj!r}")
            obj = None
        if not isinstance(doc.get("label"), str) or not doc["label"].strip() or len(doc["label"]) > 200:
            errors.setdefault("label", []).append("is required: 1 to 200 characters")
        kind = doc.get("kind")
        if kind not in SHARING_RULE_KINDS:
            errors.setdefault("kind", []).append(f"must be one of {', '.join(SHARING_RULE_KINDS)}")
        elif kind == "owner":
            self._check_recipient(doc.get("owned_by"), "owned_by", errors)
            if doc.get("condition") not in (None, ""):
                errors.setdefault("condition", []).append("an owner rule has no condition (use kind criteria)")
        else:
            if doc.get("owned_by") is not None:
                errors.setdefault("owned_by", []).append("a criteria rule names no owners (use kind owner)")
            text = doc.get("condition")
            if not isinstance(text, str) or not text.strip():
                errors.setdefault("condition", []).append("is required: a rule-language condition")
            elif len(text) > 4000:
                errors.setdefault("condition", []).append("must be at most 4000 characters")
            elif obj is not None:
                try:
                    check_condition(self.model(), obj, text)
                except ValidationFailed as exc:
                    errors.setdefault("condition", []).append(exc.message)
                    details = exc.details if isinstance(exc.details, dict) else {}
                    if "line" in details:
                        positions["condition"] = {k: details[k] for k in ("line", "column", "snippet") if k in details}
        self._check_recipient(doc.get("share_with"), "share_with", errors)
        if doc.get("access") not in SHARING_RULE_ACCESS:
            errors.setdefault("access", []).append(f"must be one of {', '.join(SHARING_RULE_ACCESS)}")
        return errors, positions

    def _refuse_own_rule_roles(self, doc: dict) -> None:
        """A rule sharing with a role one holds would widen what one sees:
        another administrator's job (as for pools)."""
        share = doc["share_with"]
        if share["kind"] == "team":
            return
        named = {share["name"]}
        if share["kind"] == "role_and_subordinates":
            named |= self.policy().with_subordinates(share["name"])
        widened = sorted(named & self.protected)
        if widened:
            raise Forbidden(
                f"you hold {', '.join(widened)}: another administrator must share records with it",
                details={"roles": widened},
            )

    def _sharing_rule(self, name: str) -> dict:
        rule = self.policy().sharing_rules.get(name)
        if rule is None:
            raise NotFound(f"no sharing rule {name!r}")
        return rule.to_json()

    def put_sharing_rule(self, doc: Any, *, name: str | None = None) -> None:
        """Create a sharing rule (``name`` None) or replace one (its api name
        is fixed). 422 naming the member; a condition's error with line and column."""
        if not isinstance(doc, dict):
            raise _invalid("send a JSON object", {"$": ["must be an object"]})
        if name is not None:
            current = self._sharing_rule(name)
            if "api_name" in doc and doc["api_name"] != name:
                raise _invalid("api_name cannot be changed", {"api_name": ["is immutable"]})
            patch = doc
            doc = {**{k: v for k, v in current.items() if k != "api_name"}, **patch}
            doc.pop("api_name", None)
            # Changing the kind drops what only the other kind has (unless the patch sends it).
            if doc.get("kind") == "criteria" and "owned_by" not in patch:
                doc.pop("owned_by", None)
            if doc.get("kind") == "owner" and "condition" not in patch:
                doc.pop("condition", None)
        errors, positions = self._check_sharing_rule(doc, creating=name is None)
        if not errors and name is None:
            exists = self.conn.execute(
                sa.select(sharing_rules.c.api_name).where(sharing_rules.c.api_name == doc["api_name"])
            ).first()
            if exists is not None:
                raise Conflict(
                    f"sharing rule {doc['api_name']!r} already exists", details={"fields": {"api_name": ["exists"]}}
                )
        if errors:
            first = next(iter(errors))
            raise ValidationFailed(
                "the sharing rule is not valid: " + "; ".join(f"{k}: {v[0]}" for k, v in errors.items()),
                details={"fields": errors, "positions": positions or None, "first": first},
            )
        self._refuse_own_rule_roles(doc)
        rule_name = name or doc["api_name"]
        owner = doc.get("owned_by") if doc["kind"] == "owner" else None
        values = {
            "object": doc["object"],
            "label": doc["label"].strip(),
            "kind": doc["kind"],
            "owner_kind": owner["kind"] if owner else None,
            "owner_name": owner["name"] if owner else None,
            "condition": doc["condition"].strip() if doc["kind"] == "criteria" else None,
            "share_kind": doc["share_with"]["kind"],
            "share_name": doc["share_with"]["name"],
            "access": doc["access"],
        }
        if name is None:
            self.conn.execute(sharing_rules.insert().values(api_name=rule_name, **values))
        else:
            self.conn.execute(sharing_rules.update().where(sharing_rules.c.api_name == rule_name).values(**values))

    def delete_sharing_rule(self, name: str) -> None:
        self._sharing_rule(name)
        self.conn.execute(sharing_rules.delete().where(sharing_rules.c.api_name == name))

    # -- the mirror --------------------------------------------------------------------------------

    def mirror(self) -> None:
        document = self.policy().document()
        current = self.tx.state.get(DEFINITION_KIND, DEFINITION_KEY)
        if current is None or current.document != document:
            self.tx.write_definition(DEFINITION_KIND, DEFINITION_KEY, document)


class AccessChanges:
    """Opens policy changes for one tenant, acting as one actor. ``held`` are
    the acting user's roles (None for the platform itself): roles they hold
    or inherit cannot be changed through it."""

    def __init__(
        self,
        instance: Instance,
        binding: TenantBinding,
        actor: audit.Actor,
        *,
        held: frozenset[str] | None = None,
        policy: CompiledPolicy | None = None,
    ):
        self.instance = instance
        self.binding = binding
        self.actor = actor
        self.held = held
        self.policy = policy

    @contextmanager
    def change(self, summary: str) -> Iterator[PolicyChange]:
        protected = below = frozenset()
        if self.held is not None and self.policy is not None:
            protected = self.policy.closure(self.held)
            below = self.policy.below(self.held)
        service = MetadataService(
            self.binding, field_types(self.instance), self.actor, kinds=definition_kinds(self.instance)
        )
        with service.change(summary) as tx:
            change = PolicyChange(tx, self.binding.slug, protected, below)
            yield change
            change.mirror()
            self.revision = tx.revision if tx.entries else None


def apply_package_pools(tx: ChangeSet, domain: str, documents: list[dict]) -> list[str]:
    """Create the pools a metadata package ships (``access/pools.yaml``) in
    the package's own metadata change. A pool the tenant already has is left
    as its admins made it; member and admin roles the tenant does not have
    are left out. Returns the api names of the pools created."""
    change = PolicyChange(tx, domain, frozenset(), frozenset())
    existing = change.policy().pools
    known = change._role_names()
    created = []
    for document in documents:
        if not isinstance(document, dict) or document.get("api_name") in existing:
            continue
        doc = dict(document)
        members = dict(doc.get("members") or {})
        members["roles"] = [r for r in members.get("roles", []) if r in known]
        doc["members"] = members
        doc["admins"] = [r for r in doc.get("admins", []) if r in known]
        change.put_pool(doc)
        created.append(doc["api_name"])
    if created:
        change.mirror()
    return created


def apply_package_access(tx: ChangeSet, domain: str, roles_shipped: list[dict], entries: list[dict]) -> list[str]:
    """Create the roles a metadata package ships (``access/roles.yaml``) and
    its object-access entries (``access/policies.yaml``: ``{role, object,
    access}``, ``access`` shaped as ``PUT /access/roles/<role>/objects/<object>``,
    field access included) in the package's own metadata change.

    Like pools, they are the tenant's once written: a role the tenant already
    has is left as it is, and an entry is written only where the role has no
    entry of its own for that object (so an admin's change survives a
    reinstall); an entry naming a role the tenant does not have is skipped.
    Returns what it wrote (``role`` and ``role/object`` names)."""
    change = PolicyChange(tx, domain, frozenset(), frozenset())
    written = []
    existing = change._role_names()
    for document in roles_shipped:
        if isinstance(document, dict) and document.get("api_name") not in existing:
            change.create_role(document)
            written.append(document["api_name"])
    known = change._role_names()
    own_entries = change.policy().entries
    for entry in entries:
        role, obj = entry.get("role"), entry.get("object")
        if role not in known or role == ADMIN_ROLE or (role, obj) in own_entries:
            continue
        change.put_object_access(role, obj, entry.get("access"))
        written.append(f"{role}/{obj}")
    if written:
        change.mirror()
    return written
