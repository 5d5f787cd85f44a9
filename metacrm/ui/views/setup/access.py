"""Users, roles, teams, the permission matrix, sharing, public pools and the explain screen (manage_access).

One module per screen, imported here so that importing the setup package registers every route."""

from metacrm.ui.views.setup import (  # noqa: F401
    access_explain,
    access_permissions,
    access_pools,
    access_roles,
    access_sharing,
    access_sharing_rules,
    access_teams,
    access_users,
)
