"""The guards the record store is built with.

:class:`PolicyGuard` answers the :class:`~metacrm.metadata.guard.Guard`
protocol for one user in one tenant from the tenant's compiled policy:

1. object permission: does any held role permit the action on the object?
   No → :class:`~metacrm.platform.errors.Forbidden` (403);
2. record scope: ONE SQL clause, the OR of the roles' scopes, the org-wide
   default and record shares (:mod:`metacrm.access.scopes`); the store runs
   it for lists and single records alike, so a record out of scope is a 404;
3. field-level security: hidden fields are not readable (the store leaves
   them out and refuses to filter, sort or search on them); read-only ones
   are not writable (the store answers 403 naming the field).

A user with no role may do nothing with records. The admin role is a role
like any other (the standard one permits everything); there is no bypass.
:class:`SystemGuard` is for the platform's own work (CLI, demo data,
package install), which acts for no user.
"""

from __future__ import annotations

from sqlalchemy.sql.elements import ColumnElement

from metacrm.access import scopes as sql_scopes
from metacrm.access.members import roles_of_member
from metacrm.access.permissions import ACTIONS, FLAG_ACTIONS
from metacrm.access.policy import CompiledPolicy, policy_for
from metacrm.metadata.physical import CompiledModel, CompiledObject
from metacrm.platform.database import TenantBinding
from metacrm.platform.errors import Forbidden
from metacrm.platform.identity import Identity
from metacrm.platform.instance import Instance


class PolicyGuard:
    def __init__(self, policy: CompiledPolicy, user_id: int, roles: frozenset[str]):
        self.policy = policy
        self.user_id = user_id
        self.roles = frozenset(roles)

    @classmethod
    def for_identity(
        cls, instance: Instance, binding: TenantBinding, identity: Identity, model: CompiledModel | None = None
    ) -> PolicyGuard:
        """The guard of a signed-in identity: its tenant's policy at the
        request's metadata revision and the roles it holds now."""
        policy = policy_for(instance, binding, model.revision if model is not None else None)
        held = roles_of_member(binding, identity.user_id, identity.is_admin, identity.role)
        return cls(policy, identity.user_id, held)

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
        return sql_scopes.grants(
            obj.table,
            obj.api_name,
            action,
            self.user_id,
            held,
            self.policy.org_wide_default(obj.api_name),
            self.policy.below(self.roles) if "subordinates" in held else (),
        )

    def scope(self, action: str, obj: CompiledObject) -> ColumnElement | None:
        return sql_scopes.combine(self.grants(action, obj))

    # -- fields --------------------------------------------------------------------------

    def _field_sets(self, obj: CompiledObject) -> tuple[frozenset[str], frozenset[str]]:
        return self.policy.field_sets(self.roles, obj.api_name, tuple(obj.fields))

    def readable_fields(self, obj: CompiledObject) -> set[str]:
        return set(self._field_sets(obj)[0])

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


class SystemGuard:
    """For the platform's own work (CLI, demo data, package install): all of it."""

    user_id = None
    roles = frozenset()

    def require(self, action: str, obj: CompiledObject) -> None:
        return None

    def scope(self, action: str, obj: CompiledObject) -> ColumnElement | None:
        return None

    def readable_fields(self, obj: CompiledObject) -> set[str]:
        return set(obj.fields)

    def writable_fields(self, obj: CompiledObject) -> set[str]:
        return set(obj.fields)

    def may(self, permission: str) -> bool:
        return True

    def require_permission(self, permission: str) -> None:
        return None

    def may_manage_metadata(self) -> bool:
        return True

    def require_metadata_admin(self) -> None:
        return None
