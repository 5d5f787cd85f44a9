"""Regenerate the screenshots in ``docs/img/`` from the browser tests' flows.

Run from the repository root: ``.venv/bin/python -m tests.browser.screenshots``.
It starts the same live app as the tests (SQLite, the demo organisation and
users), drives Debian's chromium on desktop and phone viewports, and stops
with an error instead of writing a screenshot of a page that logged a console
error, loaded from another origin or broke the CSP.
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import Page, expect, sync_playwright

from tests.browser.support import (
    ADMIN,
    DESKTOP,
    PHONE,
    USERS,
    Watch,
    fill_sign_in,
    launch_chromium,
    live_app,
    new_page,
    sign_in,
)
from tests.browser.test_shell import seed

OUT = Path(__file__).parents[2] / "docs" / "img"


def sign_in_page(page: Page) -> None:
    page.goto("/login")


def wrong_password(page: Page) -> None:
    fill_sign_in(page, ADMIN, password="not the password")
    expect(page.get_by_role("alert")).to_be_visible()


def admin_home(page: Page) -> None:
    sign_in(page, ADMIN)


def sales_rep_home(page: Page) -> None:
    sign_in(page, USERS["sales_rep"])


def account_tokens(page: Page) -> None:
    sign_in(page, ADMIN)
    page.goto("/account")
    page.get_by_label("New token name").fill("ERP sync")
    page.get_by_role("button", name="Create token").click()
    expect(page.get_by_role("status")).to_be_visible()


def search(page: Page) -> None:
    sign_in(page, USERS["sales_rep"])
    page.goto("/search?q=acme")


def notifications(page: Page) -> None:
    sign_in(page, USERS["sales_rep"])
    page.goto("/notifications")


def new_record_with_errors(page: Page) -> None:
    sign_in(page, USERS["sales_rep"])
    page.goto("/o/opportunity/new")
    page.get_by_role("button", name="Save").click()
    expect(page.locator('[data-field="name"]').get_by_role("alert")).to_be_visible()


# name -> (flow, viewports)
SHOTS: dict[str, tuple[Callable[[Page], None], tuple[str, ...]]] = {
    "sign-in": (sign_in_page, ("desktop", "phone")),
    "sign-in-error": (wrong_password, ("desktop", "phone")),
    "home-admin": (admin_home, ("desktop", "phone")),
    "home-sales-rep": (sales_rep_home, ("desktop", "phone")),
    "account": (account_tokens, ("desktop",)),
    "search": (search, ("desktop", "phone")),
    "notifications": (notifications, ("phone",)),
    "form-new-errors": (new_record_with_errors, ("desktop", "phone")),
}
VIEWPORTS = {"desktop": DESKTOP, "phone": PHONE}


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp, live_app(Path(tmp), "sqlite") as app, sync_playwright() as pw:
        browser = launch_chromium(pw)
        seed(app)  # the shell's records, notifications and access (as its browser tests)
        for name, (flow, viewports) in SHOTS.items():
            for viewport in viewports:
                watch = Watch(app.url)
                page = new_page(browser, app, VIEWPORTS[viewport], watch)
                flow(page)
                if watch.problems:
                    print(f"{name} ({viewport}): " + "; ".join(watch.problems), file=sys.stderr)
                    return 1
                path = OUT / f"{name}-{viewport}.png"
                page.screenshot(path=str(path))  # what the viewport shows
                page.context.close()
                print(f"wrote {path.relative_to(OUT.parents[1])}")
        browser.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
