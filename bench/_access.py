"""A sales organisation for the access benchmarks (not a benchmark itself).

:func:`build_org` adds to a :class:`_common.BenchEnv` tenant, with the
standard roles every tenant starts with:

* ``boss``: holds sales_manager (read scope ``subordinates``) AND
  service_agent (``team``), member of team ``north``;
* ``reps`` sales reps (sales_rep reports to sales_manager: the boss's
  subordinates), ``north`` agents (the boss's team mates), ``south`` agents
  and ``others`` (marketing) whose records the boss must not see;
* a bearer token for the boss.

Users are made the way ``metacrm user create --role`` and
:func:`metacrm.access.provision_member` make them (the password hash is
cheapened, as the tests do: argon2 at its defaults costs ~1 s per user).
:meth:`SalesOrg.owner_sql` spreads bulk-loaded rows over every member, and
:meth:`SalesOrg.share` adds record shares to the boss and to team north.
"""

from __future__ import annotations

import datetime as dt

import _common as c
import sqlalchemy as sa
from argon2 import PasswordHasher

from metacrm.access import provision_member
from metacrm.access.members import assign_roles
from metacrm.access.tables import record_shares, team_members, teams
from metacrm.platform import identity as identities


class SalesOrg:
    def __init__(self, env: c.BenchEnv):
        self.env = env
        self.ids: dict[str, int] = {}
        self.roles: dict[str, list[str]] = {}
        self.teams: dict[str, list[str]] = {"north": [], "south": []}

    @property
    def boss(self) -> int:
        return self.ids["boss"]

    @property
    def owners(self) -> list[int]:
        return sorted(self.ids.values())

    def owner_sql(self) -> str:
        """SQL over the series value ``i`` giving each row one of the members as owner."""
        owners = self.owners
        if owners == list(range(owners[0], owners[0] + len(owners))):
            return f"({owners[0]} + (i % {len(owners)}))"
        cases = " ".join(f"WHEN {k} THEN {uid}" for k, uid in enumerate(owners))
        return f"(CASE i % {len(owners)} {cases} END)"

    def visible_owners(self) -> set[int]:
        """Owners of the records in the boss's read scope (shares aside)."""
        names = {"boss", *self.teams["north"], *(n for n, r in self.roles.items() if "sales_rep" in r)}
        return {self.ids[n] for n in names}

    def share(self, object_api_name: str, record_ids_user: list[int], record_ids_team: list[int]) -> None:
        now = dt.datetime.now(dt.UTC)
        rows = [
            {"object": object_api_name, "record_id": rid, "user_id": self.boss, "team": None, "access": "read"}
            for rid in record_ids_user
        ] + [
            {"object": object_api_name, "record_id": rid, "user_id": None, "team": "north", "access": "edit"}
            for rid in record_ids_team
        ]
        with self.env.binding.begin() as conn:
            conn.execute(record_shares.insert(), [{**r, "granted_by": self.env.user_id, "at": now} for r in rows])

    def token_headers(self, name: str) -> dict:
        identity = identities.identity_for(self.env.instance, self.ids[name], self.env.tenant_slug)
        return {"Authorization": f"Bearer {identities.create_token(self.env.instance, identity, 'bench')[1]}"}


def build_org(env: c.BenchEnv, *, reps: int = 10, north: int = 4, south: int = 10, others: int = 95) -> SalesOrg:
    org = SalesOrg(env)
    instance, binding = env.instance, env.binding
    cheap = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    original, identities._hasher = identities._hasher, cheap
    try:
        people = [("boss", "sales_manager")]
        people += [(f"rep{k}", "sales_rep") for k in range(reps)]
        people += [(f"north{k}", "service_agent") for k in range(north)]
        people += [(f"south{k}", "service_agent") for k in range(south)]
        people += [(f"other{k}", "marketing") for k in range(others)]
        for name, role in people:
            user_id = identities.create_user(
                instance, tenant=env.tenant_slug, email=f"{name}@bench.test", password=c.PASSWORD, role=role
            )
            provision_member(instance, binding, user_id)
            org.ids[name] = user_id
            org.roles[name] = [role]
    finally:
        identities._hasher = original
    org.roles["boss"] = assign_roles(instance, binding, org.boss, ["sales_manager", "service_agent"], env.actor)
    org.teams["north"] = ["boss", *[f"north{k}" for k in range(north)]]
    org.teams["south"] = [f"south{k}" for k in range(south)]
    with binding.begin() as conn:
        for team, members in org.teams.items():
            conn.execute(teams.insert().values(api_name=team, label=team.title()))
            conn.execute(team_members.insert(), [{"team": team, "user_id": org.ids[m]} for m in members])
        count = conn.execute(sa.select(sa.func.count()).select_from(team_members)).scalar_one()
    c.log(f"  org: {len(org.ids)} members, {count} team memberships, boss holds {org.roles['boss']}")
    return org
