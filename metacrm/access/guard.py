"""The guards the record store is built with.

:class:`PolicyGuard` answers the :class:`~metacrm.metadata.guard.Guard`
protocol for one user in one tenant from the tenant's compiled policy:

1. object permission: does any held role permit the action on the object?
   No → :class:`~metacrm.platform.errors.Forbidden` (403);
2. record scope: ONE SQL clause, the OR of the roles' scopes (named or
   rule-language conditions), the org-wide default, record shares and, for
   reading, the public pools the user works (:mod:`metacrm.access.scopes`);
   the store runs it for lists and single records alike, so a record out of
   scope is a 404. A condition that no longer compiles against the model
   (a field it reads was deleted) grants nothing — it fails closed;
3. field-level security: hidden fields are not readable (the store leaves
   them out and refuses to filter, sort or search on them); read-only ones
   are not writable (the store answers 403 naming the field). A formula or
   roll-up is as hidden as the fields it reads, unless its definition says
   ``own_access: true`` (:mod:`metacrm.access.derived`).

A user with no role may do nothing with records. The admin role is a role
like any other (the standard one permits everything); there is no bypass.
:class:`SystemGuard` (defined with the protocol, in
:mod:`metacrm.metadata.guard`) is for the platform's own work (CLI, jobs,
demo data, package install, automations), which acts for no user.
"""

from __future__ import annotations

import logging

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement

from metacrm.access import scopes as sql_scopes
from metacrm.access.derived import DerivedVisibility, own_access
from metacrm.access.members import roles_of_member, teams_of
from metacrm.access.permissions import ACTIONS, FLAG_ACTIONS, condition_text
from metacrm.access.policy import CompiledPolicy, policy_for
from metacrm.metadata.guard import SystemGuard, UserGlobals
from metacrm.metadata.physical import CompiledModel, CompiledObject
from metacrm.platform.database import TenantBinding
from metacrm.platform.errors import Forbidden, ValidationFailed
from metacrm.platform.identity import Identity
from metacrm.platform.instance import Instance
from metacrm.rules import BOOLEAN, CheckContext, SqlContext, check, compile_sql, parse

log = logging.getLogger("metacrm.access")


def check_condition(model: CompiledModel, object_name: str, text: str):
    """Parse and type-check a record-scope condition for SQL against the
    object (RuleError with line and column), refusing lookup traversal: a
    path through a lookup would read records the scope itself does not guard."""
    typed = check(parse(text), CheckContext(model, object_name, sql=True, purpose="a record scope"), expect=BOOLEAN)
    for path in sorted(typed.references()):
        if len(path) > 1:
            raise ValidationFailed(
                f"{'.'.join(path)} reads another object; a record scope may read only fields of {object_name} "
                "(lookup traversal is not supported in record scopes)",
                details={"path": ".".join(path)},
            )
    return typed


