"""One ``$User``: the guard of the signed-in user answers it, and a record
scope, a validation rule and an automation condition all read the same
``$User.Team`` (the first of the user's teams, by name)."""

from __future__ import annotations

from metacrm.access.tables import team_members, teams
from metacrm.metadata.guard import SystemGuard, UserGlobals
from metacrm.metadata.model import metadata_service
from tests.access.conftest import ACTOR

TEAM_ONLY = "note = $User.Team"


def _second_team(acl, user: str) -> None:
    """``user`` also joins team ``zulu`` (after ``north`` by name)."""
    with acl.binding.begin() as conn:
        conn.execute(teams.insert().values(api_name="zulu", label="Zulu"))
        conn.execute(team_members.insert().values(team="zulu", user_id=acl.ids[user]))


def test_the_guard_answers_the_user_with_all_teams(acl):
    _second_team(acl, "agent_a")
    user = acl.guard("agent_a").user_globals()
    assert (user.id, user.team, user.teams, user.locale) == (acl.ids["agent_a"], "north", ("north", "zulu"), None)
    assert acl.guard("agent_c").user_globals().teams == ("south",)
    assert acl.guard("rep_a").user_globals().team is None
    assert SystemGuard().user_globals() == UserGlobals()
    assert SystemGuard(acting_for=acl.guard("agent_c")).user_globals().team == "south"


def test_user_team_means_the_same_in_a_scope_a_validation_rule_and_an_automation(acl):
    _second_team(acl, "agent_a")
    client, admin = acl.client(), acl.headers("admin")
    entry = {"create": True, "read": {"condition": TEAM_ONLY}, "update": {"condition": TEAM_ONLY}, "delete": "none"}
    response = client.put("/api/v1/access/roles/service_agent/objects/ticket", json=entry, headers=admin)
    assert response.status_code == 200, response.json
    with metadata_service(acl.instance, acl.binding, ACTOR).change("team rules") as tx:
        tx.put_validation_rule(
            "ticket",
            {
                "api_name": "own_team",
                "condition": "NOT ISBLANK(note) AND note != $User.Team",
                "message": "names another team",
                "field": "note",
            },
        )
        tx.put_automation(
            "ticket", {"api_name": "mark", "rule": 'WHEN created IF note = $User.Team THEN SET name = "for " & note'}
        )

    def create(user: str, note: str):
        return client.post("/api/v1/data/ticket", json={"name": "t", "note": note}, headers=acl.headers(user))

    refused = create("agent_a", "zulu")  # a team of agent_a's, but not $User.Team
    assert refused.status_code == 422
    assert refused.json["error"]["details"]["fields"] == {"note": ["names another team"]}
    north = create("agent_a", "north")
    assert north.status_code == 201, north.json
    assert north.json["name"] == "for north"  # the automation saw the same team
    south = create("agent_c", "south")
    assert south.json["name"] == "for south"
    for user, team, other in (("agent_a", "north", south), ("agent_c", "south", north)):
        listed = client.get("/api/v1/data/ticket?limit=200", headers=acl.headers(user)).json["data"]
        assert {row["note"] for row in listed} == {team}
        assert client.get(f"/api/v1/data/ticket/{other.json['id']}", headers=acl.headers(user)).status_code == 404


def test_user_teams_lists_every_team_in_sql_and_in_python(acl):
    _second_team(acl, "agent_a")
    client, admin = acl.client(), acl.headers("admin")
    zulu = 'INCLUDES($User.Teams, "zulu")'
    entry = {"create": True, "read": {"condition": zulu}, "update": {"condition": zulu}, "delete": "none"}
    response = client.put("/api/v1/access/roles/service_agent/objects/ticket", json=entry, headers=admin)
    assert response.status_code == 200, response.json
    with metadata_service(acl.instance, acl.binding, ACTOR).change("zulu rule") as tx:
        tx.put_validation_rule(
            "ticket",
            {"api_name": "zulu_note", "condition": f"{zulu} AND ISBLANK(note)", "message": "needs a note"},
        )
    tickets = [r for r in acl.records if r.object == "ticket"]
    listed = client.get("/api/v1/data/ticket?limit=200", headers=acl.headers("agent_a")).json["data"]
    assert len(listed) == len(tickets)  # agent_a is in zulu: the scope is every ticket
    assert client.get("/api/v1/data/ticket?limit=200", headers=acl.headers("agent_b")).json["data"] == []
    refused = client.post("/api/v1/data/ticket", json={"name": "t"}, headers=acl.headers("agent_a"))
    assert refused.status_code == 422 and refused.json["error"]["details"]["fields"] == {"$": ["needs a note"]}
    # agent_b is not in zulu: the rule lets the ticket be written (agent_b's scope then hides it).
    client.post("/api/v1/data/ticket", json={"name": "by b"}, headers=acl.headers("agent_b"))
    written = acl.system_store().query("ticket", limit=200).data
    assert [row["owner_id"] for row in written if row["name"] == "by b"] == [acl.ids["agent_b"]]
