"""Approvals (审批): processes as metadata, submit / approve / reject /
recall, the record lock on every save path, managers, roles and named users
as approvers, WHEN approved / WHEN rejected automations, notifications,
the timeline and the REST API; on both databases.

One crm_core tenant per database (module scope): ``rep`` (sales rep)
reports to ``boss`` (sales manager, reads their subordinates' records);
``other`` (sales rep) cannot read rep's deals; ``fin1`` and ``fin2`` are
admins (finance approvers of the second step)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from metacrm.access.members import provision_member, set_manager
from metacrm.app import create_app
from metacrm.data import approvals
from metacrm.data.approvals.tables import approval_tasks
from metacrm.metadata.model import metadata_service
from metacrm.platform import audit
from metacrm.platform import identity as identities
from metacrm.platform.errors import Conflict, Forbidden, NotFound, ValidationFailed
from metacrm.platform.tables import audit_log
from metacrm.plugins.timeline import timeline
from metacrm.rules.automation.tables import automation_runs, notifications
from tests.conftest import BACKENDS, PASSWORD
from tests.data.crm_support import crm_tenant

PROCESS = {
    "api_name": "big_deal",
    "label": "Big deal",
    "translations": {"zh_CN": {"label": "大额商机"}},
    "entry_condition": "amount > 10000",
    "status_field": "next_step",
    "status_values": {"pending": "Awaiting approval", "approved": "Approved", "rejected": "Rejected"},
    "unlocked_fields": ["description"],
    "steps": [
        {"name": "manager", "label": "Owner's manager", "approvers": [{"type": "owner_manager"}]},
        {
            "name": "finance",
            "label": "Finance",
            "mode": "all",
            "condition": "amount > 50000",
            "approvers": [{"type": "user", "user": "fin1@crm.test"}, {"type": "role", "name": "finance"}],
        },
    ],
}
AUTOMATIONS = [
    {"api_name": "on_approved", "rule": 'WHEN approved THEN SET competitor = "cleared"'},
    {"api_name": "on_rejected", "rule": 'WHEN rejected THEN SET competitor = "blocked"'},
]

# An automation of another record (an activity) writing to its deal.
TOUCH_DEAL = {"api_name": "touch_deal", "rule": 'WHEN created THEN UPDATE opportunity SET next_step = "touched"'}


@pytest.fixture(scope="module", params=BACKENDS)
def crm(request, tmp_path_factory):
    with crm_tenant(tmp_path_factory.mktemp("approvals"), request.param) as crm:
        for name in ("fin1", "fin2"):
            user_id = identities.create_user(
                crm.instance, tenant="crm", email=f"{name}@crm.test", password=PASSWORD, role="admin"
            )
            provision_member(crm.instance, crm.binding, user_id, actor=audit.SYSTEM)
            crm.users[name] = user_id
        set_manager(crm.instance, crm.binding, crm.users["rep"], crm.users["boss"], audit.SYSTEM)
        with crm.binding.begin() as conn:
            from metacrm.access.tables import roles, user_roles

            conn.execute(roles.insert().values(api_name="finance", label="Finance"))
            conn.execute(user_roles.insert().values(user_id=crm.users["fin2"], role="finance"))
        with metadata_service(crm.instance, crm.binding, audit.SYSTEM).change("approvals") as tx:
            tx.put("approval_process", "opportunity", PROCESS)
            for rule in AUTOMATIONS:
                tx.put_automation("opportunity", rule)
            tx.put_automation("activity", TOUCH_DEAL)
        yield crm


def deal(crm, amount: int, name: str = "Deal") -> int:
    record = crm.store("rep").create(
        "opportunity", {"name": name, "stage": "proposal", "amount": str(amount), "close_date": "2030-01-31"}
    )
    return record["id"]


def fields_of(crm, record_id: int, *names: str) -> dict:
    record = crm.system().get("opportunity", record_id, fields=list(names))
    return {n: record[n] for n in names}


def notes_for(crm, user: str, record_id: int) -> list[str]:
    with crm.binding.connect() as conn:
        return list(
            conn.execute(
                sa.select(notifications.c.message).where(
                    notifications.c.user_id == crm.users[user], notifications.c.record_id == record_id
                )
            ).scalars()
        )


def test_conditions_are_type_checked_when_a_process_is_saved(crm):
    service = metadata_service(crm.instance, crm.binding, audit.SYSTEM)
    bad = {**PROCESS, "api_name": "typo", "entry_condition": "amout > 10000"}
    with pytest.raises(ValidationFailed) as caught, service.change("typo") as tx:
        tx.put("approval_process", "opportunity", bad)
    assert "line 1, column 1" in str(caught.value.details) and "entry_condition" in str(caught.value.details)
    steps = [{**PROCESS["steps"][0], "condition": "amount >"}]
    with pytest.raises(ValidationFailed) as caught, service.change("syntax") as tx:
        tx.put("approval_process", "opportunity", {**PROCESS, "api_name": "broken", "steps": steps})
    assert "steps.0.condition" in str(caught.value.details)
    with pytest.raises(ValidationFailed) as caught, service.change("no name") as tx:
        tx.put(
            "approval_process",
            "opportunity",
            {**PROCESS, "api_name": "nameless", "steps": [{"name": "x", "approvers": [{"type": "role"}]}]},
        )
    assert "steps.0.approvers.0.name" in str(caught.value.details)


def test_submit_needs_the_entry_condition_and_the_right_to_update(crm):
    small = deal(crm, 500)
    with pytest.raises(ValidationFailed) as caught:
        approvals.submit(crm.store("rep"), "opportunity", small)
    assert caught.value.details["fields"] == {"process": ["the entry condition does not hold for this record"]}
    big = deal(crm, 20_000)
    with pytest.raises(NotFound):  # other cannot even read rep's deal
        approvals.submit(crm.store("other"), "opportunity", big)
    with pytest.raises(ValidationFailed) as caught:
        approvals.submit(crm.store("rep"), "opportunity", big, process="nope")
    assert "process" in caught.value.details["fields"]
    with pytest.raises(ValidationFailed) as caught:
        approvals.submit(crm.store("rep"), "opportunity", big, comment=["not", "text"])
    assert caught.value.details["fields"] == {"comment": ["must be text"]}


def test_the_owners_manager_approves_and_the_record_is_locked_until_then(crm):
    record_id = deal(crm, 20_000, "Locked deal")
    rep = crm.store("rep")
    request = approvals.submit(rep, "opportunity", record_id, comment="Please")
    assert (request["status"], request["step"], request["process_label"]) == ("pending", 1, "Big deal")
    assert fields_of(crm, record_id, "next_step") == {"next_step": "Awaiting approval"}
    assert notes_for(crm, "boss", record_id) == ["Approval requested: Opportunity Locked deal (Big deal, step 1)"]
    with pytest.raises(Conflict):
        approvals.submit(rep, "opportunity", record_id)

    # Locked on every path: a single edit, a bulk edit, a delete, the system itself.
    with pytest.raises(ValidationFailed) as caught:
        rep.update("opportunity", record_id, {"amount": "9000"})
    assert caught.value.code == "record_locked" and "Big deal" in caught.value.message
    with pytest.raises(ValidationFailed) as caught:
        rep.bulk_update("opportunity", [{"id": record_id, "amount": "1"}, {"id": deal(crm, 5), "amount": "2"}])
    assert "locked" in str(caught.value.details)
    with pytest.raises(ValidationFailed):
        rep.delete("opportunity", record_id)
    with pytest.raises(ValidationFailed):
        crm.system().update("opportunity", record_id, {"next_step": "sneaky"})
    rep.update("opportunity", record_id, {"description": "Call notes"})  # an unlocked field
    values = {"subject": "Call", "activity_type": "call", "status": "completed", "opportunity": record_id}
    crm.system().create("activity", values)  # its automation fails alone, logged; the activity is saved
    with crm.binding.connect() as conn:
        run = conn.execute(
            sa.select(automation_runs.c.result, automation_runs.c.error)
            .where(automation_runs.c.rule == "activity.touch_deal")
            .order_by(automation_runs.c.id.desc())
        ).first()
    assert run.result == "error" and "waits for approval" in run.error

    inbox = approvals.my_pending(crm.store("boss"))
    assert [(i["id"], i["record_name"]) for i in inbox] == [(request["id"], "Locked deal")]
    with pytest.raises(Forbidden):  # the submitter is no approver
        approvals.decide(rep, request["id"], "approve")
    done = approvals.decide(crm.store("boss"), request["id"], "approve", comment="Fine by me")
    assert done["status"] == "approved"  # the finance step's condition (> 50000) does not hold: skipped
    assert fields_of(crm, record_id, "next_step", "competitor") == {"next_step": "Approved", "competitor": "cleared"}
    assert notes_for(crm, "rep", record_id) == ["Approved: Opportunity Locked deal (Big deal)"]
    rep.update("opportunity", record_id, {"amount": "21000"})  # unlocked

    history = approvals.record_approvals(rep, "opportunity", record_id)
    actions = [h["action"] for h in history["data"][0]["history"]]
    assert actions == ["submitted", "step_opened", "approved", "skipped", "completed"]
    assert history["data"][0]["approvers"][0]["comment"] == "Fine by me"
    stream = timeline(rep, "opportunity", record_id, kinds=("approval",))
    assert [(e.action, e.approval["comment"]) for e in stream.entries] == [
        ("approved", "Fine by me"),
        ("submitted", "Please"),
    ]


def test_all_mode_waits_for_every_approver_of_the_step(crm):
    record_id = deal(crm, 80_000, "Huge deal")
    request = approvals.submit(crm.store("rep"), "opportunity", record_id)
    approvals.decide(crm.store("boss"), request["id"], "approve")
    with crm.binding.connect() as conn:
        waiting = conn.execute(
            sa.select(approval_tasks.c.user_id).where(
                approval_tasks.c.request_id == request["id"], approval_tasks.c.status == "pending"
            )
        ).scalars()
        assert sorted(waiting) == sorted([crm.users["fin1"], crm.users["fin2"]])
    assert approvals.decide(crm.store("fin1"), request["id"], "approve")["status"] == "pending"
    assert approvals.pending_count(crm.binding, crm.users["fin1"]) == 0
    assert approvals.decide(crm.store("fin2"), request["id"], "approve")["status"] == "approved"


def test_reject_and_recall(crm):
    record_id = deal(crm, 30_000, "Rejected deal")
    request = approvals.submit(crm.store("rep"), "opportunity", record_id)
    with pytest.raises(NotFound):  # may not read the record: the request does not exist for them
        approvals.decide(crm.store("other"), request["id"], "reject")
    with pytest.raises(Forbidden):
        approvals.recall(crm.store("boss"), request["id"])
    done = approvals.decide(crm.store("boss"), request["id"], "reject", comment="Too cheap")
    assert done["status"] == "rejected"
    assert fields_of(crm, record_id, "next_step", "competitor") == {"next_step": "Rejected", "competitor": "blocked"}
    assert notes_for(crm, "rep", record_id) == ["Rejected: Opportunity Rejected deal (Big deal)"]
    with pytest.raises(Conflict):
        approvals.decide(crm.store("boss"), request["id"], "approve")

    again = approvals.submit(crm.store("rep"), "opportunity", record_id)
    recalled = approvals.recall(crm.store("rep"), again["id"], comment="Wrong amount")
    assert recalled["status"] == "recalled"
    assert approvals.my_pending(crm.store("boss")) == []
    crm.store("rep").update("opportunity", record_id, {"amount": "31000"})  # unlocked
    with crm.binding.connect() as conn:
        logged = conn.execute(
            sa.select(audit_log.c.action)
            .where(audit_log.c.record_id == str(record_id), audit_log.c.action.like("approval.%"))
            .order_by(audit_log.c.id)
        ).scalars()
        assert list(logged) == ["approval.submitted", "approval.rejected", "approval.submitted", "approval.recalled"]


def test_an_approver_who_cannot_read_the_record_is_left_out(crm):
    service = metadata_service(crm.instance, crm.binding, audit.SYSTEM)
    blind = {
        "api_name": "blind",
        "entry_condition": "amount > 1000000",
        "steps": [{"name": "peer", "approvers": [{"type": "user", "user": "other@crm.test"}]}],
    }
    with service.change("blind") as tx:
        tx.put("approval_process", "opportunity", blind)
    try:
        record_id = deal(crm, 2_000_000)
        with pytest.raises(ValidationFailed) as caught:
            approvals.submit(crm.store("rep"), "opportunity", record_id, process="blind")
        assert caught.value.details["fields"] == {"steps.0.approvers": ["no approver who can read the record"]}
        assert approvals.record_approvals(crm.store("rep"), "opportunity", record_id)["pending"] is None
    finally:
        with service.change("drop blind") as tx:
            tx.delete("approval_process", "opportunity", "blind")


def test_the_rest_api(crm):
    app = create_app(instance=crm.instance)
    client = app.test_client()

    def bearer(name):
        identity = identities.identity_for(crm.instance, crm.users[name], "crm")
        return {"Authorization": f"Bearer {identities.create_token(crm.instance, identity, 'test')[1]}"}

    rep, boss = bearer("rep"), bearer("boss")
    record_id = deal(crm, 40_000, "API deal")
    url = f"/api/v1/data/opportunity/{record_id}/approvals"
    bad = client.post(url, json={"comment": 5}, headers=rep)
    assert bad.status_code == 422 and bad.json["error"]["details"]["fields"] == {"comment": ["must be text"]}
    created = client.post(url, headers=rep)
    assert created.status_code == 201, created.json
    request_id = created.json["id"]
    locked = client.patch(f"/api/v1/data/opportunity/{record_id}", json={"amount": "1"}, headers=rep)
    assert locked.status_code == 422 and locked.json["error"]["code"] == "record_locked"
    inbox = client.get("/api/v1/approvals", headers=boss).json["data"]
    assert [i["id"] for i in inbox] == [request_id]
    assert client.post(f"/api/v1/approvals/{request_id}/approve", headers=rep).status_code == 403
    approved = client.post(f"/api/v1/approvals/{request_id}/approve", json={"comment": "OK"}, headers=boss)
    assert approved.status_code == 200 and approved.json["status"] == "approved"
    shown = client.get(url, headers=rep).json
    assert shown["data"][0]["status"] == "approved" and shown["can_submit"] is True
    spec = client.get("/api/v1/openapi.json", headers=rep).json
    assert "/api/v1/approvals/{request_id}/approve" in spec["paths"]