class PolicyGuard:
    def __init__(
        self,
        policy: CompiledPolicy,
        user_id: int,
        roles: frozenset[str],
        *,
        model: CompiledModel | None = None,
        binding: TenantBinding | None = None,
        email: str | None = None,
        role: str | None = None,
        locale: str | None = None,
    ):
        self.policy = policy
        self.user_id = user_id
        self.roles = frozenset(roles)
        # For condition scopes: the model they compile against and $User.
        self.model = model
        self._binding = binding
        self._email = email
        self._locale = locale
        self._role = role if role in self.roles else min(self.roles, default=None)
        self._user: UserGlobals | None = None

    @classmethod
    def for_identity(
        cls,
        instance: Instance,
        binding: TenantBinding,
        identity: Identity,
        model: CompiledModel | None = None,
        *,
        roles: frozenset[str] | None = None,
    ) -> PolicyGuard:
        """The guard of a signed-in identity: its tenant's policy at the
        request's metadata revision and the roles it holds now (``roles``:
        the stored roles the caller has just read, see
        ``members.head_and_roles``)."""
        policy = policy_for(instance, binding, model.revision if model is not None else None)
        held = (
            roles if roles is not None else roles_of_member(binding, identity.user_id, identity.is_admin, identity.role)
        )
        return cls(
            policy,
            identity.user_id,
            held,
            model=model,
            binding=binding,
            email=identity.email,
            role=identity.role,
            locale=getattr(identity, "locale", None),
        )

    def user_globals(self) -> UserGlobals:
        """``$User``: id, e-mail, the membership's role (or the first held
        one), the user's teams by name (``$User.Team`` is the first) and the
        identity's locale (None when it has none). Read once per guard."""
        if self._user is None:
            teams: tuple[str, ...] = ()
            if self._binding is not None:
                with self._binding.connect() as conn:
                    teams = tuple(teams_of(conn, self.user_id))
            self._user = UserGlobals(
                id=self.user_id,
                role=self._role,
                team=next(iter(teams), None),
                email=self._email,
                teams=teams,
                locale=self._locale,
            )
        return self._user

    # -- object permissions ------------------------------------------------------------

    def scopes(self, action: str, obj: CompiledObject | str) -> frozenset[str]:
        name = obj if isinstance(obj, str) else obj.api_name
        if action not in ACTIONS:
            return frozenset()
        return self.policy.scopes(self.roles, name, action)

    def permits(self, action: str, obj: CompiledObject | str) -> bool:
        return bool(self.scopes(action, obj))

    def require(self, action: str, obj: CompiledObject) -> None:
        if not self.permits(action, obj):
            held = ", ".join(sorted(self.roles)) or "none"
            raise Forbidden(
                f"your roles ({held}) do not permit {action} on {obj.label}",
                details={"object": obj.api_name, "action": action},
            )

    # -- record scope ------------------------------------------------------------------

    def grants(self, action: str, obj: CompiledObject) -> list[sql_scopes.Grant]:
        held = self.scopes(action, obj)
        if not held:
            return []
        if action in FLAG_ACTIONS:
            return [sql_scopes.Grant("scope", "all", None)]
        found = sql_scopes.grants(
            obj.table,
            obj.api_name,
            action,
            self.user_id,
            held,
            self.policy.org_wide_default(obj.api_name),
            self.policy.below(self.roles) if "subordinates" in held else (),
        )
        for scope in sorted(held):
            text = condition_text(scope)
            if text is not None:
                found.append(self._condition_grant(obj, text))
        if action in sql_scopes.RULE_OPENS:
            found.extend(self._sharing_rule_grants(action, obj))
        if action == "read":
            pools = self.policy.pools_of(obj.api_name)
            if pools:
                mine = [p.api_name for p in pools if self.policy.member_of(self.roles, p)]
                clause = sql_scopes.in_pool(obj.table, obj.api_name, self.user_id, mine)
                found.append(sql_scopes.Grant("pool", ", ".join(p.api_name for p in pools), clause))
        return found

    def _sharing_rule_grants(self, action: str, obj: CompiledObject) -> list[sql_scopes.Grant]:
        """One grant per sharing rule on ``obj`` that names this user (through
        a held role, a role below one the rule names, or a team) and opens
        ``action``. A criteria rule's condition fails closed like a condition
        scope."""
        out = []
        for rule in self.policy.sharing_rules_of(obj.api_name):
            if rule.access not in sql_scopes.RULE_OPENS[action]:
                continue
            recipient: ColumnElement | None = None
            if rule.share_kind == "team":
                recipient = sql_scopes.member_of_team(self.user_id, rule.share_name)
            else:
                wanted = (
                    self.policy.with_subordinates(rule.share_name)
                    if rule.share_kind == "role_and_subordinates"
                    else frozenset({rule.share_name})
                )
                if not self.roles & wanted:
                    continue
            error = None
            if rule.kind == "owner":
                if rule.owner_kind == "team":
                    clause = sql_scopes.owned_by_team(obj.table, rule.owner_name)
                else:
                    owners = (
                        self.policy.with_subordinates(rule.owner_name)
                        if rule.owner_kind == "role_and_subordinates"
                        else frozenset({rule.owner_name})
                    )
                    clause = sql_scopes.owned_by_roles(obj.table, owners)
            else:
                condition = self._condition_grant(obj, rule.condition or "")
                clause, error = condition.clause, condition.error
            if recipient is not None:
                clause = sa.and_(recipient, clause)
            out.append(sql_scopes.Grant("sharing_rule", rule.api_name, clause, error))
        return out

    def _typed_condition(self, obj: CompiledObject, text: str):
        """The checked condition (or the reason it no longer checks), once
        per (policy revision, model revision, object, text)."""

        def build():
            try:
                return check_condition(self.model, obj.api_name, text), None
            except ValidationFailed as exc:  # RuleError included
                log.warning("record scope condition on %s no longer valid: %s (%s)", obj.api_name, text, exc.message)
                return None, exc.message
            except Exception as exc:  # fail closed, never a 500
                log.exception("record scope condition on %s failed to check: %s", obj.api_name, text)
                return None, f"{type(exc).__name__}: {exc}"

        return self.policy.memo(("condition", self.model.revision, obj.api_name, text), build)

    def _condition_grant(self, obj: CompiledObject, text: str) -> sql_scopes.Grant:
        """A condition's clause; false (fail closed) with the reason if it
        does not compile against this request's model."""
        if self.model is None or self.model.object(obj.api_name) is None:
            return sql_scopes.Grant("condition", text, sa.false(), "no compiled model to compile the condition with")
        typed, error = self._typed_condition(obj, text)
        if typed is None:
            return sql_scopes.Grant("condition", text, sa.false(), f"the condition no longer compiles: {error}")
        user = self.user_globals()
        key = ("condition_sql", self.model.revision, obj.api_name, text, user)
        try:
            clause = self.policy.memo(
                key, lambda: compile_sql(typed, SqlContext(self.model, obj.api_name, table=obj.table, user=user))
            )
        except Exception as exc:  # fail closed, never a 500
            log.exception("record scope condition on %s failed to compile: %s", obj.api_name, text)
            return sql_scopes.Grant("condition", text, sa.false(), f"the condition no longer compiles: {exc}")
        return sql_scopes.Grant("condition", text, clause)

    def scope(self, action: str, obj: CompiledObject) -> ColumnElement | None:
        if self._opens_every_record(action, obj):
            return None  # what grants() would combine to, without building the share and pool clauses
        return sql_scopes.combine(self.grants(action, obj))

    def _opens_every_record(self, action: str, obj: CompiledObject) -> bool:
        """An ``all`` scope, a flag action or an org-wide default that opens
        ``action``: one of the grants has no clause, so their union has none."""
        held = self.scopes(action, obj)
        if not held:
            return False
        if "all" in held or action in FLAG_ACTIONS:
            return True
        return action in sql_scopes.ORG_WIDE_OPENS.get(self.policy.org_wide_default(obj.api_name), ())

    # -- fields --------------------------------------------------------------------------

    def _field_sets(self, obj: CompiledObject) -> tuple[frozenset[str], frozenset[str]]:
        return self.policy.field_sets(self.roles, obj.api_name, tuple(obj.fields))

    def readable_fields(self, obj: CompiledObject) -> set[str]:
        """Fields the user may read: field-level security, less the computed
        fields that read something the user may not (derived visibility)."""
        return set(self._field_sets(obj)[0]) - set(self.derived_hidden(obj))

    def derived_hidden(self, obj: CompiledObject) -> dict[str, str]:
        """Computed fields field-level security lets the user read but what
        they read does not → why (explain shows it). Without a model to
        resolve what they read, every one not opted out is hidden."""
        if self.model is None or self.model.object(obj.api_name) is None:
            return {
                name: "no compiled model to tell what it reads"
                for name, ft in obj.fields.items()
                if ft.computed and not own_access(ft) and name in self._field_sets(obj)[0]
            }

        def build() -> dict[str, str]:
            visibility = DerivedVisibility(self.model, lambda o: self._field_sets(o)[0])
            return visibility.hidden(obj)

        return self.policy.memo(("derived", self.roles, self.model.revision, obj.api_name), build)

    def writable_fields(self, obj: CompiledObject) -> set[str]:
        return set(self._field_sets(obj)[1])

    # -- platform permissions --------------------------------------------------------------

    def may(self, permission: str) -> bool:
        return self.policy.allows(self.roles, permission)

    def require_permission(self, permission: str) -> None:
        if not self.may(permission):
            raise Forbidden(
                f"you need the {permission} permission (the admin role has it)", details={"permission": permission}
            )

    def may_manage_metadata(self) -> bool:
        return self.may("manage_metadata")

    def require_metadata_admin(self) -> None:
        self.require_permission("manage_metadata")


__all__ = ["PolicyGuard", "SystemGuard", "check_condition"]
