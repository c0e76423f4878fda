"""Review of inv42: when may a NetSuite purchase order go without its currency?

SuiteQL's "Search error occurred: Record 'currency' was not found." is not
only the answer of an account without Multiple Currencies: it is what a role
without view permission on a record gets (public NetSuite clients read this
answer as "your role can't read that table", and probe the currency table to
find such roles because every account has currencies). On a multi-currency
account an order sent without its currency is booked in the vendor's, its
rates read in that currency. So the answer alone never drops the field: only
an account that states its one currency (``single_currency``) equal to the
order's is sent without it; otherwise the order is refused for staff.

That answer is kept per account like a currency's id, so a single-currency
account does not pay a refused SuiteQL query on every order. An order the
role could not set the currency of, booked in the vendor's, is refused and,
sent again, read by external id, never upserted over (r-inv45)."""

import json

import pytest
import responses

from integrations.forms import ProviderAccountForm
from tests.inventory.contract import harness_netsuite as ns
from tests.inventory.netsuite_currency import (
    EUR_ID,
    USD_ID,
    NetSuite,
    account_with,
    currency_queries,
    eur_listed,
    field_refusal,
    mismatch,
    multiple_currencies_on,
    one_attempt,  # noqa: F401 (a fixture, used by name)
    refused_look_up,
    send,
    send_orders,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("one_attempt")]


def test_a_role_that_cannot_read_currencies_does_not_drop_the_currency():
    # A multi-currency account whose integration role lacks the Currency
    # permission answers the same: the order must not go in the vendor's.
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        refused_look_up(rsps)
        puts, [order] = send_orders(rsps, 1)
    assert puts == []
    assert order.status == "draft"
    assert order.last_error.startswith("currency_unreadable: ")
    assert "single_currency" in order.last_error and "permission" in order.last_error


def test_a_refusal_for_staff_to_act_on_is_not_kept():
    # Staff give the role the Currency permission: the next send reads it.
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        refused_look_up(rsps)
        account = account_with()
        _, [refused] = send_orders(rsps, 1, account)
        multiple_currencies_on(rsps)
        _, [sent] = send_orders(rsps, 1, account)
        put = [
            json.loads(c.request.body) for c in rsps.calls if c.request.method == "PUT"
        ]
    # One PUT in all: the second order's (the first was refused before it).
    assert refused.last_error.startswith("currency_unreadable: ")
    assert sent.status == "confirmed" and sent.last_error == ""
    assert [body["currency"] for body in put] == [{"id": "7"}]


def test_the_refused_look_up_is_kept_for_a_single_currency_account():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        refused_look_up(rsps)
        account = account_with({"single_currency": "EUR"})
        puts, orders = send_orders(rsps, 2, account)
        asked = currency_queries(rsps)
    assert len(puts) == 2 and all("currency" not in body for body in puts)
    assert [o.status for o in orders] == ["confirmed", "confirmed"]
    assert asked == 1


def test_a_kept_answer_still_refuses_another_currency():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        refused_look_up(rsps)
        account = account_with({"single_currency": "EUR"})
        puts, _ = send_orders(rsps, 1, account)
        account.settings = {**account.settings, "single_currency": "USD"}
        account.save()
        more, [order] = send_orders(rsps, 1, account)
        asked = currency_queries(rsps)
    assert len(puts) == 1 and more == []
    assert order.last_error.startswith("currency_mismatch: ")
    assert asked == 1


def test_an_order_booked_in_the_vendors_currency_is_read_not_upserted_when_sent_again():
    # The role may not set Currency: sent again without it (the account
    # states EUR), NetSuite booked it in the vendor's. A send again reads the
    # order it holds, never upserts over it (r-inv45).
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        eur_listed(rsps)
        erp = NetSuite(rsps, refuse=field_refusal(), booked=USD_ID)
        account = account_with({"single_currency": "EUR"})
        order, error = send(account)
        assert error is not None and len(erp.puts) == 2
        mismatch(order, USD_ID)
        again, error = send(account, order)
    assert error is not None
    mismatch(again, USD_ID)
    assert len(erp.puts) == 2
    assert erp.currencies() == [EUR_ID, None]


def _form(single_currency: str) -> ProviderAccountForm:
    data = {
        "kind": "inventory",
        "provider": "netsuite",
        "slug": "ns-r-inv42",
        "display_name": "NetSuite",
        "priority": "100",
        "enabled": "on",
        "mode": "live",
        "setting__account_id": "1234567_SB1",
        "setting__single_currency": single_currency,
        **{f"credential__{k}": v for k, v in ns.CREDENTIALS.items()},
    }
    return ProviderAccountForm(data=data)


@pytest.mark.parametrize("value", ["EURO", "$", "US Dollar", "XYZ"])
def test_the_account_form_refuses_a_single_currency_that_is_no_iso_code(value):
    form = _form(value)
    assert not form.is_valid()
    assert "setting__single_currency" in form.errors


@pytest.mark.parametrize(("value", "stored"), [(" eur ", "EUR"), ("", "")])
def test_the_account_form_stores_the_code_upper_cased(value, stored):
    form = _form(value)
    assert form.is_valid(), form.errors
    assert form.save().settings["single_currency"] == stored
