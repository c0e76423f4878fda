"""When NetSuite refuses the purchase order's currency field itself, and when
the kept answer "send without the currency" has gone stale.

The upsert PUT can be refused for its ``currency`` field even though the
currency look-up answered an id: a role that may not set the field, or an
account without Multiple Currencies, gets "You do not have permissions to set
a value for element currency due to one of the following reasons: 1) The field
is read-only; 2) An associated feature is disabled; ...", the error's
``o:errorPath`` naming the field ("Error Handling in REST Web Services"). An
account stating its one currency equal to the order's is sent again once
without the field, by the same external id (an upsert: one order); any other
is refused for staff with a code that says so.

An account that states its one currency keeps "sent without the field" an
hour. After it turns Multiple Currencies on, the order read back carries a
currency reference: that answer drops the kept one, the currency is looked up
again and the order in hand is upserted again with it."""

import json

import pytest
import responses

from tests.inventory.contract import harness_netsuite as ns
from tests.inventory.netsuite_currency import (
    NOT_EXPOSED,
    RECORD,
    account_with,
    currency_answer,
    currency_queries,
    refused,
    refused_look_up,
    rows,
    send,
)

pytestmark = pytest.mark.django_db

NOT_SETTABLE = (
    "Error while accessing a resource. You do not have permissions to set a "
    "value for element currency due to one of the following reasons: 1) The "
    "field is read-only; 2) An associated feature is disabled; 3) The field is "
    "available either when a record is created or updated, but not in both cases."
)


@pytest.fixture(autouse=True)
def _one_attempt(settings):
    settings.PROVIDER_MAX_ATTEMPTS = 1


def _field_refused(path: str = "currency", detail: str = NOT_SETTABLE) -> dict:
    body = refused(detail, code="INVALID_FLD_VALUE")
    body["o:errorDetails"][0]["o:errorPath"] = path
    return body


class NetSuite:
    """The item look-up, PUTs and read-backs of a NetSuite whose PUT refuses
    the currency field (``refuse``: a body, or None) and whose orders are
    read back in ``booked`` (None: a record without currency, as an account
    without Multiple Currencies has) unless a currency was sent."""

    def __init__(self, rsps, refuse: dict | None = None, booked: str | None = None):
        self.puts: list[tuple[str, dict]] = []
        self.refuse = refuse
        self.booked = booked
        rsps.post(
            ns.SUITEQL,
            json={"items": [{"id": "501", "itemid": "A"}], "hasMore": False},
            match=[ns.query_lacks("FROM currency")],
        )
        rsps.add_callback("PUT", RECORD, callback=self.put)
        rsps.add_callback("GET", RECORD, callback=self.get)

    def put(self, request):
        body = json.loads(request.body)
        self.puts.append((request.url, body))
        if "currency" in body and self.refuse is not None:
            return 400, {}, json.dumps(self.refuse)
        return 204, {}, ""

    def get(self, request):
        record = {**ns.load("purchase_order.json"), "id": "3581"}
        sent = self.puts[-1][1].get("currency")
        currency = sent["id"] if sent else self.booked
        if currency is None:
            record.pop("currency")
        else:
            record["currency"] = {"links": [], "id": currency, "refName": "X"}
        return 200, {}, json.dumps(record)

    def bodies(self) -> list[dict]:
        return [body for _, body in self.puts]


def _eur(rsps) -> None:
    currency_answer(rsps, body=rows({"id": "7", "symbol": "EUR", "isinactive": "F"}))


def test_a_single_currency_account_is_sent_again_without_the_field_once():
    # The next order goes without it at once (kept as a refused look-up).
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        _eur(rsps)
        erp = NetSuite(rsps, refuse=_field_refused())
        account = account_with({"single_currency": "EUR"})
        order, error = send(account)
        first = list(erp.puts)
        later, _ = send(account)
    assert error is None
    assert [body.get("currency") for body in erp.bodies()] == [{"id": "7"}, None, None]
    # The same external id both times: NetSuite's upsert, one order.
    assert len({url for url, _ in first}) == 1
    assert order.status == later.status == "confirmed" and order.last_error == ""


def test_without_single_currency_a_refused_field_is_stored_for_staff():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        _eur(rsps)
        erp = NetSuite(rsps, refuse=_field_refused())
        order, error = send(account_with())
    assert error is not None and len(erp.puts) == 1
    assert order.status == "draft"
    assert order.last_error.startswith("currency_not_settable: ")
    assert "single_currency" in order.last_error


def test_a_stated_other_currency_is_a_mismatch_not_sent_again():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        _eur(rsps)
        erp = NetSuite(rsps, refuse=_field_refused())
        order, _ = send(account_with({"single_currency": "USD"}))
    assert len(erp.puts) == 1
    assert order.last_error.startswith("currency_mismatch: ")


def test_a_put_refused_for_another_field_is_not_sent_again():
    detail = "Invalid Field Value 9999 for the following field: item"
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        _eur(rsps)
        erp = NetSuite(rsps, refuse=_field_refused("item.items[0].item", detail))
        order, _ = send(account_with({"single_currency": "EUR"}))
    assert len(erp.puts) == 1
    assert order.last_error.startswith("invalid_request: ")


def test_the_field_named_only_in_the_detail_is_the_same_refusal():
    body = refused(NOT_SETTABLE, code="INVALID_FLD_VALUE")  # no o:errorPath
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        _eur(rsps)
        erp = NetSuite(rsps, refuse=body)
        order, error = send(account_with({"single_currency": "EUR"}))
    assert error is None and len(erp.puts) == 2
    assert order.status == "confirmed"


def test_a_kept_send_without_currency_is_dropped_when_netsuite_shows_one():
    account = account_with({"single_currency": "EUR"})
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        refused_look_up(rsps)
        erp = NetSuite(rsps)
        first, _ = send(account)
        # Multiple Currencies turned on: the look-up answers, and an order
        # sent without the field is booked in the vendor's (id 1).
        rsps.replace(
            responses.POST,
            ns.SUITEQL,
            json=rows({"id": "7", "symbol": "EUR", "isinactive": "F"}),
            match=[ns.query_contains("FROM currency")],
        )
        erp.booked = "1"
        second, _ = send(account)
        third, _ = send(account)
        asked = currency_queries(rsps)
    assert first.status == second.status == third.status == "confirmed"
    currencies = [body.get("currency") for body in erp.bodies()]
    # The second order is upserted again in EUR (same external id); the
    # third looks up no more and is sent in EUR at once.
    assert currencies == [None, None, {"id": "7"}, {"id": "7"}]
    assert erp.puts[1][0] == erp.puts[2][0]
    assert asked == 2


def test_an_order_shown_in_its_own_currency_is_not_sent_again():
    account = account_with({"single_currency": "EUR"})
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        refused_look_up(rsps)
        erp = NetSuite(rsps)
        send(account)
        rsps.replace(
            responses.POST,
            ns.SUITEQL,
            json=rows({"id": "7", "symbol": "EUR", "isinactive": "F"}),
            match=[ns.query_contains("FROM currency")],
        )
        erp.booked = "7"  # the vendor's currency is the order's
        order, _ = send(account)
    assert [body.get("currency") for body in erp.bodies()] == [None, None]
    assert order.status == "confirmed"


def test_a_record_without_currency_keeps_the_kept_answer():
    account = account_with({"single_currency": "EUR"})
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        currency_answer(rsps, status=400, body=refused(NOT_EXPOSED))
        erp = NetSuite(rsps)
        send(account)
        send(account)
        asked = currency_queries(rsps)
    assert [body.get("currency") for body in erp.bodies()] == [None, None]
    assert asked == 1
