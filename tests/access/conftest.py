"""A sales-and-service organisation to test the access layer against.

Tenant ``acme`` (and an empty ``globex`` with its own admin) with:

* users, each holding one standard role (provisioned as ``metacrm user
  create --role`` plus :func:`metacrm.access.provision_member` would):
  admin, manager (sales_manager, above the reps), rep_a and rep_b
  (sales_rep), agent_a and agent_b (service_agent, team ``north``), agent_c
  (service_agent, team ``south``), marketer, reader (read_only), nobody (no role);
* objects ``deal`` (name, amount, note, secret; search on name and secret)
  and ``ticket`` (name, note), two records each per owner;
* shares: rep_b's first deal read-shared with rep_a, agent_c's first deal
  edit-shared with team north, marketer's second deal edit-shared with rep_a.

:func:`expected` is an oracle written from the rules in docs/access.md,
independent of the SQL the guard builds.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from argon2 import PasswordHasher

from metacrm.access import provision_member
from metacrm.access.guard import PolicyGuard, SystemGuard
from metacrm.access.members import roles_of_member
from metacrm.access.policy import policy_for
from metacrm.access.tables import record_shares, team_members, teams
from metacrm.metadata.changes import MetadataService
from metacrm.metadata.model import field_types, model_for
from metacrm.metadata.store import RecordStore
from metacrm.platform import audit, tenancy
from metacrm.platform import identity as identities
from metacrm.platform.clock import utcnow
from tests.conftest import PASSWORD

ACTOR = audit.Actor(email="tester@acme.test")
# Sign-ins here use tokens only; argon2 at its defaults would cost a second per user.
_CHEAP_HASH = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash(PASSWORD)

USERS = {
    "admin": "admin",
    "manager": "sales_manager",
    "rep_a": "sales_rep",
    "rep_b": "sales_rep",
    "agent_a": "service_agent",
    "agent_b": "service_agent",
    "agent_c": "service_agent",
    "marketer": "marketing",
    "reader": "read_only",
    "nobody": None,
}
TEAMS = {"north": ["agent_a", "agent_b"], "south": ["agent_c"]}
PARENT = {"sales_rep": "sales_manager"}
OBJECTS = ("deal", "ticket")

# The standard roles' defaults, as docs/access.md states them (the oracle's copy).
STANDARD = {
    "admin": {"create": True, "read": "all", "update": "all", "delete": "all"},
    "sales_manager": {"create": True, "read": "subordinates", "update": "subordinates", "delete": "own"},
    "sales_rep": {"create": True, "read": "own", "update": "own", "delete": "own"},
    "service_agent": {"create": True, "read": "team", "update": "team", "delete": "none"},
    "marketing": {"create": True, "read": "all", "update": "own", "delete": "own"},
    "read_only": {"create": False, "read": "all", "update": "none", "delete": "none"},
}


@dataclass
class Record:
    object: str
    id: int
    owner: str
    name: str
    secret: str | None = None


@dataclass
class AccessWorld:
    instance: object
    app: object
    ids: dict[str, int] = field(default_factory=dict)
    tokens: dict[str, dict] = field(default_factory=dict)
    records: list[Record] = field(default_factory=list)
    shares: list[tuple[str, int, str | None, str | None, str]] = field(default_factory=list)

    @property
    def binding(self):
        return self.instance.db.bind("acme")

    def name_of(self, user_id: int) -> str:
        return {v: k for k, v in self.ids.items()}[user_id]

    def headers(self, user: str) -> dict:
        return self.tokens[user]

    def client(self):
        return self.app.test_client()

    def system_store(self) -> RecordStore:
        binding = self.binding
        return RecordStore(binding, model_for(self.instance, binding), SystemGuard(), ACTOR, field_types(self.instance))

    def guard(self, user: str) -> PolicyGuard:
        binding = self.binding
        roles = roles_of_member(binding, self.ids[user], False, None)
        model = model_for(self.instance, binding)
        return PolicyGuard(
            policy_for(self.instance, binding, model.revision), self.ids[user], roles, model=model, binding=binding
        )

    def store(self, user: str) -> RecordStore:
        binding = self.binding
        actor = audit.Actor(user_id=self.ids[user], email=f"{user}@acme.test")
        return RecordStore(
            binding, model_for(self.instance, binding), self.guard(user), actor, field_types(self.instance)
        )

    def record(self, name: str) -> Record:
        return next(r for r in self.records if r.name == name)


def build_world(instance, app, monkeypatch) -> AccessWorld:
    monkeypatch.setattr(identities, "hash_password", lambda _password: _CHEAP_HASH)
    world = AccessWorld(instance, app)
    tenancy.create_tenant(instance, "acme", "Acme")
    tenancy.create_tenant(instance, "globex", "Globex")
    binding = world.binding
    for user, role in USERS.items():
        user_id = identities.create_user(
            instance, tenant="acme", email=f"{user}@acme.test", password=PASSWORD, role=role, is_admin=user == "admin"
        )
        provision_member(instance, binding, user_id)
        world.ids[user] = user_id
    identities.create_user(instance, tenant="globex", email="admin@globex.test", password=PASSWORD, is_admin=True)
    for user, user_id in world.ids.items():
        identity = identities.identity_for(instance, user_id, "acme")
        world.tokens[user] = {"Authorization": f"Bearer {identities.create_token(instance, identity, 't')[1]}"}
    globex_admin = identities.identity_for(instance, identities.list_users(instance, "globex")[0]["id"], "globex")
    world.tokens["globex_admin"] = {
        "Authorization": f"Bearer {identities.create_token(instance, globex_admin, 't')[1]}"
    }

    registry = field_types(instance)
    for slug in ("acme", "globex"):
        with MetadataService(instance.db.bind(slug), registry, ACTOR).change("objects") as tx:
            tx.create_object(
                {"api_name": "deal", "label": "Deal", "search_fields": ["name", "secret"]},
                [
                    {"api_name": "name", "label": "Name", "type": "text", "required": True},
                    {"api_name": "amount", "label": "Amount", "type": "integer"},
                    {"api_name": "note", "label": "Note", "type": "text"},
                    {"api_name": "secret", "label": "Secret", "type": "text"},
                ],
            )
            tx.create_object(
                {"api_name": "ticket", "label": "Ticket"},
                [
                    {"api_name": "name", "label": "Name", "type": "text", "required": True},
                    {"api_name": "note", "label": "Note", "type": "text"},
                ],
            )
    store = world.system_store()
    owners = [u for u in USERS if u != "nobody"]
    for obj in OBJECTS:
        rows, owner_ids, names = [], [], []
        for owner in owners:
            for i in range(2):
                name = f"{obj}-{owner}-{i}"
                row = {"name": name, "note": "n"}
                if obj == "deal":
                    row.update(amount=100 * i, secret=f"s3cret-{owner}-{i}")
                rows.append(row)
                owner_ids.append(world.ids[owner])
                names.append((owner, name, row.get("secret")))
        created = store.bulk_create(obj, rows, owner_ids=owner_ids)
        for (owner, name, secret), record in zip(names, created, strict=True):
            world.records.append(Record(obj, record["id"], owner, name, secret))
    # A globex deal with the same id as acme's first one.
    RecordStore(
        instance.db.bind("globex"),
        model_for(instance, instance.db.bind("globex")),
        SystemGuard(),
        ACTOR,
        registry,
    ).bulk_create("deal", [{"name": "globex-secret-deal", "secret": "globex"}])

    now = utcnow()
    with binding.begin() as conn:
        for team, members in TEAMS.items():
            conn.execute(teams.insert().values(api_name=team, label=team.title()))
            conn.execute(team_members.insert(), [{"team": team, "user_id": world.ids[m]} for m in members])
        for record_name, user, team, access in (
            ("deal-rep_b-0", "rep_a", None, "read"),
            ("deal-agent_c-0", None, "north", "edit"),
            ("deal-marketer-1", "rep_a", None, "edit"),
        ):
            record = world.record(record_name)
            conn.execute(
                record_shares.insert().values(
                    object="deal",
                    record_id=record.id,
                    user_id=world.ids[user] if user else None,
                    team=team,
                    access=access,
                    granted_by=world.ids["admin"],
                    at=now,
                )
            )
            world.shares.append((record_name, record.id, user, team, access))
    return world


@pytest.fixture
def acl(instance, app, monkeypatch) -> AccessWorld:
    return build_world(instance, app, monkeypatch)


# -- the oracle -------------------------------------------------------------------------------------


def _in_scope(scope: str, user: str, owner: str, below: set[str]) -> bool:
    if scope == "all":
        return True
    if scope == "none":
        return False
    if owner == user:
        return True
    if scope == "team":
        return any(user in members and owner in members for members in TEAMS.values())
    if scope == "subordinates":
        return USERS.get(owner) in below
    return False


def roles_below(role: str | None) -> set[str]:
    out, changed = set(), True
    while changed:
        changed = False
        for child, parent in PARENT.items():
            if (parent == role or parent in out) and child not in out:
                out.add(child)
                changed = True
    return out


def expected(
    world: AccessWorld,
    user: str,
    record: Record,
    action: str,
    *,
    roles: dict[str, dict] | None = None,
    org_wide: str = "private",
) -> str:
    """ "forbidden" (no object permission), "in" or "out" of scope."""
    role = USERS[user]
    table = roles or STANDARD
    if role is None or table[role][action] in ("none", False):
        return "forbidden"
    scope = table[role][action]
    if _in_scope(scope, user, record.owner, roles_below(role)):
        return "in"
    if action == "read" and org_wide in ("public_read", "public_read_write"):
        return "in"
    if action == "update" and org_wide == "public_read_write":
        return "in"
    opens = {"read": ("read", "edit"), "update": ("edit",)}.get(action, ())
    for _name, record_id, share_user, share_team, access in world.shares:
        if record.object != "deal" or record_id != record.id or access not in opens:
            continue
        if share_user == user or (share_team and user in TEAMS[share_team]):
            return "in"
    return "out"
