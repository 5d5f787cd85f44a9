"""Tables the access layer keeps in every tenant namespace.

They are defined without a schema, like every tenant table, and are reached
only through a :class:`~metacrm.platform.database.TenantBinding`. The
migration ``a0001`` (Alembic branch ``access``) creates them.

* ``casbin_rule``: pycasbin's policy table, in the layout of
  ``sqlalchemy-adapter`` (ptype, v0..v5). Rows store the domain as
  :data:`STORED_DOMAIN`, not the tenant's slug: the table already lives in
  the tenant's namespace, and a tenant exported and imported under another
  slug keeps working. The adapter maps it to the slug when loading.
* ``roles``: every role, with its place in the hierarchy (``parent_role``).
* ``user_roles`` and ``access_members``: who holds which role; a member row
  says the user's roles are managed here (see :mod:`metacrm.access.members`).
* ``teams`` and ``team_members``: for the ``team`` scope and team shares.
* ``field_permissions``: hidden / read / edit per role, object and field.
* ``object_settings``: the org-wide default of each object.
* ``record_shares``: one record shared with a user or a team.
* ``scope_conditions``: the rule-language text of each condition scope
  (migration ``a0002``, as are the pool tables).
* ``pools`` and ``pool_access``: public pools and who may work (``member``:
  a role or a ``team``) and administer (``admin``: a role) each one.
* ``pool_records``: the records now in a pool (their ``owner_id`` is NULL),
  who returned each one and when (for the re-claim cool-down).
* ``sharing_rules`` (migration ``a0004``, as are ``member_managers`` and
  ``roles.translations``): owner- and criteria-based sharing rules.
* ``member_managers``: who each member reports to.
* ``pool_claims``: records taken from a pool and still held (for the claim
  quota and the reclaim of records nobody follows up).
"""

from __future__ import annotations

import sqlalchemy as sa

access_tables = sa.MetaData()
tz = sa.DateTime(timezone=True)
NAME = sa.String(63)

# The domain value stored in casbin_rule (the namespace is the tenant).
STORED_DOMAIN = "tenant"

casbin_rule = sa.Table(
    "casbin_rule",
    access_tables,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("ptype", sa.String(255)),
    sa.Column("v0", sa.String(255)),
    sa.Column("v1", sa.String(255)),
    sa.Column("v2", sa.String(255)),
    sa.Column("v3", sa.String(255)),
    sa.Column("v4", sa.String(255)),
    sa.Column("v5", sa.String(255)),
)

roles = sa.Table(
    "roles",
    access_tables,
    sa.Column("api_name", NAME, primary_key=True),
    sa.Column("label", sa.String(200), nullable=False),
    sa.Column("description", sa.String(1000), nullable=False, server_default=""),
    # The role above this one: its holders see the records owned by holders of this one.
    sa.Column("parent_role", NAME, nullable=True),
    # The label in other languages: {"zh_CN": "销售代表"} (a0004).
    sa.Column("translations", sa.JSON, nullable=True),
)

access_members = sa.Table(
    "access_members",
    access_tables,
    sa.Column("user_id", sa.Integer, primary_key=True),
    sa.Column("provisioned_at", tz, nullable=False),
)

user_roles = sa.Table(
    "user_roles",
    access_tables,
    sa.Column("user_id", sa.Integer, primary_key=True),
    sa.Column("role", NAME, primary_key=True),
)

teams = sa.Table(
    "teams",
    access_tables,
    sa.Column("api_name", NAME, primary_key=True),
    sa.Column("label", sa.String(200), nullable=False),
)

team_members = sa.Table(
    "team_members",
    access_tables,
    sa.Column("team", NAME, primary_key=True),
    sa.Column("user_id", sa.Integer, primary_key=True),
)

field_permissions = sa.Table(
    "field_permissions",
    access_tables,
    sa.Column("role", NAME, primary_key=True),
    sa.Column("object", NAME, primary_key=True),
    sa.Column("field", NAME, primary_key=True),
    sa.Column("access", sa.String(10), nullable=False),
)

object_settings = sa.Table(
    "object_settings",
    access_tables,
    sa.Column("object", NAME, primary_key=True),
    sa.Column("org_wide_default", sa.String(20), nullable=False),
)

