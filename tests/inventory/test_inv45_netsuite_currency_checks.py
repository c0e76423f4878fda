"""An order NetSuite holds in another currency than its own is never recorded
confirmed, however it was reached.

- The kept "send without the currency" answer found stale (Multiple
  Currencies turned on): the order is upserted again with its currency. An
  update NetSuite applies without changing the order's currency leaves it in
  the vendor's: that read-back is compared too (``currency_mismatch`` naming
  the booked record, nothing kept).
- A send whose answer was lost is read back by external id before anything is
  sent again: the order found is compared the same way.
- A refusal naming "field: currency" is the order's field only when
  ``o:errorPath`` says so, or, without one, when the message does not point at
  a sublist line."""

import json

import pytest
import requests
import responses

from integrations.errors import ProviderError
from inventory import services
from tests.inventory.contract import harness_netsuite as ns
from tests.inventory.netsuite_currency import (
    NOT_EXPOSED,
    account_with,
    currency_answer,
    currency_queries,
    refused,
    rows,
    send,
)
from tests.inventory.test_inv44_netsuite_currency_put import NOT_SETTABLE, NetSuite

pytestmark = pytest.mark.django_db

EUR_ID = "7"
USD_ID = "1"  # the vendor's


@pytest.fixture(autouse=True)
def _one_attempt(settings):
    settings.PROVIDER_MAX_ATTEMPTS = 1


class Orders(NetSuite):
    """NetSuite's orders by external id (none: 404): created in the currency
    sent (else ``booked``); an update keeps the order's currency
    (``keeps_currency``). ``lose``: the currency id (or "none") of the next
    PUT applied whose answer is then lost (a read timeout)."""

    def __init__(self, rsps, booked: str | None = None):
        super().__init__(rsps, booked=booked)
        self.held: dict[str, str | None] = {}
        self.keeps_currency = True
        self.lose: str | None = None

    def put(self, request):
        body = json.loads(request.body)
        self.puts.append((request.url, body))
        sent = (body.get("currency") or {}).get("id")
        key = request.url.split("?")[0]
        if key not in self.held or not self.keeps_currency:
            self.held[key] = sent or self.booked
        if self.lose == (sent or "none"):
            self.lose = None
            raise requests.exceptions.ReadTimeout("read timed out")
        return 204, {}, ""

    def get(self, request):
        key = request.url.split("?")[0]
        if key not in self.held:
            return 404, {}, json.dumps(ns.load("error_not_found.json"))
        record = {**ns.load("purchase_order.json"), "id": "3581"}
        if self.held[key] is None:
            record.pop("currency")
        else:
            record["currency"] = {"links": [], "id": self.held[key], "refName": "X"}
        return 200, {}, json.dumps(record)

    def currencies(self) -> list:
        return [(body.get("currency") or {}).get("id") for body in self.bodies()]


def _send_again(order, account):
    """The same order sent again (its earlier answer lost); it and the error."""
    try:
        services.purchase_order_send(purchase_order=order, account=account)
    except (services.InventoryError, ProviderError) as error:
        order.refresh_from_db()
        return order, error
    order.refresh_from_db()
    return order, None


def _multiple_currencies_on(rsps) -> None:
    rsps.replace(
        responses.POST,
        ns.SUITEQL,
        json=rows({"id": EUR_ID, "symbol": "EUR", "isinactive": "F"}),
        match=[ns.query_contains("FROM currency")],
    )


def _mismatch(order, booked: str) -> None:
    assert order.status != "confirmed"
    assert order.last_error.startswith("currency_mismatch: "), order.last_error
    assert f"currency record {booked}" in order.last_error


def test_a_stale_resend_netsuite_leaves_in_the_vendors_currency_is_a_mismatch():
    account = account_with({"single_currency": "EUR"})
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        currency_answer(rsps, status=400, body=refused(NOT_EXPOSED))
        erp = Orders(rsps)
        first, _ = send(account)  # kept: sent without
        _multiple_currencies_on(rsps)
        erp.booked = USD_ID
        second, error = send(account)
        third, _ = send(account)
        asked = currency_queries(rsps)
    assert first.status == "confirmed" and third.status == "confirmed"
    assert error is not None
    _mismatch(second, USD_ID)
    # Sent without (kept), again in EUR (not applied); no "without" kept, so
    # the third order goes in EUR at once (the record's id asked once).
    assert erp.currencies() == [None, None, EUR_ID, EUR_ID]
    assert asked == 2


