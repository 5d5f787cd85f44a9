"""A lookup is no existence or name oracle (issue #15): linking to a record
outside the user's read scope fails exactly like linking to a missing one."""

from __future__ import annotations

from metacrm.metadata.changes import MetadataService
from metacrm.metadata.model import field_types
from tests.access.conftest import ACTOR

DATA = "/api/v1/data"


def test_linking_to_a_record_outside_the_read_scope_fails_exactly_like_a_missing_one(acl):
    """rep_a reads only their own deals: naming rep_b's deal in a lookup must
    not reveal that it exists, nor its name."""
    with MetadataService(acl.binding, field_types(acl.instance), ACTOR).change("lookup") as tx:
        tx.add_field("ticket", {"api_name": "deal", "label": "Deal", "type": "lookup", "options": {"target": "deal"}})
    client, headers = acl.client(), acl.headers("rep_a")
    hidden, own = acl.record("deal-rep_b-1").id, acl.record("deal-rep_a-0").id
    refused = client.post(f"{DATA}/ticket", json={"name": "t", "deal": hidden}, headers=headers)
    missing = client.post(f"{DATA}/ticket", json={"name": "t", "deal": 999999}, headers=headers)
    assert refused.status_code == missing.status_code == 422
    assert refused.json["error"]["details"] == {"fields": {"deal": [f"no deal {hidden}"]}}
    assert missing.json["error"]["details"] == {"fields": {"deal": ["no deal 999999"]}}
    created = client.post(f"{DATA}/ticket", json={"name": "t", "deal": own}, headers=headers)
    assert created.status_code == 201 and created.json["deal"]["id"] == own
    # A record already linked to a deal the editor can't read keeps its link when edited.
    linked = acl.system_store().create("ticket", {"name": "mine", "deal": hidden}, owner_id=acl.ids["rep_a"])
    edited = client.patch(f"{DATA}/ticket/{linked['id']}", json={"name": "renamed", "deal": hidden}, headers=headers)
    assert edited.status_code == 200, edited.json
