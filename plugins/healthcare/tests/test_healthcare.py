"""The healthcare module end to end, on one clinic tenant per module (and
backend) with crm_core installed beside it: the package installs, a
practitioner is never double-booked (also by concurrent saves), reminders
are scheduled, medical fields are hidden from every non-clinical role
through the API and every read of them is audited, and the demo data
generates."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from metacrm.plugins import ValidationFailed, utcnow
from metacrm_crm_core.plugin import PACKAGE_DIR as CRM_PACKAGE_DIR

from metacrm_healthcare import demo_data, plugin
from metacrm_healthcare.plugin import PACKAGE_DIR

MEDICAL = {"blood_type", "allergies", "medical_history"}


@pytest.fixture(scope="module")
def clinic(module_instance, module_package_tenant):
    module_instance.pm.register(plugin)
    tenant = module_package_tenant(CRM_PACKAGE_DIR, slug="clinic", users=("manager",), role="sales_manager")
    tenant.install(PACKAGE_DIR)
    tenant.desk = tenant.add_user("desk", "receptionist")
    tenant.doctor = tenant.add_user("doctor", "clinician")
    tenant.viewer = tenant.add_user("viewer", "read_only")
    tenant.rep = tenant.add_user("rep", "sales_rep")
    tenant.admin = tenant.add_user("boss", "admin")
    store = tenant.store()
    tenant.practitioner = store.create("practitioner", {"full_name": "Dr. Lin", "specialty": "cardiology"})["id"]
    tenant.patient = store.create(
        "patient",
        {"full_name": "Mei Wang", "phone": "13800000000", "id_number": "110101199001011234", "allergies": "Penicillin"},
    )["id"]
    return tenant


def _slot(clinic, hours: float, minutes: int = 30, **extra) -> dict:
    start = (utcnow() + timedelta(hours=hours)).replace(microsecond=0)
    return {
        "patient": clinic.patient,
        "practitioner": clinic.practitioner,
        "start_at": start.isoformat(),
        "end_at": (start + timedelta(minutes=minutes)).isoformat(),
        **extra,
    }


def test_the_package_installs_next_to_crm_core_with_its_roles(clinic, module_client):
    objects = module_client.get("/api/v1/meta/objects", headers=clinic.bearer(clinic.admin)).get_json()
    names = {o["api_name"] for o in objects["data"]} if isinstance(objects, dict) else {o["api_name"] for o in objects}
    assert {"account", "patient", "practitioner", "appointment", "visit"} <= names
    # installing again changes nothing (the roles and access entries are written once)
    assert clinic.install(PACKAGE_DIR)["revision"] is None


def test_overlapping_bookings_of_a_practitioner_are_refused(clinic):
    store = clinic.store()
    first = store.create("appointment", _slot(clinic, 100))
    assert first["appointment_number"].startswith("APT-")
    with pytest.raises(ValidationFailed) as refused:
        store.create("appointment", _slot(clinic, 100.25))  # starts inside the first
    [message] = refused.value.details["fields"]["start_at"]
    assert "already booked" in message and "Mei" not in message
    # back to back is fine; a cancelled booking frees its slot; bookings in one call are checked together
    store.create("appointment", _slot(clinic, 100.5))
    store.update("appointment", first["id"], {"status": "cancelled"})
    store.create("appointment", _slot(clinic, 100))
    with pytest.raises(ValidationFailed) as refused:
        store.bulk_create("appointment", [_slot(clinic, 102), _slot(clinic, 102.1)])
    assert list(refused.value.details["rows"]) == ["1"]
    # moving a booking onto a taken slot is refused too
    later = store.create("appointment", _slot(clinic, 103))
    with pytest.raises(ValidationFailed):
        store.update("appointment", later["id"], {"start_at": _slot(clinic, 100.1)["start_at"]})


def test_two_concurrent_bookings_of_one_slot_exactly_one_wins(clinic):
    slot = _slot(clinic, 200)
    barrier = threading.Barrier(2)
    results: list[str] = []

    def book() -> None:
        store = clinic.store()
        barrier.wait()
        try:
            store.create("appointment", slot)
            results.append("booked")
        except ValidationFailed:
            results.append("refused")

    threads = [threading.Thread(target=book) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(results) == ["booked", "refused"]


def test_the_day_before_reminder_is_scheduled_and_sent_once(clinic):
    store = clinic.store()
    soon = store.create("appointment", _slot(clinic, 23))
    far = store.create("appointment", _slot(clinic, 300))
    clinic.run_time_rules()
    clinic.run_time_rules()
    assert store.get("appointment", soon["id"])["reminder_sent"] is True
    assert store.get("appointment", far["id"])["reminder_sent"] is False
    reminders = [
        n for n in clinic.notifications() if soon["appointment_number"] in (n.get("message") or n.get("text") or "")
    ]
    assert len(reminders) == 1 and "Dr. Lin" in str(reminders[0])


def test_recording_a_visit_completes_its_appointment(clinic):
    store = clinic.store()
    booked = store.create("appointment", _slot(clinic, 400))
    store.create(
        "visit",
        {
            "patient": clinic.patient,
            "practitioner": clinic.practitioner,
            "appointment": booked["id"],
            "visit_at": booked["start_at"],
        },
    )
    assert store.get("appointment", booked["id"])["status"] == "completed"


def test_medical_fields_are_hidden_from_every_role_but_clinician(clinic, module_client):
    url = f"/api/v1/data/patient/{clinic.patient}"
    doctor = module_client.get(url, headers=clinic.bearer(clinic.doctor)).get_json()
    assert doctor["allergies"] == "Penicillin"
    for user in (clinic.desk, clinic.viewer):  # receptionist, read-only
        headers = clinic.bearer(user)
        record = module_client.get(url, headers=headers).get_json()
        assert record["full_name"] == "Mei Wang" and not MEDICAL & set(record)
        listed = module_client.get("/api/v1/data/patient?q=Mei", headers=headers).get_json()
        assert listed["data"] and not any(MEDICAL & set(row) for row in listed["data"])
        refused = module_client.get("/api/v1/data/patient?allergies=Penicillin", headers=headers)
        assert refused.status_code in (400, 422) and "Penicillin" not in refused.get_data(as_text=True)
    exported = module_client.get("/api/v1/data/patient/export?format=csv", headers=clinic.bearer(clinic.desk))
    assert exported.status_code == 200 and "Penicillin" not in exported.get_data(as_text=True)
    assert module_client.get(url, headers=clinic.bearer(clinic.rep)).status_code in (403, 404)


def test_every_read_of_a_medical_field_is_audited(clinic, module_client):
    module_client.get(f"/api/v1/data/patient/{clinic.patient}", headers=clinic.bearer(clinic.doctor))
    entries = module_client.get(
        f"/api/v1/audit?action=record.read&object=patient&user={clinic.doctor}&field=allergies",
        headers=clinic.bearer(clinic.admin),
    ).get_json()["data"]
    assert entries and str(entries[0]["record_id"]) == str(clinic.patient)
    assert "Penicillin" not in str(entries)


def test_every_read_in_the_clinic_is_audited_even_without_medical_fields(clinic, module_client):
    """The receptionist sees no medical field, yet reading a patient's name
    and phone is in the audit log too (everything in the module is audited)."""
    listed = module_client.get("/api/v1/data/patient?fields=full_name,phone", headers=clinic.bearer(clinic.desk))
    assert listed.status_code == 200 and listed.get_json()["data"]
    entries = module_client.get(
        f"/api/v1/audit?action=record.read&object=patient&user={clinic.desk}&field=full_name",
        headers=clinic.bearer(clinic.admin),
    ).get_json()["data"]
    assert {str(e["record_id"]) for e in entries} >= {str(r["id"]) for r in listed.get_json()["data"]}
    assert all("allergies" not in str(e) for e in entries)


def test_the_demo_clinic_generates(clinic):
    store = clinic.store()

    def create(name: str, rows: list[dict]) -> list[int]:  # as `metacrm demo` does
        owners = [row.pop("owner_id", None) for row in rows]
        return [record["id"] for record in store.bulk_create(name, rows, owner_ids=owners)]

    counts = demo_data.generate(create, owner_ids=clinic.users, practitioners=2, patients=6)
    assert counts["practitioner"] == 2 and counts["patient"] == 6
    assert counts["visit"] > 0 and counts["appointment"] > counts["visit"]
