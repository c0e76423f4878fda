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

from inventory.models import PurchaseOrder
from tests.inventory.contract import harness_netsuite as ns
from tests.inventory.netsuite_currency import (
    EUR_ID,
    USD_ID,
    account_with,
    answer_orders,
    currency_answer,
    eur_listed,
    mismatch,
    one_attempt,  # noqa: F401 (a fixture, used by name)
    record_in,
    send,
    sent_held_in,
)
from tests.inventory.purchase_orders import (
    checked_by_staff,
    found_at_erp_posted,
    found_form_error,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("one_attempt")]

FOUND_URL = f"{ns.BASE}/record/v1/purchaseOrder/{ns.PO_INTERNAL_ID}"


def test_a_normal_send_read_back_in_another_currency_is_amismatch():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        _, puts, (order, error) = sent_held_in(rsps, USD_ID, account_with())
    assert [body["currency"] for body in puts] == [{"id": EUR_ID}]
    assert error is not None
    mismatch(order, USD_ID)
    assert order.external_reference == ""


def test_sent_again_it_is_read_not_upserted_until_corrected_in_netsuite():
    account = account_with()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        held, puts, (order, _) = sent_held_in(rsps, USD_ID, account)
        again, error = send(account, order)
        assert error is not None and len(puts) == 1
        mismatch(again, USD_ID)
        # Staff correct the order's currency in NetSuite: the next send
        # reads it by external id and records it.
        held["currency"]["id"] = EUR_ID
        fixed, error = send(account, order)
    assert error is None and len(puts) == 1
    assert fixed.status == "confirmed" and fixed.last_error == ""
    assert fixed.external_reference == ns.PO_INTERNAL_ID


@pytest.fixture
def unresolved() -> PurchaseOrder:
    return checked_by_staff(account_with())


def _found(admin_client, order: PurchaseOrder, record: dict):
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        eur_listed(rsps)
        rsps.get(FOUND_URL, json=record)
        response = found_at_erp_posted(admin_client, order, ns.PO_INTERNAL_ID)
        asked = [c.request.url for c in rsps.calls]
    order.refresh_from_db()
    return response, asked


def test_found_at_the_erp_in_another_currency_is_refused(admin_client, unresolved):
    record = {**record_in(USD_ID), "externalId": unresolved.public_id}
    response, _ = _found(admin_client, unresolved, record)
    error = found_form_error(response)
    assert f"currency record {USD_ID}" in error and "EUR" in error
    assert (unresolved.status, unresolved.external_reference) == ("unresolved", "")
    assert unresolved.last_error == "unresolved: checked by staff"


def test_found_at_the_erp_in_its_own_currency_is_recorded(admin_client, unresolved):
    record = {**record_in(EUR_ID), "externalId": unresolved.public_id}
    response, _ = _found(admin_client, unresolved, record)
    assert response.status_code == 302
    assert unresolved.external_reference == ns.PO_INTERNAL_ID
    assert unresolved.status == "confirmed" and unresolved.last_error == ""


def test_another_orders_currency_is_not_looked_up(admin_client, unresolved):
    # Not ours by its external id: refused as such, no currency asked.
    record = {**record_in(USD_ID), "externalId": "po_someone_else"}
    response, asked = _found(admin_client, unresolved, record)
    assert "po_someone_else" in found_form_error(response)
    assert asked == [FOUND_URL]
    assert unresolved.status == "unresolved"


def test_a_record_without_currency_is_recorded(admin_client, unresolved):
    # An account without Multiple Currencies shows none: nothing to compare.
    record = {**record_in(EUR_ID), "externalId": unresolved.public_id}
    record.pop("currency")
    response, _ = _found(admin_client, unresolved, record)
    assert response.status_code == 302 and unresolved.status == "confirmed"


def test_the_currency_look_up_answer_is_shared_with_sends(admin_client, unresolved):
    record = {**record_in(EUR_ID), "externalId": unresolved.public_id}
    _found(admin_client, unresolved, record)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        currency_answer(rsps, status=500, body={})  # not asked again: kept
        answer_orders(rsps, read_back=record_in(EUR_ID))
        order, error = send(unresolved.account)
    assert error is None and order.status == "confirmed"
