"""inv46: every read-back of a NetSuite purchase order is compared for its
currency before the order is recorded, on the normal send too, and so is the
order staff record with "Found at the ERP".

An upsert by external id that finds an order NetSuite already holds (one
staff keyed in under our id, or one booked in the vendor's currency) updates
its lines but not its currency: the normal send's read-back then shows
another currency record than the order's, ``currency_mismatch`` for staff,
never confirmed. The record is NetSuite's documented purchaseOrder
(tests/fixtures/netsuite/purchase_order.json: currency record 1, USD)."""

import pytest
import responses

from tests.inventory.contract import harness_netsuite as ns
from tests.inventory.netsuite_currency import (
    EUR_ID,
    USD_ID,
    account_with,
    answer_orders,
    eur_listed,
    one_attempt,  # noqa: F401 (a fixture, used by name)
    record_in,
    send,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("one_attempt")]


def _mismatch(order, shown: str) -> None:
    assert order.status not in ("sent", "confirmed")
    assert order.last_error.startswith("currency_mismatch: "), order.last_error
    assert f"currency record {shown}" in order.last_error


def test_a_normal_send_read_back_in_another_currency_is_a_mismatch():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        eur_listed(rsps)
        puts = answer_orders(rsps, read_back=record_in(USD_ID))
        order, error = send(account_with())
    assert [body["currency"] for body in puts] == [{"id": EUR_ID}]
    assert error is not None
    _mismatch(order, USD_ID)
    assert order.external_reference == ""


def test_sent_again_it_is_read_not_upserted_until_corrected_in_netsuite():
    account = account_with()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        eur_listed(rsps)
        held = record_in(USD_ID)
        puts = answer_orders(rsps, read_back=held)
        order, _ = send(account)
        again, error = send(account, order)
        assert error is not None and len(puts) == 1
        _mismatch(again, USD_ID)
        # Staff correct the order's currency in NetSuite: the next send
        # reads it by external id and records it.
        held["currency"]["id"] = EUR_ID
        fixed, error = send(account, order)
    assert error is None and len(puts) == 1
    assert fixed.status == "confirmed" and fixed.last_error == ""
    assert fixed.external_reference == ns.PO_INTERNAL_ID
