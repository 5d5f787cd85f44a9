"""Regenerate the record page's screenshots in ``docs/img/`` (record-*.png).

Run from the repository root: ``.venv/bin/python -m tests.browser.screenshots_record``.
Like ``tests.browser.screenshots`` (whose flows need no records) it starts the
browser tests' live app; it first seeds the records the record page shows (the
same kind of account as ``tests/browser/test_record.py``), then signs in as
the sales rep. It stops with an error instead of writing a screenshot of a
page that logged a console error, loaded from another origin or broke the CSP.
"""

from __future__ import annotations

import sys
import tempfile
from datetime import date, timedelta
from pathlib import Path

from playwright.sync_api import sync_playwright

from metacrm.cli import DEMO_TENANT
from metacrm.metadata.guard import SystemGuard
from metacrm.metadata.model import record_store
from metacrm.platform import audit
from metacrm.platform import identity as identities
from tests.browser.support import DESKTOP, PHONE, USERS, Watch, launch_chromium, live_app, new_page, sign_in

OUT = Path(__file__).parents[2] / "docs" / "img"


def seed(app) -> dict[str, int]:
    """An account of the sales rep with a contact, an opportunity, activities and a change."""
    binding = app.instance.db.bind(DEMO_TENANT)
    rep = {row["email"]: row["id"] for row in identities.list_users(app.instance, DEMO_TENANT)}[USERS["sales_rep"]]
    store = record_store(app.instance, binding, SystemGuard(), audit.Actor(user_id=rep, email=USERS["sales_rep"]))
    account = store.create(
        "account",
        {"name": "Great Wall Trading", "phone": "021-5550100", "industry": "technology", "billing_city": "Shanghai"},
    )
    store.create("contact", {"full_name": "Li Na", "last_name": "Li", "account": account["id"], "title": "Buyer"})
    close = (date.today() + timedelta(days=20)).isoformat()
    opportunity = store.create(
        "opportunity",
        {"name": "Tea export 2027", "account": account["id"], "stage": "qualification", "close_date": close},
    )
    store.create(
        "activity",
        {
            "subject": "First visit",
            "activity_type": "meeting",
            "account": account["id"],
            "description": "Met the buyer.",
        },
    )
    soon = (date.today() + timedelta(days=3)).isoformat()
    store.create(
        "activity",
        {"subject": "Send samples", "activity_type": "task", "opportunity": opportunity["id"], "due_date": soon},
    )
    store.update("opportunity", opportunity["id"], {"amount": "65000"})
    return {"account": account["id"], "opportunity": opportunity["id"]}


# name -> (object, viewport)
SHOTS = {
    "record-account-desktop": ("account", DESKTOP),
    "record-account-phone": ("account", PHONE),
    "record-opportunity-phone": ("opportunity", PHONE),
}


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp, live_app(Path(tmp), "sqlite") as app, sync_playwright() as pw:
        ids = seed(app)
        browser = launch_chromium(pw)
        for name, (object_name, viewport) in SHOTS.items():
            watch = Watch(app.url)
            page = new_page(browser, app, viewport, watch)
            sign_in(page, USERS["sales_rep"])
            page.goto(f"/o/{object_name}/{ids[object_name]}")
            if watch.problems:
                print(f"{name}: " + "; ".join(watch.problems), file=sys.stderr)
                return 1
            path = OUT / f"{name}.png"
            page.screenshot(path=str(path))  # what the viewport shows
            page.context.close()
            print(f"wrote {path.relative_to(OUT.parents[1])}")
        browser.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
