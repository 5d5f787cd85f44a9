"""What the browser tests and the screenshot script share: the live app on a
free port, the headless chromium, the watch that fails a test on a console
error, a request leaving the app or a CSP violation, and the helpers that act
as a user does (labels, roles, visible text) or run axe-core on a page.
"""

from __future__ import annotations

import contextlib
import logging
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import BrowserContext, ConsoleMessage, Page, Response, Route, expect
from werkzeug.serving import make_server

from metacrm.app import build_instance, create_app
from metacrm.cli import DEMO_ROLES, DEMO_TENANT, create_demo_tenant
from metacrm.platform.instance import Instance

# The suite's database helpers, imported in this one place.
from tests.conftest import BACKENDS, PASSWORD, drop_namespaces, make_config  # noqa: F401 - BACKENDS re-exported to the conftest

CHROMIUM = "/usr/bin/chromium"
# Debian's chromium as root, offline, without its background chatter.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
ADMIN = "admin@demo.example.com"
# The demo's users by role: sales_rep -> sales.rep@demo.example.com, …
USERS = {role: f"{role.replace('_', '.')}@demo.example.com" for role, _name in DEMO_ROLES}
CSP_LISTENER = Path(__file__).with_name("csp_listener.js")
BLOCKING_IMPACTS = ("serious", "critical")
# Requests whose answer the app renders whatever its status: pages and htmx swaps.
ANSWERS = ("document", "xhr", "fetch")


@dataclass
class LiveApp:
    """The served app: its base URL, and its instance for seeding records."""

    url: str
    instance: Instance


@contextlib.contextmanager
def live_app(tmp_path: Path, backend: str) -> Iterator[LiveApp]:
    """The real app (crm_core installed through its entry point) with the demo
    organisation and its users, served on a free port of 127.0.0.1 by a thread."""
    config = make_config(tmp_path, backend, DEFAULT_TENANT=DEMO_TENANT)
    instance = build_instance(config)
    instance.upgrade_platform()
    try:
        create_demo_tenant(instance, admin_email=ADMIN, password=PASSWORD, records=False, package_names=["crm_core"])
        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request
        server = make_server("127.0.0.1", 0, create_app(instance=instance), threaded=True)
        thread = threading.Thread(target=server.serve_forever, name="live-app", daemon=True)
        thread.start()
        try:
            yield LiveApp(url=f"http://127.0.0.1:{server.server_port}", instance=instance)
        finally:
            server.shutdown()
            thread.join()
    finally:
        drop_namespaces(instance)
        instance.dispose()


def launch_chromium(playwright):
    if not Path(CHROMIUM).exists():
        raise RuntimeError(f"no {CHROMIUM}: install Debian's chromium (apt-get install -y chromium), as .ci/run does")
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


@dataclass
class Watch:
    """Collects what must never happen on a screen, for one browser context."""

    origin: str
    problems: list[str] = field(default_factory=list)

    def attach(self, context: BrowserContext) -> None:
        context.add_init_script(path=str(CSP_LISTENER))
        context.on("console", self._console)
        context.on("response", self._response)
        context.on("page", lambda page: page.on("pageerror", lambda exc: self.problems.append(f"page error: {exc}")))
        context.route("**/*", self._route)

    def _console(self, message: ConsoleMessage) -> None:
        # Chromium logs every response >= 400 as "Failed to load resource", the
        # pages the app answers with 401 or 422 on purpose too: _response
        # judges those by what was loaded.
        if message.type == "error" and not message.text.startswith("Failed to load resource:"):
            self.problems.append(f"console error: {message.text} ({message.location.get('url', '')})")

    def _response(self, response: Response) -> None:
        # A page or an htmx answer may carry an error status (a form with its
        # errors); a missing script, style sheet or image may not.
        if response.status >= 400 and response.request.resource_type not in ANSWERS:
            self.problems.append(f"{response.status} for {response.request.resource_type} {response.url}")

    def _route(self, route: Route) -> None:
        parts = urlsplit(route.request.url)
        if f"{parts.scheme}://{parts.netloc}" == self.origin:
            route.continue_()
        else:  # nothing leaves the app's origin, not even to fail
            self.problems.append(f"request to another origin: {route.request.url}")
            route.abort()


def new_page(browser, app: LiveApp, viewport: dict, watch: Watch) -> Page:
    context = browser.new_context(base_url=app.url, viewport=viewport, locale="en-GB")
    watch.attach(context)
    return context.new_page()


# The sign-in form's labels in the language the browser asks for.
SIGN_IN_LABELS = {
    "en": ("Organisation", "E-mail", "Password", "Sign in"),
    "zh": ("组织", "电子邮件", "密码", "登录"),
}


