"""The authorization layer on Casbin: roles and who holds them, object and
field permissions, record scopes compiled to SQL, teams and record shares,
public pools, ownership transfer, and explaining why a user may act.

Implements the guard protocol the record store demands; depends on
:mod:`metacrm.rules`, :mod:`metacrm.metadata` and :mod:`metacrm.platform`.
See docs/access.md.
"""

from metacrm.access.guard import PolicyGuard, SystemGuard
from metacrm.access.members import assign_roles, check_roles, provision_member
from metacrm.access.policy import policy_for

__all__ = ["PolicyGuard", "SystemGuard", "assign_roles", "check_roles", "policy_for", "provision_member"]
