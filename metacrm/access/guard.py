"""The guard of the foundation stage: tenant membership decides.

Every member may create, read, update and delete every record of every
object of their tenant (an org-wide "public read/write" default), and only
tenant admins may change metadata. The Casbin policy layer (roles, record
scopes compiled to SQL, field-level security) replaces this class behind the
same :class:`~metacrm.metadata.guard.Guard` protocol.
"""

from __future__ import annotations

from metacrm.metadata.physical import CompiledObject
from metacrm.platform.errors import Forbidden
from metacrm.platform.identity import Identity


class MembershipGuard:
    def __init__(self, identity: Identity):
        self.identity = identity

    def require(self, action: str, obj: CompiledObject) -> None:
        return None

    def scope(self, action: str, obj: CompiledObject):
        return None

    def readable_fields(self, obj: CompiledObject) -> set[str]:
        return set(obj.fields)

    def writable_fields(self, obj: CompiledObject) -> set[str]:
        return set(obj.fields)

    def may_manage_metadata(self) -> bool:
        return self.identity.is_admin

    def require_metadata_admin(self) -> None:
        if not self.may_manage_metadata():
            raise Forbidden("only a tenant admin may change metadata")


class SystemGuard(MembershipGuard):
    """For the platform's own work (CLI, demo data, package install): all of it."""

    def __init__(self):
        pass

    def may_manage_metadata(self) -> bool:
        return True
