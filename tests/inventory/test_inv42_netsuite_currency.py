"""A NetSuite purchase order's currency record, looked up by SuiteQL.

Without the Multiple Currencies feature the currency record is not exposed
("You must have the Multiple Currencies feature enabled before you can use
this record through REST web services": Oracle, REST record "Currency"), and
SuiteQL answers a query on a record it does not expose with a 400 in the
documented error envelope ("Error Handling in REST Web Services"), its detail
"Invalid search query. ... Search error occurred: Record 'currency' was not
found." (``INVALID_PARAMETER``; the same answer public NetSuite clients
handle for the subsidiary record without OneWorld, some with typographic
quotes). Such an account books every order in its one currency: the order is
sent without the currency field when the account states that currency as the
order's; a stated other currency is a real mismatch, refused and stored for
staff (none stated: test_r_inv42_currency_fallback).

An inactive currency record (``isinactive`` 'T') is refused clearly, never
set on an order."""

import json

import pytest
import responses

from tests.inventory.netsuite_currency import NOT_EXPOSED
from tests.inventory.netsuite_currency import currency_answer as _currency_answer
from tests.inventory.netsuite_currency import refused as _refused
from tests.inventory.netsuite_currency import rows as _rows
from tests.inventory.netsuite_currency import send_one as _send

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _one_attempt(settings):
    settings.PROVIDER_MAX_ATTEMPTS = 1


def test_without_multiple_currencies_the_order_is_sent_without_its_currency():
    # Only with the account's currency stated: the same answer comes from a
    # role that cannot read currencies (test_r_inv42_currency_fallback).
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        _currency_answer(rsps, status=400, body=_refused(NOT_EXPOSED))
        puts, (order, error) = _send(rsps, settings={"single_currency": "EUR"})
    assert error is None
    assert len(puts) == 1 and "currency" not in puts[0]
    assert puts[0]["item"]["items"][0]["rate"] == 1.0
    assert order.status == "confirmed" and order.last_error == ""  # read back B


def test_typographic_quotes_in_the_answer_are_the_same_answer():
    detail = NOT_EXPOSED.replace("'currency'", "\u2018currency\u2019")
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        _currency_answer(rsps, status=400, body=_refused(detail))
        puts, (_, error) = _send(rsps, settings={"single_currency": "EUR"})
    assert error is None and "currency" not in puts[0]


def test_the_account_currency_stated_and_equal_sends_without_the_field():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        _currency_answer(rsps, status=400, body=_refused(NOT_EXPOSED))
        puts, (_, error) = _send(rsps, settings={"single_currency": "eur"})
    assert error is None and len(puts) == 1 and "currency" not in puts[0]


def test_the_account_currency_stated_and_different_is_refused_for_staff():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        _currency_answer(rsps, status=400, body=_refused(NOT_EXPOSED))
        puts, (order, error) = _send(rsps, settings={"single_currency": "USD"})
    assert puts == []
    assert error is not None and error.code == "erp_rejected"
    assert order.status == "draft"
    assert order.last_error.startswith("currency_mismatch: ")
    assert "USD" in order.last_error and "EUR" in order.last_error


def test_another_refused_query_is_not_taken_for_a_missing_feature():
    detail = "Invalid search query. Search error occurred: Unknown identifier 'x'."
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        _currency_answer(rsps, status=400, body=_refused(detail))
        puts, (order, error) = _send(rsps)
    assert puts == [] and error is not None
    assert order.last_error.startswith("invalid_request: ")


def test_an_inactive_currency_is_refused_clearly():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        _currency_answer(
            rsps, body=_rows({"id": "4", "symbol": "EUR", "isinactive": "T"})
        )
        puts, (order, error) = _send(rsps)
    assert puts == [] and error is not None
    assert order.last_error.startswith("inactive_currency: ")
    assert "EUR" in order.last_error and "inactive" in order.last_error


def test_an_active_record_is_chosen_over_an_inactive_one_of_the_same_code():
    rows = _rows(
        {"id": "4", "symbol": "EUR", "isinactive": "T"},
        {"id": "12", "symbol": "EUR", "isinactive": "F"},
    )
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        _currency_answer(rsps, body=rows)
        puts, (_, error) = _send(rsps)
    assert error is None and puts[0]["currency"] == {"id": "12"}


def test_the_look_up_asks_for_isinactive():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        _currency_answer(
            rsps, body=_rows({"id": "4", "symbol": "EUR", "isinactive": "F"})
        )
        _send(rsps)
        asked = [
            json.loads(c.request.body)["q"]
            for c in rsps.calls
            if b"FROM currency" in (c.request.body or b"")
        ]
    assert asked and "isinactive" in asked[0]
