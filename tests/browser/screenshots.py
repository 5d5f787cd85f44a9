"""Regenerate every screenshot in ``docs/img/`` from the browser tests' flows.

Run from the repository root: ``.venv/bin/python -m tests.browser.screenshots``
(``… screenshots setup-`` shoots only the shots whose names start so).
It starts the same live app as the browser tests (SQLite, the demo
organisation and its users), seeds a few realistic records through the record
store, then drives Debian's chromium through each screen on a desktop
(1280x800) and a phone (390x844) viewport, the main screens also in Chinese
(a browser asking for zh-CN: ``<screen>-zh_CN-<viewport>.png``). It stops
with an error instead of writing a screenshot of a page that logged a console
error, loaded from another origin or broke the CSP, and deletes the PNGs it
no longer produces. Chinese text needs a CJK font on the machine
(``apt-get install -y fonts-wqy-microhei``); the tests do not.
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from playwright.sync_api import Page, expect, sync_playwright

from metacrm.access import pools as pool_service
from metacrm.cli import DEMO_TENANT
from metacrm.metadata.guard import SystemGuard
from metacrm.metadata.model import metadata_service, model_for, record_store
from metacrm.platform import audit
from metacrm.platform import identity as identities
from metacrm.platform.clock import utcnow
from metacrm.rules.automation.tables import notifications
from tests.browser.support import (
    ADMIN,
    DESKTOP,
    PHONE,
    SETTLED,
    USERS,
    LiveApp,
    Watch,
    fill_sign_in,
    launch_chromium,
    live_app,
    sign_in,
)

OUT = Path(__file__).parents[2] / "docs" / "img"
REP = USERS["sales_rep"]
MANAGER = USERS["sales_manager"]
VIEWPORTS = {"desktop": DESKTOP, "phone": PHONE}
LOCALES = {"en": "en-GB", "zh_CN": "zh-CN"}


def seed(app: LiveApp) -> dict[str, int]:
    """The sales rep's book: accounts with a contact, opportunities in every
    open stage, activities due this week, two unread notifications, leads
    waiting in the lead pool; an account of the admin's (that the rep's
    search does not show). Returns the ids the flows open."""
    instance = app.instance
    binding = instance.db.bind(DEMO_TENANT)
    users = {row["email"]: row["id"] for row in identities.list_users(instance, DEMO_TENANT)}
    rep = audit.Actor(user_id=users[REP], email=REP)
    store = record_store(instance, binding, SystemGuard(), rep)
    soon = (date.today() + timedelta(days=3)).isoformat()
    later = (date.today() + timedelta(days=40)).isoformat()

    great_wall = store.create(
        "account",
        {"name": "Great Wall Trading", "phone": "021-5550100", "industry": "technology", "billing_city": "Shanghai"},
    )
    acme = store.create("account", {"name": "Acme Widgets", "phone": "+86 21 5555 0101", "billing_city": "Suzhou"})
    zenith = store.create("account", {"name": "Zenith Foods", "billing_city": "Hangzhou"})
    store.create("contact", {"full_name": "Li Na", "last_name": "Li", "account": great_wall["id"], "title": "Buyer"})
    store.create("contact", {"full_name": "Wang Wei", "last_name": "Wang", "account": acme["id"], "title": "CFO"})
    deals = {}
    for name, account, stage, amount in (
        ("Tea export 2027", great_wall, "qualification", "48000"),
        ("Widgets renewal", acme, "proposal", "12000"),
        ("Widgets upsell", acme, "prospecting", "3000"),
        ("Zenith pilot", zenith, "negotiation", "20000"),
        ("Zenith cold chain", zenith, "prospecting", "75000"),
    ):
        deals[name] = store.create(
            "opportunity",
            {"name": name, "account": account["id"], "stage": stage, "amount": amount, "close_date": later},
        )
    store.update("opportunity", deals["Tea export 2027"]["id"], {"amount": "65000"})  # a change on the timeline
    store.create(
        "activity",
        {
            "subject": "First visit",
            "activity_type": "meeting",
            "account": great_wall["id"],
            "description": "Met the buyer.",
        },
    )
    store.create(
        "activity",
        {
            "subject": "Send samples",
            "activity_type": "task",
            "opportunity": deals["Tea export 2027"]["id"],
            "due_date": soon,
        },
    )
    store.create(
        "activity",
        {"subject": "Call Acme about the renewal", "activity_type": "call", "account": acme["id"], "due_date": soon},
    )
    admins = record_store(instance, binding, SystemGuard(), audit.Actor(user_id=users[ADMIN], email=ADMIN))
    admins.create("account", {"name": "Acme Tools"})
    with binding.begin() as conn:
        for message in ("Deal won: Widgets renewal", "New lead assigned to you"):
            conn.execute(
                notifications.insert().values(
                    user_id=users[REP], message=message, object="account", record_id=acme["id"], created_at=utcnow()
                )
            )
    system = record_store(instance, binding, SystemGuard(), audit.SYSTEM)
    leads = [
        system.create("lead", {"first_name": first, "last_name": last, "company": company, "source": "event"})["id"]
        for first, last, company in (("Pat", "Lovelace", "Analytical Engines Ltd"), ("Min", "Zhao", "Zhao Tea Co"))
    ]
    with binding.begin() as conn:
        model = model_for(instance, binding)
        pool_service.return_to_pool(conn, model, "lead", leads, reason="seed", actor=audit.SYSTEM, pool="lead_pool")
    return {
        "account": great_wall["id"],
        "opportunity": deals["Tea export 2027"]["id"],
        "conflict": deals["Zenith pilot"]["id"],
        "colleague": record_store(instance, binding, SystemGuard(), audit.Actor(user_id=users[MANAGER], email=MANAGER)),
    }


ZH = "zh_CN"


def _zh(label: str) -> dict:
    return {"translations": {ZH: {"label": label}}}


def seed_setup(app: LiveApp, ids: dict) -> None:
    """What the admin guide's setup shots show: the custom object "vehicle"
    (车辆) with a field of each common type, its layout (saved twice: the
    second revision moves a field, for the revision diff), a validation rule,
    an automation and a few vehicles."""
    instance = app.instance
    binding = instance.db.bind(DEMO_TENANT)
    admin = audit.Actor(user_id=identities.user_id_of(instance, ADMIN), email=ADMIN)
    service = metadata_service(instance, binding, admin)
    vehicle = {
        "api_name": "vehicle",
        "label": "Vehicle",
        "plural_label": "Vehicles",
        "icon": "key",
        "name_field": "name",
        "translations": {ZH: {"label": "车辆", "plural_label": "车辆"}},
    }
    name = {"api_name": "name", "label": "Name", "type": "text", "required": True, "indexed": True, **_zh("名称")}
    with service.change("create object vehicle") as tx:
        tx.create_object(vehicle, [name])
    statuses = [
        {"value": "available", "label": "Available", "color": "#198754", "translations": {ZH: "可用"}},
        {"value": "reserved", "label": "Reserved", "color": "#fd7e14", "translations": {ZH: "已预订"}},
        {"value": "sold", "label": "Sold", "color": "#6c757d", "translations": {ZH: "已售"}},
    ]
    for document in (
        {"api_name": "plate_number", "label": "Plate number", "type": "text", **_zh("车牌号")},
        {"api_name": "price", "label": "Price", "type": "currency", "options": {"currency": "CNY"}, **_zh("价格")},
        {"api_name": "status", "label": "Status", "type": "picklist", "options": {"values": statuses}, **_zh("状态")},
        {"api_name": "registered_on", "label": "Registered on", "type": "date", **_zh("登记日期")},
        {"api_name": "account", "label": "Account", "type": "lookup", "options": {"target": "account"}, **_zh("客户")},
        {
            "api_name": "price_with_tax",
            "label": "Price with tax",
            "type": "formula",
            "options": {"expression": "price * 1.13", "return_type": "currency"},
            **_zh("含税价格"),
        },
    ):
        with service.change(f"add field vehicle.{document['api_name']}") as tx:
            tx.add_field("vehicle", document)
    layout = {
        "api_name": "default",
        "label": "Vehicle layout",
        "sections": [
            {
                "label": "Vehicle",
                "translations": {ZH: "车辆信息"},
                "columns": 2,
                "fields": ["name", "plate_number", "status", "registered_on"],
            },
            {
                "label": "Price",
                "translations": {ZH: "价格"},
                "columns": 2,
                "fields": ["price", "price_with_tax", "account"],
            },
        ],
    }
    with service.change("save layout vehicle.default") as tx:
        tx.put_layout("vehicle", layout)
    layout["sections"][0]["fields"].append("account")
    layout["sections"][1]["fields"].remove("account")
    with service.change("save layout vehicle.default") as tx:
        tx.put_layout("vehicle", layout)
        ids["layout_revision"] = tx.revision
    with service.change("validation rule vehicle.price_at_least_1000") as tx:
        tx.put_validation_rule(
            "vehicle",
            {
                "api_name": "price_at_least_1000",
                "label": "Price at least 1000",
                "condition": "price < 1000",
                "message": "A vehicle costs at least 1,000",
                "field": "price",
                "translations": {ZH: {"message": "车辆价格至少为 1,000"}},
            },
        )
    with service.change("automation vehicle.flag_expensive_vehicles") as tx:
        tx.put_automation(
            "vehicle",
            {
                "api_name": "flag_expensive_vehicles",
                "label": "Flag expensive vehicles",
                "rule": 'WHEN created IF price > 20000 THEN SET status = "reserved"; NOTIFY owner_id "New: {{name}}"',
            },
        )
    store = record_store(instance, binding, SystemGuard(), admin)
    for vehicle_name, plate, price in (
        ("Fleet van 1", "沪A 12345", "30000"),
        ("Electric scooter", "沪B 67890", "4500"),
    ):
        store.create("vehicle", {"name": vehicle_name, "plate_number": plate, "price": price, "status": "available"})


# The flows: each gets a signed-out page and the seeded ids, and leaves the
# page showing its screen. They find things by URL and markup, not by English
# text, so the same flow shoots the Chinese screen.


def sign_in_page(page: Page, ids) -> None:
    page.goto("/login")


def rep_home(page: Page, ids) -> None:
    sign_in(page, REP)
    page.goto(f"/o/account/{ids['account']}")  # one for "Recently viewed"
    page.goto("/")


def search(page: Page, ids) -> None:
    sign_in(page, REP)
    page.goto("/search?q=acme")


def opportunity_list(page: Page, ids) -> None:
    sign_in(page, REP)
    page.goto("/o/opportunity?sort=-amount")


def list_with_filters(page: Page, ids) -> None:
    sign_in(page, REP)
    page.goto("/o/opportunity?filter.stage=prospecting")  # a filter set: the panel opens
    expect(page.locator("#list-filters")).to_be_visible()


def board(page: Page, ids) -> None:
    sign_in(page, REP)
    page.goto("/o/opportunity/board?by=stage")


def account_record(page: Page, ids) -> None:
    sign_in(page, REP)
    page.goto(f"/o/account/{ids['account']}")
    expect(page.locator("#timeline .timeline-entry").first).to_be_visible()


def opportunity_record(page: Page, ids) -> None:
    sign_in(page, REP)
    page.goto(f"/o/opportunity/{ids['opportunity']}")
    expect(page.locator(".stage-path")).to_be_visible()


def new_record_with_errors(page: Page, ids) -> None:
    sign_in(page, REP)
    page.goto("/o/opportunity/new")
    page.locator('form button[type="submit"].btn-primary').click()
    expect(page.locator('[data-field="name"]').get_by_role("alert")).to_be_visible()


def edit_conflict(page: Page, ids) -> None:
    sign_in(page, REP)
    ids["colleague"].update("opportunity", ids["conflict"], {"next_step": None})  # as before the previous shot
    page.goto(f"/o/opportunity/{ids['conflict']}/edit")
    ids["colleague"].update("opportunity", ids["conflict"], {"next_step": "Call the CFO"})  # someone else, meanwhile
    page.locator('[data-field="next_step"] :is(input, textarea)').fill("Send the proposal")
    page.locator('form button[type="submit"].btn-primary').click()
    expect(page.get_by_role("alert").filter(has=page.locator('[data-field="next_step"]'))).to_be_visible()


def pools(page: Page, ids) -> None:
    sign_in(page, REP)
    page.goto("/pools/lead_pool")


def account_page(page: Page, ids) -> None:
    sign_in(page, REP)
    page.goto("/account")


def notifications_page(page: Page, ids) -> None:
    sign_in(page, REP)
    page.goto("/notifications")


def wrong_password(page: Page, ids) -> None:
    fill_sign_in(page, ADMIN, password="not the password")
    expect(page.get_by_role("alert")).to_be_visible()


# -- setup, as the admin -----------------------------------------------------------------------------


def setup_home(page: Page, ids) -> None:
    sign_in(page, ADMIN)
    page.goto("/setup")


def setup_objects(page: Page, ids) -> None:
    sign_in(page, ADMIN)
    page.goto("/setup/objects")


def setup_object(page: Page, ids) -> None:
    sign_in(page, ADMIN)
    page.goto("/setup/objects/vehicle")
    expect(page.locator('.setup-fields-table [data-field-row="price_with_tax"]')).to_be_visible()


def setup_new_picklist(page: Page, ids) -> None:
    sign_in(page, ADMIN)
    page.goto("/setup/objects/vehicle/fields/new?type=picklist")
    page.wait_for_load_state("load")
    page.locator("#f-label").fill("Fuel")
    page.locator("#f-label_zh").fill("燃料")
    expect(page.locator("#f-api_name")).to_have_value("fuel")
    rows = page.locator("[data-pv-list] > li")
    for number, (label, label_zh, colour) in enumerate(
        (("Petrol", "汽油", "#fd7e14"), ("Electric", "电动", "#198754"), ("Hybrid", "混合动力", "#0d6efd"))
    ):
        if number:
            page.locator("[data-pv-add]").click()
            expect(rows).to_have_count(number + 1)
        rows.nth(number).locator('[name="pv.label"]').fill(label)
        rows.nth(number).locator('[name="pv.label_zh"]').fill(label_zh)
        rows.nth(number).locator("[data-pv-color]").select_option(colour)
    page.locator("[data-pv-list]").evaluate("list => list.scrollIntoView({block: 'center'})")


def setup_layout(page: Page, ids) -> None:
    sign_in(page, ADMIN)
    page.goto("/setup/objects/vehicle/layouts")
    expect(page.locator("#layout-preview .preview-section").first).to_be_visible()


def setup_validation_error(page: Page, ids) -> None:
    sign_in(page, ADMIN)
    page.goto("/setup/objects/vehicle/validation-rules/new")
    page.wait_for_load_state("load")
    page.locator("#f-label").fill("Price at least 1000")
    page.locator('[data-field="condition"] textarea').fill('price < "1000"')
    expect(page.locator('[data-field="condition"] [role="alert"]')).to_be_visible()


def setup_duplicate_rule(page: Page, ids) -> None:
    sign_in(page, ADMIN)
    page.goto("/setup/objects/contact/duplicate-rules/new")
    page.wait_for_load_state("load")
    page.locator("#f-label").fill("Same name")
    page.locator('[id="f-conditions.0.field"]').select_option("full_name")
    page.locator('[id="f-conditions.0.method"]').select_option("fuzzy")
    page.locator('[id="f-conditions.0.threshold"]').fill("85")
    page.locator("#f-action").select_option("block")


def setup_approval_process(page: Page, ids) -> None:
    sign_in(page, ADMIN)
    page.goto("/setup/objects/quote/approval-processes/large_discount")
    page.wait_for_load_state("load")


def setup_automation_dry_run(page: Page, ids) -> None:
    sign_in(page, ADMIN)
    page.goto("/setup/automations/vehicle/flag_expensive_vehicles")
    record = page.locator('[data-field="record_id"]')
    expect(record.locator(".ts-wrapper")).to_be_visible()  # the typeahead is ready
    record.locator(".ts-control input").click()
    record.locator(".ts-control input").press_sequentially("fleet")
    page.locator(".ts-dropdown .option", has_text="Fleet van 1").click()
    expect(page.locator(".ts-dropdown")).to_be_hidden()
    page.locator(".dry-run-form button[type=submit]").click()
    result = page.locator("#dry-run-result [data-dry-run]")
    expect(result).to_be_visible()
    page.wait_for_timeout(500)  # past the typeahead's throttled search, which closes the list again
    expect(page.locator(".ts-dropdown")).to_be_hidden()
    page.locator("#dry-run-heading").evaluate("heading => heading.scrollIntoView({block: 'start'})")


def setup_permissions(page: Page, ids) -> None:
    sign_in(page, ADMIN)
    page.goto("/setup/permissions?role=sales_rep")


def setup_revision(page: Page, ids) -> None:
    sign_in(page, ADMIN)
    page.goto(f"/setup/revisions/{ids['layout_revision']}")
    expect(page.locator(".diff-card").first).to_be_visible()


def web_form_page(page: Page, ids) -> None:
    page.goto(f"/f/{DEMO_TENANT}/contact_us")  # the public web-to-lead form: no sign-in


def setup_plugins(page: Page, ids) -> None:
    sign_in(page, ADMIN)
    page.goto("/setup/plugins")
    uninstall = page.locator('[data-plugin="crm_core"] .plugin-confirm')
    uninstall.locator("summary").click()  # the confirmation an uninstall asks for
    expect(uninstall.locator("input[name=confirm]")).to_be_visible()


@dataclass(frozen=True)
class Shot:
    name: str
    flow: Callable[[Page, dict], None]
    languages: tuple[str, ...] = ("en",)
    viewports: tuple[str, ...] = ("desktop", "phone")
    full_page: bool = False  # the whole page, not just what the viewport shows


BOTH = ("en", "zh_CN")
SHOTS = (
    Shot("sign-in", sign_in_page, BOTH),
    Shot("sign-in-error", wrong_password),
    Shot("home-sales-rep", rep_home, BOTH),
    Shot("search", search),
    Shot("list", opportunity_list, BOTH),
    Shot("list-filters", list_with_filters, viewports=("desktop",)),
    Shot("board", board, BOTH),
    Shot("record-account", account_record, BOTH),
    Shot("record-account-full", account_record, viewports=("desktop",), full_page=True),  # down to the timeline
    Shot("record-opportunity", opportunity_record),
    Shot("form-new-errors", new_record_with_errors, BOTH),
    Shot("form-conflict", edit_conflict),
    Shot("pools", pools, BOTH),
    Shot("account", account_page),
    Shot("notifications", notifications_page),
    Shot("setup-home", setup_home, BOTH),
    Shot("setup-objects", setup_objects, BOTH),
    Shot("setup-object", setup_object, BOTH),
    Shot("setup-field-picklist", setup_new_picklist, BOTH),
    Shot("setup-layout", setup_layout, BOTH),
    Shot("setup-layout-full", setup_layout, viewports=("desktop",), full_page=True),  # down to the preview
    Shot("setup-validation-error", setup_validation_error, BOTH),
    Shot("setup-duplicate-rule", setup_duplicate_rule, BOTH),
    Shot("setup-approval-process", setup_approval_process, BOTH),
    Shot("setup-automation-dry-run", setup_automation_dry_run, BOTH),
    Shot("setup-permissions", setup_permissions, BOTH),
    Shot("setup-revision", setup_revision, BOTH),
    Shot("web-form", web_form_page, BOTH),
    Shot("setup-plugins", setup_plugins, BOTH),
)
# The shots of the admin guide (docs/admin-guide*.md); the others are the user guide's.
SETUP_SHOTS = tuple(shot for shot in SHOTS if shot.name.startswith("setup-"))


def file_name(shot: Shot, language: str, viewport: str) -> str:
    middle = "" if language == "en" else f"-{language}"
    return f"{shot.name}{middle}-{viewport}.png"


def shoot(browser, app: LiveApp, ids: dict, shot: Shot, language: str, viewport: str) -> Path:
    watch = Watch(app.url)
    context = browser.new_context(base_url=app.url, viewport=VIEWPORTS[viewport], locale=LOCALES[language])
    watch.attach(context)
    try:
        page = context.new_page()
        shot.flow(page, ids)
        page.evaluate(SETTLED)  # no toast or dialog caught mid-fade
        if watch.problems:
            raise RuntimeError(f"{file_name(shot, language, viewport)}: " + "; ".join(watch.problems))
        path = OUT / file_name(shot, language, viewport)
        page.screenshot(path=str(path), animations="disabled", full_page=shot.full_page)
        return path
    finally:
        context.close()


def main(prefixes: list[str]) -> int:
    """Every shot, or (``prefixes`` given: ``setup-`` …) only the shots whose
    names start with one of them, deleting nothing then."""
    OUT.mkdir(parents=True, exist_ok=True)
    chosen = [shot for shot in SHOTS if not prefixes or shot.name.startswith(tuple(prefixes))]
    written: set[Path] = set()
    with tempfile.TemporaryDirectory() as tmp, live_app(Path(tmp), "sqlite") as app, sync_playwright() as pw:
        ids = seed(app)
        browser = launch_chromium(pw)
        try:
            for shot in chosen:
                if shot in SETUP_SHOTS and "layout_revision" not in ids:
                    seed_setup(app, ids)  # after the user guide's shots: their screens show no vehicle
                for language in shot.languages:
                    for viewport in shot.viewports:
                        path = shoot(browser, app, ids, shot, language, viewport)
                        written.add(path)
                        print(f"wrote {path.relative_to(OUT.parents[1])}")
        except RuntimeError as problem:
            print(problem, file=sys.stderr)
            return 1
        finally:
            browser.close()
    if prefixes:
        return 0
    for stale in sorted(set(OUT.glob("*.png")) - written):
        stale.unlink()
        print(f"removed {stale.relative_to(OUT.parents[1])}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
