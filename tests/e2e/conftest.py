"""Browser harness: Playwright (sync API) driving Debian's Chromium, headless,
against pytest-django's live server. A failing test leaves a screenshot in
test-artifacts/."""

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import CHROMIUM

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
# Flags for a container or CI box: no sandbox (root, no user namespaces), no
# GPU, /tmp instead of a small /dev/shm, and nothing that phones home.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
TIMEOUT_MS = 10_000

_call_report = pytest.StashKey["pytest.TestReport"]()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo
) -> Iterator[None]:
    report = yield
    if report.when == "call":
        item.stash[_call_report] = report
    return report


def screenshot_path(nodeid: str) -> Path:
    """Where the screenshot of a failed test goes: one file name per test."""
    return ARTIFACTS / (re.sub(r"[^A-Za-z0-9_.-]+", "_", nodeid).strip("_") + ".png")


@pytest.fixture(scope="module")
def browser() -> Iterator["object"]:
    """One browser per test file: while Playwright's sync API runs, its event
    loop is visible to the whole thread as running, so asgiref (Django's
    database connections) keeps a connection per context in it; held to the
    session end, every later test of the xdist worker ran so."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser, request: pytest.FixtureRequest) -> Iterator["object"]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    yield page
    save_failure_screenshot(page, request.node)
    context.close()


def save_failure_screenshot(page, item: pytest.Item) -> Path | None:
    """Screenshot ``page`` if ``item``'s test body failed; return the file."""
    report = item.stash.get(_call_report, None)
    if report is None or not report.failed:
        return None
    target = screenshot_path(item.nodeid)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(target), full_page=True)
    return target


@pytest.fixture
def admin_login(page, live_server, django_user_model):
    """Log a staff user in through the admin's login form; return the page."""

    def login() -> object:
        django_user_model.objects.create_superuser(
            "staff", "staff@example.com", "correct horse battery"
        )
        page.goto(f"{live_server.url}/admin/login/?next=/admin/")
        page.fill("#id_username", "staff")
        page.fill("#id_password", "correct horse battery")
        page.click("input[type=submit]")
        page.wait_for_url(f"{live_server.url}/admin/")
        return page

    return login
