"""Collaboration on any record (metacrm/plugins/collaboration) through the
REST API: comments with @mentions that notify only members who can read
the record (a 422 naming the others, nothing written), editing and deleting
one's own, the comments in the record's timeline, and followers told of
changes and comments they may read — never of their own, never after
losing read access. On SQLite and, when configured, PostgreSQL."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from metacrm.app import create_app
from metacrm.platform import identity as identities
from metacrm.plugins.collaboration.comments import mentioned_addresses
from metacrm.plugins.timeline import timeline
from metacrm.rules.automation.tables import notifications
from tests.conftest import BACKENDS, PASSWORD
from tests.data.crm_support import crm_tenant


@pytest.fixture(scope="module", params=BACKENDS)
def crm(request, tmp_path_factory):
    with crm_tenant(tmp_path_factory.mktemp("comments"), request.param) as crm:
        crm.client = create_app(instance=crm.instance).test_client()
        crm.headers = {}
        for name, user_id in crm.users.items():
            identity = identities.identity_for(crm.instance, user_id, "crm")
            crm.headers[name] = {"Authorization": f"Bearer {identities.create_token(crm.instance, identity, 't')[1]}"}
        yield crm


def account_of(crm, owner: str, name: str) -> int:
    return crm.system().create("account", {"name": name}, owner_id=crm.users[owner])["id"]


def notes_of(crm, user: str, record_id: int) -> list[dict]:
    query = sa.select(notifications).where(
        notifications.c.user_id == crm.users[user],
        notifications.c.object == "account",
        notifications.c.record_id == record_id,
    )
    with crm.binding.connect() as conn:
        return [dict(row) for row in conn.execute(query.order_by(notifications.c.id)).mappings()]


def url(record_id: int, tail: str = "comments") -> str:
    return f"/api/v1/data/account/{record_id}/{tail}"


def test_mentions_are_email_addresses_after_an_at_sign():
    text = "Ask @Boss@crm.test and @rep@crm.test, not mail@crm.test; again @boss@crm.test."
    assert mentioned_addresses(text) == ["boss@crm.test", "rep@crm.test"]


def test_a_mention_notifies_a_member_who_can_read_the_record(crm):
    record_id = account_of(crm, "rep", "Mention Co")
    posted = crm.client.post(url(record_id), json={"body": "@boss@crm.test please look"}, headers=crm.headers["rep"])
    assert posted.status_code == 201, posted.json
    assert posted.json["mentions"] == [{"id": crm.users["boss"], "email": "boss@crm.test", "name": "Boss"}]
    assert posted.json["mine"] is True
    [note] = notes_of(crm, "boss", record_id)
    assert note["message"] == "Rep mentioned you on Account Mention Co: @boss@crm.test please look"
    assert note["rule"] == "collaboration:mention"
    listed = crm.client.get(url(record_id), headers=crm.headers["boss"]).json["data"]
    assert [c["body"] for c in listed] == ["@boss@crm.test please look"]
    assert listed[0]["mine"] is False


def test_a_mention_of_someone_who_cannot_read_the_record_is_refused_and_nothing_written(crm):
    record_id = account_of(crm, "rep", "Private Co")
    # "other" is a rep too: their scope is their own records. An unknown address gets the same answer.
    for address in ("other@crm.test", "nobody@crm.test"):
        refused = crm.client.post(url(record_id), json={"body": f"hi @{address}"}, headers=crm.headers["rep"])
        assert refused.status_code == 422
        assert refused.json["error"]["message"] == f"cannot mention {address}: not a member who can read this record"
        assert refused.json["error"]["details"]["fields"]["body"] == [f"{address} cannot read this record"]
    assert crm.client.get(url(record_id), headers=crm.headers["rep"]).json["data"] == []
    assert notes_of(crm, "other", record_id) == []


def test_comments_need_read_access_to_the_record(crm):
    record_id = account_of(crm, "rep", "Closed Co")
    for method in ("get", "post"):
        answer = getattr(crm.client, method)(url(record_id), json={"body": "x"}, headers=crm.headers["other"])
        assert answer.status_code == 404
    assert crm.client.put(url(record_id, "follow"), headers=crm.headers["other"]).status_code == 404
    assert crm.client.get(url(record_id, "mentions"), headers=crm.headers["other"]).status_code == 404
    empty = crm.client.post(url(record_id), json={"body": "  "}, headers=crm.headers["rep"])
    assert empty.status_code == 422 and empty.json["error"]["details"]["fields"] == {"body": ["write something"]}


def test_only_the_author_edits_and_deletes_and_the_timeline_shows_comments(crm):
    record_id = account_of(crm, "rep", "Edit Co")
    comment = crm.client.post(url(record_id), json={"body": "first"}, headers=crm.headers["rep"]).json
    path = url(record_id, f"comments/{comment['id']}")
    assert crm.client.patch(path, json={"body": "not mine"}, headers=crm.headers["boss"]).status_code == 403
    edited = crm.client.patch(path, json={"body": "second, for @boss@crm.test"}, headers=crm.headers["rep"])
    assert edited.status_code == 200 and edited.json["edited_at"] is not None
    assert [n["rule"] for n in notes_of(crm, "boss", record_id)] == ["collaboration:mention"]

    stream = timeline(crm.store("rep"), "account", record_id, kinds=("comment",))
    assert [(e.kind, e.comment["body"]) for e in stream.entries] == [("comment", "second, for @boss@crm.test")]
    everything = timeline(crm.store("rep"), "account", record_id)
    assert {e.kind for e in everything.entries} == {"comment", "change"}

    assert crm.client.delete(path, headers=crm.headers["boss"]).status_code == 403
    assert crm.client.delete(path, headers=crm.headers["rep"]).status_code == 204
    assert crm.client.get(url(record_id), headers=crm.headers["rep"]).json["data"] == []


def test_the_typeahead_offers_only_members_who_can_read_the_record(crm):
    record_id = account_of(crm, "rep", "Typeahead Co")
    offered = crm.client.get(url(record_id, "mentions"), headers=crm.headers["rep"]).json["data"]
    assert [m["email"] for m in offered] == ["boss@crm.test", "rep@crm.test"]
    assert crm.client.get(url(record_id, "mentions") + "?q=bo", headers=crm.headers["rep"]).json["data"] == [
        {"email": "boss@crm.test", "name": "Boss"}
    ]


def test_followers_hear_of_changes_they_may_read_but_not_their_own(crm):
    record_id = account_of(crm, "rep", "Follow Co")
    followed = crm.client.put(url(record_id, "follow"), headers=crm.headers["boss"])
    assert followed.json == {"following": True, "followers": 1}
    assert crm.client.put(url(record_id, "follow"), headers=crm.headers["boss"]).json["followers"] == 1
    rep, boss = crm.store("rep"), crm.store("boss")

    rep.update("account", record_id, {"website": "https://follow.test"})
    [changed] = notes_of(crm, "boss", record_id)
    assert changed["message"] == "Rep changed Account Follow Co: Website"
    boss.update("account", record_id, {"phone": "+1 555 0100"})  # their own change: no news
    crm.client.post(url(record_id), json={"body": "done"}, headers=crm.headers["rep"])
    assert [n["rule"] for n in notes_of(crm, "boss", record_id)] == ["collaboration:change", "collaboration:comment"]

    # A field hidden from the manager: a change of it alone tells them nothing.
    everything = {"create": True, "read": "all", "update": "all", "delete": "own"}
    crm.access("sales_manager", "account", {**everything, "fields": {"phone": "hidden"}})
    rep.update("account", record_id, {"phone": "+1 555 0199"})
    rep.update("account", record_id, {"phone": "+1 555 0142", "employees": 12})
    assert notes_of(crm, "boss", record_id)[-1]["message"] == "Rep changed Account Follow Co: Employees"
    assert len(notes_of(crm, "boss", record_id)) == 3

    # No longer able to read the record: no news at all.
    crm.hide_object("sales_manager", "account")
    rep.update("account", record_id, {"employees": 13})
    crm.client.post(url(record_id), json={"body": "still there?"}, headers=crm.headers["rep"])
    assert len(notes_of(crm, "boss", record_id)) == 3

    crm.access("sales_manager", "account", everything)
    unfollowed = crm.client.delete(url(record_id, "follow"), headers=crm.headers["boss"])
    assert unfollowed.json == {"following": False, "followers": 0}
    rep.update("account", record_id, {"employees": 14})
    assert len(notes_of(crm, "boss", record_id)) == 3


def test_the_record_page_posts_comments_and_toggles_following(crm):
    record_id = account_of(crm, "rep", "Screen Co")
    client = create_app(instance=crm.instance).test_client()
    token = client.get("/login").get_data(as_text=True).split('name="csrf_token" value="')[1].split('"')[0]
    client.post("/login", data={"email": "rep@crm.test", "password": PASSWORD, "tenant": "crm", "csrf_token": token})
    page = client.get(f"/o/account/{record_id}").get_data(as_text=True)
    hx = {"HX-Request": "true", "X-CSRFToken": page.split('name="csrf_token" value="')[1].split('"')[0]}

    refused = client.post(f"/o/account/{record_id}/comments", data={"body": "@other@crm.test <b>"}, headers=hx)
    assert 'role="alert">other@crm.test cannot read this record, so they cannot be mentioned.</p>' in refused.text
    posted = client.post(f"/o/account/{record_id}/comments", data={"body": "see https://x.test/a <b>"}, headers=hx)
    assert posted.headers["HX-Trigger"] == '{"toast": "Comment added."}'
    assert 'see <a href="https://x.test/a" rel="nofollow noopener">https://x.test/a</a> &lt;b&gt;' in posted.text

    followed = client.post(f"/o/account/{record_id}/follow", data={"following": "1"}, headers=hx)
    assert 'data-following="true"' in followed.text and 'aria-pressed="true"' in followed.text
    only_comments = client.get(f"/o/account/{record_id}/timeline?kind=comment", headers=hx).text
    assert only_comments.count('data-kind="comment"') == 1 and 'data-kind="change"' not in only_comments