def fill_sign_in(page: Page, email: str, password: str = PASSWORD, organisation: str = DEMO_TENANT) -> None:
    """Fill the sign-in form as a person does, in the page's language, and press the button."""
    page.goto("/login")
    language = page.evaluate("document.documentElement.lang")[:2]
    tenant_label, email_label, password_label, button = SIGN_IN_LABELS.get(language, SIGN_IN_LABELS["en"])
    page.get_by_label(tenant_label).fill(organisation)
    page.get_by_label(email_label).fill(email)
    page.get_by_label(password_label).fill(password)
    page.get_by_role("button", name=button, exact=True).click()


def sign_in(page: Page, email: str, password: str = PASSWORD) -> None:
    fill_sign_in(page, email, password)
    expect(page.get_by_role("navigation", name=re.compile("^(Main|主导航)$"))).to_be_visible()
    # The deferred scripts (Bootstrap's menus, htmx) run before "load": a click before it does nothing.
    page.wait_for_load_state("load")


def open_user_menu(page: Page) -> None:
    """Open the user's menu in the top bar (unfolding the bar first on a phone)."""
    # The bar folds below Bootstrap's lg breakpoint (992 px): decide by the
    # viewport, not by the toggler's visibility, which races the stylesheet.
    page.wait_for_load_state("load")
    if page.viewport_size["width"] < 992:
        page.get_by_role("button", name=re.compile("^(Menu|菜单)$")).click()
        # Bootstrap adds "show" when the unfolding has ended: a click on the user's menu
        # while the bar still moves may land beside it (seen once on a loaded machine).
        expect(page.locator("#app-nav")).to_have_class(re.compile(r"\bshow\b"))
    page.locator("#user-menu").click()


def sign_out(page: Page) -> None:
    open_user_menu(page)
    page.get_by_role("button", name="Sign out", exact=True).click()


_axe = Axe()
# Resolves once every finite animation and transition running now has ended
# (page.evaluate, not wait_for_function: the strict CSP forbids the eval the latter uses).
SETTLED = """Promise.all(document.getAnimations()
    .filter(a => a.effect && a.effect.getTiming().iterations !== Infinity)
    .map(a => a.finished.catch(() => null)))
    .then(() => true)"""


def assert_accessible(page: Page) -> None:
    """No serious or critical axe-core violation on the page once its
    transitions (a toast fading in, a dialog opening) have ended: a colour
    measured mid-fade is not the colour a reader sees — nor before the style
    sheets apply (a page just navigated to shows its text first)."""
    page.wait_for_load_state("load")
    page.evaluate(SETTLED)
    # Toasts fade in and out on their own clock (autohide): their colours are
    # Bootstrap's text-bg-dark once shown, but mid-fade they measure as grey on grey.
    violations = _axe.run(page, context={"exclude": [["#toasts"]]}).response["violations"]
    blocking = [v for v in violations if v["impact"] in BLOCKING_IMPACTS]
    assert not blocking, "\n".join(
        f"{v['impact']} {v['id']}: {v['help']} at {[(n['target'], n.get('failureSummary')) for n in v['nodes']]}"
        for v in blocking
    )


def assert_no_horizontal_scrolling(page: Page) -> None:
    page.wait_for_load_state("load")  # measured before the stylesheets apply, an icon is 300 px wide
    width, viewport = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert width <= viewport, f"the page is {width} px wide in a {viewport} px viewport"


# SortableJS marks an item it is animating with an ``animated`` property.
SORTABLE_AT_REST = "() => ![...document.querySelectorAll('[draggable], li, .card')].some((e) => e.animated)"


def drag(page: Page, handle, target, *, dx: float = 0, dy: float = 0) -> None:
    """Drag ``handle`` onto ``target`` as a hand does: press, move in small
    steps (SortableJS decides on the moves in between; one jump is lost on a
    busy machine), rest until the items stop moving, nudge, release.
    ``dx``/``dy`` shift the drop from the target's top-left corner (default:
    its centre).

    The rest matters: SortableJS does not swap with an item that is still
    animating, so on a slow machine the last step can land on an item in
    flight and the drop falls one place short."""
    page.wait_for_load_state("load")  # SortableJS is a deferred script
    handle.scroll_into_view_if_needed()
    start, end = handle.bounding_box(), target.bounding_box()
    page.mouse.move(start["x"] + start["width"] / 2, start["y"] + start["height"] / 2)
    page.mouse.down()
    x = end["x"] + (dx or end["width"] / 2)
    y = end["y"] + (dy or end["height"] / 2)
    page.mouse.move(x, y, steps=12)
    for nudge in (1, 2):
        page.wait_for_function(SORTABLE_AT_REST)
        page.mouse.move(x, y + nudge, steps=2)
    page.wait_for_function(SORTABLE_AT_REST)
    page.mouse.up()