record_shares = sa.Table(
    "record_shares",
    access_tables,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("object", NAME, nullable=False),
    sa.Column("record_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
    sa.Column("user_id", sa.Integer, nullable=True),
    sa.Column("team", NAME, nullable=True),
    sa.Column("access", sa.String(10), nullable=False),
    sa.Column("granted_by", sa.Integer, nullable=True),
    sa.Column("at", tz, nullable=False),
)

scope_conditions = sa.Table(
    "scope_conditions",
    access_tables,
    sa.Column("role", NAME, primary_key=True),
    sa.Column("object", NAME, primary_key=True),
    sa.Column("action", sa.String(10), primary_key=True),
    sa.Column("condition", sa.Text, nullable=False),
)

pools = sa.Table(
    "pools",
    access_tables,
    sa.Column("api_name", NAME, primary_key=True),
    sa.Column("object", NAME, nullable=False),
    sa.Column("label", sa.String(200), nullable=False),
    sa.Column("claim_quota", sa.Integer, nullable=False),
    sa.Column("cooldown_days", sa.Integer, nullable=False),
    sa.Column("reclaim_days", sa.Integer, nullable=True),
    # {"zh_CN": {"label": "线索公海"}}, as metadata labels (a0003).
    sa.Column("translations", sa.JSON, nullable=True),
    # The date or datetime field whose age counts as "no follow-up" (cv0001); NULL: updated_at.
    sa.Column("follow_up_field", NAME, nullable=True),
)

# kind: "role" or "team" (members), "admin" (a role administering the pool)
pool_access = sa.Table(
    "pool_access",
    access_tables,
    sa.Column("pool", NAME, primary_key=True),
    sa.Column("kind", sa.String(10), primary_key=True),
    sa.Column("name", NAME, primary_key=True),
)

pool_records = sa.Table(
    "pool_records",
    access_tables,
    sa.Column("object", NAME, primary_key=True),
    sa.Column("record_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
    sa.Column("pool", NAME, nullable=False),
    sa.Column("since", tz, nullable=False),
    sa.Column("returned_by", sa.Integer, nullable=True),
    sa.Column("reason", sa.String(500), nullable=True),
)

# how: "claimed" (counts against the quota) or "assigned" (by a pool admin)
pool_claims = sa.Table(
    "pool_claims",
    access_tables,
    sa.Column("object", NAME, primary_key=True),
    sa.Column("record_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
    sa.Column("pool", NAME, nullable=False),
    sa.Column("user_id", sa.Integer, nullable=False),
    sa.Column("how", sa.String(10), nullable=False),
    sa.Column("at", tz, nullable=False),
)

# kind: "owner" (owner_kind/owner_name: "role", "role_and_subordinates" or
# "team") or "criteria" (condition: rule-language text over the object's
# fields); share_kind/share_name: the recipients, as owner_kind; access:
# "read" or "edit" (edit opens read and update, never delete).
sharing_rules = sa.Table(
    "sharing_rules",
    access_tables,
    sa.Column("api_name", NAME, primary_key=True),
    sa.Column("object", NAME, nullable=False),
    sa.Column("label", sa.String(200), nullable=False),
    sa.Column("kind", sa.String(10), nullable=False),
    sa.Column("owner_kind", sa.String(30), nullable=True),
    sa.Column("owner_name", NAME, nullable=True),
    sa.Column("condition", sa.Text, nullable=True),
    sa.Column("share_kind", sa.String(30), nullable=False),
    sa.Column("share_name", NAME, nullable=False),
    sa.Column("access", sa.String(10), nullable=False),
)

member_managers = sa.Table(
    "member_managers",
    access_tables,
    sa.Column("user_id", sa.Integer, primary_key=True),
    sa.Column("manager_id", sa.Integer, nullable=False),
)

# An e-mailed one-time link (only its SHA-256 is kept) with which an invited user sets their password.
invitations = sa.Table(
    "invitations",
    access_tables,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("user_id", sa.Integer, nullable=False),
    sa.Column("email", sa.String(320), nullable=False),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("invited_by", sa.Integer, nullable=True),
    sa.Column("created_at", tz, nullable=False),
    sa.Column("expires_at", tz, nullable=False),
    sa.Column("used_at", tz, nullable=True),
)
