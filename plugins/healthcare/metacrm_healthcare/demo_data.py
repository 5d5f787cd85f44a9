"""Demo data for the healthcare module: a bilingual clinic, deterministic.

:func:`generate` builds practitioners, patients, past visits (each with the
completed appointment it honoured) and upcoming appointments, and hands them
to the caller's ``create(object, rows) -> ids`` (the record store in
``metacrm demo``, so every rule applies). Each practitioner's appointments
follow each other in slots, so the booking check never refuses one.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable

from faker import Faker

SPECIALTIES = ["general_practice", "internal_medicine", "pediatrics", "dermatology", "cardiology", "dentistry"]
BLOOD_TYPES = ["a_pos", "a_neg", "b_pos", "b_neg", "ab_pos", "ab_neg", "o_pos", "o_neg"]
COMPLAINTS = {
    "en_US": ["Persistent cough", "Headache for a week", "Skin rash", "Chest pain on exertion", "Toothache", "Fever"],
    "zh_CN": ["持续咳嗽", "头痛一周", "皮疹", "活动后胸痛", "牙痛", "发热"],
}
DIAGNOSES = {
    "en_US": ["Acute bronchitis", "Tension headache", "Contact dermatitis", "Stable angina", "Dental caries", "Flu"],
    "zh_CN": ["急性支气管炎", "紧张性头痛", "接触性皮炎", "稳定型心绞痛", "龋齿", "流行性感冒"],
}
ALLERGIES = {
    "en_US": ["Penicillin", "Peanuts", "Latex", "None known"],
    "zh_CN": ["青霉素", "花生", "乳胶", "无已知过敏"],
}
SLOT = dt.timedelta(minutes=30)


def _phone(faker: Faker) -> str:
    """A phone number the phone field accepts (Faker's en_US ones may carry an extension "x123")."""
    return faker.phone_number() if faker.locales == ["zh_CN"] else faker.numerify("+1 ###-###-####")


Create = Callable[[str, list[dict]], list[int]]
Progress = Callable[[str, int, int], None]


def generate(
    create: Create,
    *,
    owner_ids: list[int],
    practitioners: int = 8,
    patients: int = 120,
    seed: int = 7,
    progress: Progress | None = None,
    now: dt.datetime | None = None,
) -> dict[str, int]:
    """Create the demo clinic through ``create``; returns the count per object."""
    rng = random.Random(seed)
    fakers = {locale: Faker(locale) for locale in ("en_US", "zh_CN")}
    for locale, faker in fakers.items():
        faker.seed_instance(seed + len(locale))
    now = (now or dt.datetime.now(dt.UTC)).replace(minute=0, second=0, microsecond=0)
    owners = list(owner_ids)

    def owned(row: dict) -> dict:
        return {**row, "owner_id": rng.choice(owners)} if owners else row

    def made(name: str, rows: list[dict]) -> list[int]:
        ids = create(name, rows) if rows else []
        if progress:
            progress(name, len(ids), len(rows))
        return ids

    practitioner_rows = []
    for i in range(practitioners):
        faker = fakers["zh_CN" if i % 2 else "en_US"]
        practitioner_rows.append(
            owned(
                {
                    "full_name": faker.name(),
                    "specialty": SPECIALTIES[i % len(SPECIALTIES)],
                    "phone": _phone(faker),
                }
            )
        )
    practitioner_ids = made("practitioner", practitioner_rows)

    patient_rows, locales = [], []
    for i in range(patients):
        locale = "zh_CN" if i % 2 else "en_US"
        faker = fakers[locale]
        locales.append(locale)
        patient_rows.append(
            owned(
                {
                    "full_name": faker.name(),
                    "gender": rng.choice(["female", "male"]),
                    "birth_date": faker.date_of_birth(minimum_age=1, maximum_age=90).isoformat(),
                    "phone": _phone(faker),
                    "email": faker.email(),
                    "id_number": faker.ssn(),
                    "primary_practitioner": rng.choice(practitioner_ids),
                    "blood_type": rng.choice(BLOOD_TYPES),
                    "allergies": rng.choice(ALLERGIES[locale]),
                }
            )
        )
    patient_ids = made("patient", patient_rows)

    # Each practitioner's calendar: slots from 09:00, one after the other, on
    # past days (completed, with a visit) and on the coming days (booked).
    past, upcoming, visits = [], [], []
    for day in range(-30, 8):
        if day == 0:
            continue
        opening = (now + dt.timedelta(days=day)).replace(hour=9)
        for practitioner in practitioner_ids:
            for slot in range(rng.randint(0, 3)):
                start = opening + slot * SLOT * 2
                which = rng.randrange(len(patient_ids))
                row = owned(
                    {
                        "patient": patient_ids[which],
                        "practitioner": practitioner,
                        "start_at": start.isoformat(),
                        "end_at": (start + SLOT).isoformat(),
                        "appointment_type": rng.choice(["consultation", "follow_up", "check_up", "procedure"]),
                        "reason": rng.choice(COMPLAINTS[locales[which]]),
                    }
                )
                if day < 0:
                    past.append((row, which, start))
                else:
                    upcoming.append({**row, "status": rng.choice(["scheduled", "confirmed"])})
    past_ids = made("appointment", [{**row, "status": "completed"} for row, _, _ in past])
    made("appointment", upcoming)
    for appointment, (row, which, start) in zip(past_ids, past, strict=True):
        locale = locales[which]
        visits.append(
            owned(
                {
                    "patient": row["patient"],
                    "practitioner": row["practitioner"],
                    "appointment": appointment,
                    "visit_at": start.isoformat(),
                    "chief_complaint": row["reason"],
                    "diagnosis": rng.choice(DIAGNOSES[locale]),
                    "follow_up_date": (start + dt.timedelta(days=14)).date().isoformat()
                    if rng.random() < 0.3
                    else None,
                }
            )
        )
    made("visit", visits)
    return {
        "practitioner": len(practitioner_ids),
        "patient": len(patient_ids),
        "appointment": len(past) + len(upcoming),
        "visit": len(visits),
    }
