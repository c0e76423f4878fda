"""Staff flip failover order in the ProviderAccount change list."""

import pytest

from integrations.models import ProviderAccount
from tests.e2e.conftest import _call_report, save_failure_screenshot, screenshot_path
from tests.factories import ProviderAccountFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_change_list_edits_change_failover_order(admin_login, live_server):
    primary = ProviderAccountFactory(
        slug="pay-primary", display_name="Pay primary", priority=10
    )
    backup = ProviderAccountFactory(
        slug="pay-backup", display_name="Pay backup", priority=20
    )
    ProviderAccountFactory(
        kind="shipping", slug="ship", display_name="Ship", priority=10
    )
    page = admin_login()

    page.goto(f"{live_server.url}/admin/integrations/provideraccount/")
    row = {
        account.slug: page.locator(
            "#result_list tbody tr", has=page.get_by_role("link", name=name)
        )
        for account, name in ((primary, "Pay primary"), (backup, "Pay backup"))
    }
    row["pay-primary"].locator("input[name$='-priority']").fill("30")
    row["pay-backup"].locator("input[name$='-priority']").fill("5")
    page.click("input[name='_save']")
    page.locator(".messagelist .success").wait_for()

    order = list(
        ProviderAccount.objects.filter(kind="payments")
        .order_by("priority")
        .values_list("slug", "priority")
    )
    assert order == [("pay-backup", 5), ("pay-primary", 30)]
    # The page the staff member sees after saving shows the same order.
    names = page.locator("#result_list tbody th a").all_inner_texts()
    assert names.index("Pay backup") < names.index("Pay primary")


def _report(item: pytest.Item, outcome: str) -> pytest.TestReport:
    return pytest.TestReport(item.nodeid, item.location, {}, outcome, None, "call")


def test_failed_test_leaves_a_screenshot(page, live_server, request):
    page.goto(f"{live_server.url}/admin/login/")
    item = request.node
    item.stash[_call_report] = _report(item, "passed")
    assert save_failure_screenshot(page, item) is None

    item.stash[_call_report] = _report(item, "failed")
    target = save_failure_screenshot(page, item)
    try:
        assert target == screenshot_path(item.nodeid)
        assert target.parent.name == "test-artifacts"
        assert "::" not in target.name and target.name.endswith(".png")
        assert target.read_bytes().startswith(b"\x89PNG")
    finally:
        target.unlink()
