"""The guard protocol: what the record store demands of the access layer,
the ``$User`` a guard answers for, and the guard of the platform itself.

Every :class:`~metacrm.metadata.store.RecordStore` is built with a guard and
asks it before every read and write, so no code path reaches object data
without one — the store fails closed. ``metacrm.access`` implements it for
users (:class:`~metacrm.access.guard.PolicyGuard`); :class:`SystemGuard`
is the platform's own work (jobs, CLI, demo data, package install,
automations, the recycle-bin purge).

A guard also names its user: :meth:`Guard.user_globals` is the one source of
``$User`` for ``where=`` filters, record scopes, validation rules and
automations alike.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy.sql.elements import ColumnElement

from metacrm.metadata.physical import CompiledObject
from metacrm.platform.errors import Forbidden

# Actions on records; "read" covers list, count, search, related lists and exports.
RECORD_ACTIONS = ("create", "read", "update", "delete")


@dataclass(frozen=True)
class UserGlobals:
    """The user a guard acts for, as rules read it: ``$User.Id``,
    ``$User.Role``, ``$User.Team`` (the first of ``teams``, by name),
    ``$User.Email``; ``teams`` and ``locale`` for code that needs them.
    Hashable: compiled scopes are memoised per user."""

    id: int | None = None
    role: str | None = None
    team: str | None = None
    email: str | None = None
    teams: tuple[str, ...] = ()
    locale: str | None = None

    @classmethod
    def from_identity(cls, identity: Any, team: str | None = None) -> UserGlobals:
        """From a :class:`metacrm.platform.identity.Identity` (or anything with
        ``user_id``, ``role``, ``email``)."""
        return cls(
            id=getattr(identity, "user_id", None),
            role=getattr(identity, "role", None),
            team=team,
            email=getattr(identity, "email", None),
            teams=(team,) if team is not None else (),
            locale=getattr(identity, "locale", None),
        )

    def get(self, attribute: str) -> Any:
        return getattr(self, attribute)


class Guard(Protocol):
    def require(self, action: str, obj: CompiledObject) -> None:
        """Raise Forbidden unless the user may do ``action`` on ``obj`` at all."""

    def scope(self, action: str, obj: CompiledObject) -> ColumnElement | None:
        """The WHERE clause limiting the rows ``action`` may touch (None: all rows).
        Used by lists and by single-record checks alike."""

    def readable_fields(self, obj: CompiledObject) -> set[str]:
        """Fields the user may see (and so filter, sort and search on)."""

    def writable_fields(self, obj: CompiledObject) -> set[str]:
        """Fields the user may write."""

    def may_manage_metadata(self) -> bool:
        """Whether the user may change definitions."""

    def user_globals(self) -> UserGlobals:
        """The user's ``$User`` (no id: the platform acting for no user)."""


class SystemGuard:
    """The platform acting for itself, not for a user's permissions: every
    record, every field — or, with ``actions``, only those actions (the
    recycle-bin purge may only delete); anything else is
    :class:`~metacrm.platform.errors.Forbidden`.

    ``acting_for`` is the guard of the user whose save this work follows
    from (automations): its ``$User`` is theirs. Without it ``$User`` has
    no id. Only an unrestricted system guard has the platform permissions
    (changing metadata and the like)."""

    user_id = None
    roles = frozenset()

    def __init__(self, actions: Iterable[str] | None = None, *, purpose: str = "the system", acting_for=None):
        self.actions = tuple(RECORD_ACTIONS if actions is None else actions)
        self.restricted = actions is not None
        self.purpose = purpose
        self.acting_for = acting_for

    def require(self, action: str, obj: CompiledObject) -> None:
        if action not in self.actions:
            raise Forbidden(
                f"{self.purpose} may only {' or '.join(self.actions)} records, not {action}",
                details={"object": obj.api_name, "action": action},
            )

    def scope(self, action: str, obj: CompiledObject) -> ColumnElement | None:
        return None

    def readable_fields(self, obj: CompiledObject) -> set[str]:
        return set(obj.fields)

    def writable_fields(self, obj: CompiledObject) -> set[str]:
        writes = "create" in self.actions or "update" in self.actions
        return set(obj.fields) if writes else set()

    def user_globals(self) -> UserGlobals:
        return self.acting_for.user_globals() if self.acting_for is not None else UserGlobals()

    # -- platform permissions ----------------------------------------------------------

    def may(self, permission: str) -> bool:
        return not self.restricted

    def require_permission(self, permission: str) -> None:
        if not self.may(permission):
            raise Forbidden(f"{self.purpose} may not {permission}", details={"permission": permission})

    def may_manage_metadata(self) -> bool:
        return self.may("manage_metadata")

    def require_metadata_admin(self) -> None:
        self.require_permission("manage_metadata")
