"""A public pool's reclaim measured by its follow-up field (crm_core's
pools: ``last_activity_at``, the latest completed activity): a record
claimed long ago goes back unless it was worked since, and an edit alone is
no follow-up; the field is checked when the pool is saved. On SQLite and,
when configured, PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest

from metacrm.access import pools as pool_service
from metacrm.access.changes import AccessChanges
from metacrm.access.members import provision_member
from metacrm.access.policy import policy_for
from metacrm.access.tables import pool_claims
from metacrm.app import create_app
from metacrm.metadata.model import model_for
from metacrm.platform import audit
from metacrm.platform import identity as identities
from metacrm.platform.clock import utcnow
from metacrm.platform.errors import ValidationFailed
from tests.conftest import BACKENDS, PASSWORD
from tests.data.crm_support import crm_tenant


@pytest.fixture(scope="module", params=BACKENDS)
def crm(request, tmp_path_factory):
    with crm_tenant(tmp_path_factory.mktemp("pool_follow_up"), request.param) as crm:
        yield crm


def test_reclaim_counts_completed_activities_not_edits(crm):
    store = crm.store("rep")
    worked, edited, fresh = (store.create("account", {"name": name})["id"] for name in ("Worked", "Edited", "Fresh"))
    now = utcnow()
    with crm.binding.begin() as conn:
        conn.execute(
            pool_claims.insert(),
            [
                {
                    "object": "account",
                    "record_id": record_id,
                    "pool": "account_pool",
                    "user_id": crm.users["rep"],
                    "how": "claimed",
                    "at": now - timedelta(days=days),
                }  # fmt: skip
                for record_id, days in ((worked, 40), (edited, 40), (fresh, 5))
            ],
        )
    store.create("activity", {"subject": "Visit", "activity_type": "meeting", "status": "completed",
                              "account": worked})  # fmt: skip
    store.update("account", edited, {"phone": "+86 571 1234 5678"})  # an edit is not a follow-up
    model = model_for(crm.instance, crm.binding)
    assert pool_service.reclaim_due(crm.binding, model) == {"account_pool": 1}
    owners = {r.id: r.owner_id for r in crm.sql(crm.table("account").select())}
    assert owners[edited] is None and owners[worked] == owners[fresh] == crm.users["rep"]


def test_the_follow_up_field_is_checked_when_the_pool_is_saved(crm):
    policy = policy_for(crm.instance, crm.binding)
    assert policy.pools["lead_pool"].follow_up_field == "last_activity_at"
    changes = AccessChanges(crm.instance, crm.binding, audit.SYSTEM, held=frozenset({"admin"}), policy=policy)
    for bad in ("name", "nope", "next_follow_up_x"):
        with pytest.raises(ValidationFailed) as refused, changes.change("follow-up field") as change:
            change.put_pool({"follow_up_field": bad}, name="account_pool")
        assert "follow_up_field" in refused.value.details["fields"]
    with changes.change("follow-up field") as change:
        change.put_pool({"follow_up_field": "next_follow_up"}, name="account_pool")  # a roll-up of dates
    assert policy_for(crm.instance, crm.binding).pools["account_pool"].follow_up_field == "next_follow_up"


def test_the_setup_screen_offers_the_object_s_date_fields(crm):
    user_id = identities.create_user(
        crm.instance, tenant="crm", email="admin@crm.test", password=PASSWORD, is_admin=True, role="admin"
    )
    provision_member(crm.instance, crm.binding, user_id, actor=audit.SYSTEM)
    client = create_app(instance=crm.instance).test_client()
    token = client.get("/login").get_data(as_text=True).split('name="csrf_token" value="')[1].split('"')[0]
    login = {"email": "admin@crm.test", "password": PASSWORD, "tenant": "crm", "csrf_token": token}
    assert client.post("/login", data=login).status_code == 302
    page = client.get("/setup/pools").get_data(as_text=True)
    lead_pool = page[page.index('data-pool="lead_pool"') :]
    assert 'name="follow_up_field"' in lead_pool and '<option value="last_activity_at" selected>' in lead_pool
    token = page.split('name="csrf_token" value="')[1].split('"')[0]
    form = {"csrf_token": token, "label": "Lead pool", "members.roles": ["sales_rep"], "admins": ["sales_manager"],
            "claim_quota": "50", "cooldown_days": "7", "reclaim_days": "30", "follow_up_field": ""}  # fmt: skip
    assert client.post("/setup/pools/lead_pool", data=form).status_code == 303
    assert policy_for(crm.instance, crm.binding).pools["lead_pool"].follow_up_field is None