def test_a_stale_resend_netsuite_applies_is_confirmed():
    account = account_with({"single_currency": "EUR"})
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        currency_answer(rsps, status=400, body=refused(NOT_EXPOSED))
        erp = Orders(rsps)
        send(account)
        _multiple_currencies_on(rsps)
        erp.booked, erp.keeps_currency = USD_ID, False
        second, error = send(account)
    assert error is None and second.status == "confirmed"
    assert erp.currencies() == [None, None, EUR_ID]


def test_a_stale_resend_whose_answer_is_lost_is_checked_when_found():
    account = account_with({"single_currency": "EUR"})
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        currency_answer(rsps, status=400, body=refused(NOT_EXPOSED))
        erp = Orders(rsps)
        send(account)
        _multiple_currencies_on(rsps)
        # The upsert again in EUR is applied (not to the currency), its
        # answer lost.
        erp.booked, erp.lose = USD_ID, EUR_ID
        lost, error = send(account)
        assert error is not None and error.code == "read_timeout"
        found, error = _send_again(lost, account)  # read back by external id
    assert error is not None
    _mismatch(found, USD_ID)
    # Nothing sent again on the second send: the order NetSuite holds is read.
    assert erp.currencies() == [None, None, EUR_ID]


@pytest.mark.parametrize(
    ("held", "confirmed"), [(EUR_ID, True), (USD_ID, False), (None, True)]
)
def test_an_order_found_by_external_id_after_a_lost_answer(held, confirmed):
    account = account_with()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        currency_answer(
            rsps, body=rows({"id": EUR_ID, "symbol": "EUR", "isinactive": "F"})
        )
        erp = Orders(rsps)
        erp.lose = EUR_ID
        order, error = send(account)
        assert error is not None and error.code == "read_timeout"
        # NetSuite holds it in ``held`` (an order staff changed there, or one
        # the PUT booked otherwise); None: no currency on the record.
        erp.held = {key: held for key in erp.held}
        order, error = _send_again(order, account)
    assert len(erp.puts) == 1  # read back, not sent again
    if confirmed:
        assert error is None and order.status == "confirmed"
    else:
        assert error is not None
        _mismatch(order, USD_ID)


def _line_refusal(detail: str, path: str | None) -> dict:
    body = refused(detail, code="INVALID_FLD_VALUE")
    if path is not None:
        body["o:errorDetails"][0]["o:errorPath"] = path
    return body


@pytest.mark.parametrize(
    ("detail", "path"),
    [
        # The path names a line's field: the message cannot make it the order's.
        (
            "Invalid Field Value 7 for the following field: currency",
            "item.items[0].currency",
        ),
        ("Invalid Field Value 7 for the following field: currency", "item"),
        # No path: the message points at a sublist line.
        (
            "Invalid Field Value 7 for the following field: currency on line 1 "
            "of sublist item",
            None,
        ),
        ("Invalid Field Value 7 for the following field: item.items[0].currency", None),
    ],
)
def test_a_line_fields_refusal_is_not_sent_again_without_the_currency(detail, path):
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        currency_answer(
            rsps, body=rows({"id": EUR_ID, "symbol": "EUR", "isinactive": "F"})
        )
        erp = NetSuite(rsps, refuse=_line_refusal(detail, path))
        order, error = send(account_with({"single_currency": "EUR"}))
    assert error is not None and len(erp.puts) == 1
    assert order.last_error.startswith("invalid_request: "), order.last_error


@pytest.mark.parametrize(
    ("detail", "path"),
    [
        ("Invalid Field Value 7 for the following field: currency", "currency"),
        ("Invalid Field Value 7 for the following field: currency", None),
        (NOT_SETTABLE, None),
    ],
)
def test_the_orders_field_refused_is_sent_again_without_it(detail, path):
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        currency_answer(
            rsps, body=rows({"id": EUR_ID, "symbol": "EUR", "isinactive": "F"})
        )
        erp = NetSuite(rsps, refuse=_line_refusal(detail, path))
        order, error = send(account_with({"single_currency": "EUR"}))
    assert error is None and len(erp.puts) == 2
    assert order.status == "confirmed"
