"""Fixtures of the browser tests: one live app per test module and database
(SQLite, and PostgreSQL when ``METACRM_TEST_DATABASE_URL`` is set), one
headless chromium per session, and a fresh browser context per page. A test
fails on any console error, request leaving the app's origin or CSP violation
on any of its pages.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import sync_playwright

from tests.browser.support import BACKENDS, DESKTOP, PHONE, Watch, launch_chromium, live_app, new_page

WATCHES = pytest.StashKey[list[Watch]]()


@pytest.fixture(scope="module", params=BACKENDS)
def live(request, tmp_path_factory):
    with live_app(tmp_path_factory.mktemp("browser"), request.param) as app:
        yield app


@pytest.fixture(scope="session")
def browser():
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        yield browser
        browser.close()


@pytest.fixture
def open_page(browser, live, request):
    """``open_page(viewport)``: a page in a browser context of its own (its own
    cookies), watched for problems."""
    watches = request.node.stash.setdefault(WATCHES, [])
    contexts = []

    def open_(viewport=DESKTOP):
        watch = Watch(live.url)
        watches.append(watch)
        page = new_page(browser, live, viewport, watch)
        contexts.append(page.context)
        return page

    yield open_
    for context in contexts:
        context.close()


@pytest.fixture
def page(open_page):
    return open_page(DESKTOP)


@pytest.fixture
def phone_page(open_page):
    return open_page(PHONE)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    """Fail the test itself (not its teardown) on what its pages reported."""
    result = yield
    problems = [problem for watch in item.stash.get(WATCHES, []) for problem in watch.problems]
    assert not problems, "the browser reported:\n" + "\n".join(problems)
    return result
