"""inv49: ``inventory_currency_audit --account`` naming an account it cannot
audit says so in one line, as ``sync_inventory`` does, and exits non-zero
with nothing else printed: a payments or shipping account's slug is named
for what it is (not "no inventory account"), and a disabled inventory
account is refused as disabled before any of its orders is listed."""

from io import StringIO

import pytest
import responses
from django.core.management import CommandError, call_command

from tests.factories import ProviderAccountFactory
from tests.inventory.contract import harness_tradegecko as tg
from tests.inventory.purchase_orders import purchase_order

pytestmark = pytest.mark.django_db


def _refused(*args: str) -> str:
    """The command's one-line refusal; nothing printed, nothing asked."""
    out, err = StringIO(), StringIO()
    with responses.RequestsMock(), pytest.raises(CommandError) as caught:
        call_command("inventory_currency_audit", *args, stdout=out, stderr=err)
    assert (out.getvalue(), err.getvalue()) == ("", "")
    assert caught.value.returncode != 0
    text = str(caught.value)
    assert text and "\n" not in text
    return text


@pytest.mark.parametrize("kind", ["payments", "shipping"])
def test_another_kinds_account_is_named_for_what_it_is(kind):
    ProviderAccountFactory(kind=kind, slug="not-an-erp")
    assert _refused("--account", "not-an-erp") == (
        f"Account 'not-an-erp' is a {kind} account, not an inventory one."
    )


def test_a_disabled_account_named_is_one_line_and_nothing_else():
    account = tg.make_account()
    purchase_order(account=account, reference="101", status="received")
    type(account).objects.filter(pk=account.pk).update(enabled=False)
    text = _refused("--account", account.slug)
    assert text.startswith(f"Inventory account {account.slug!r} is disabled")


def test_a_disabled_account_among_others_is_refused_before_any_is_read():
    off = tg.make_account()
    type(off).objects.filter(pk=off.pk).update(enabled=False, slug="erp-off")
    on = tg.make_account()
    purchase_order(account=on, reference="102", status="received")
    text = _refused("--account", on.slug, "--account", "erp-off")
    assert text.startswith("Inventory account 'erp-off' is disabled")


def test_an_unknown_slug_still_says_no_such_account():
    assert _refused("--account", "nope") == "No inventory account 'nope'."
