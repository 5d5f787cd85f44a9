"""Users, roles, teams, the permission matrix, sharing, public pools and the explain screen (manage_access)."""
