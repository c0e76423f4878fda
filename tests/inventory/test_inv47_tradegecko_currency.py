"""inv47: a TradeGecko purchase order carries its own ``currency_id`` (the
provider spec's purchase_orders recording: ``"currency_id":4`` on each, the
account's ``default_currency_id`` apart), so an order staff find there
("Found at the ERP") may be held in another currency than ours: one keyed
in by hand under our reference number, in the account's default, or one
whose currency was changed there. It is compared as NetSuite's is
(``erp_currency.held_check``): another currency is ``currency_mismatch``, a
form error, the order left unresolved. The recorded order is currency 4
(SGD); the test orders are EUR (2051 in the harness's currency list)."""

import pytest

from inventory.models import PurchaseOrder
from tests.inventory.contract import harness_tradegecko as tg
from tests.inventory.purchase_orders import (
    checked_by_staff,
    found_form_error,
    purchase_order,
)
from tests.inventory.tradegecko_currency import (
    ERP_ID,
    ORDER_URL,
    at_gecko,
    found_at_erp,
    send_answered,
)

pytestmark = pytest.mark.django_db

SGD_ID, EUR_ID = tg.CURRENCY_IDS["SGD"], tg.CURRENCY_IDS["EUR"]


@pytest.fixture(autouse=True)
def _one_attempt(settings):
    settings.PROVIDER_MAX_ATTEMPTS = 1


@pytest.fixture
def unresolved() -> PurchaseOrder:
    order = checked_by_staff(tg.make_account())
    assert order.currency == "EUR"
    return order


def test_found_at_the_erp_in_another_currency_is_refused(admin_client, unresolved):
    # The recording's own order: currency 4, SGD, under our reference.
    body = at_gecko(unresolved.public_id)
    assert body["purchase_order"]["currency_id"] == SGD_ID
    response, asked = found_at_erp(admin_client, unresolved, body)
    error = found_form_error(response)
    assert f"currency record {SGD_ID}" in error and "EUR" in error
    assert asked == [ORDER_URL, tg.CURRENCIES]
    assert (unresolved.status, unresolved.external_reference) == ("unresolved", "")
    assert unresolved.last_error == "unresolved: checked by staff"


def test_found_at_the_erp_in_its_own_currency_is_recorded(admin_client, unresolved):
    body = at_gecko(unresolved.public_id, currency_id=EUR_ID)
    response, _ = found_at_erp(admin_client, unresolved, body)
    assert response.status_code == 302, response.content.decode()
    assert (unresolved.status, unresolved.external_reference) == ("sent", "28381")
    assert unresolved.last_error == ""


def test_one_cancelled_there_in_another_currency_is_recorded_cancelled(
    admin_client, unresolved
):
    # Nothing to receive or pay: recorded as it stands, never refused for ever.
    body = at_gecko(unresolved.public_id, status="void")
    response, _ = found_at_erp(admin_client, unresolved, body)
    assert response.status_code == 302
    assert unresolved.status == "cancelled"


def test_another_orders_currency_is_not_looked_up(admin_client, unresolved):
    # Not ours by its reference number: refused as such, no currency asked.
    body = at_gecko("PO-SOMEONE-ELSE")
    response, asked = found_at_erp(admin_client, unresolved, body)
    assert "PO-SOMEONE-ELSE" in found_form_error(response)
    assert asked == [ORDER_URL]
    assert unresolved.status == "unresolved"


def _draft() -> PurchaseOrder:
    return purchase_order(account=tg.make_account(), status="draft")


def test_a_send_answered_in_another_currency_is_not_recorded():
    # The answer is the order TradeGecko holds under the key: one in another
    # currency than the currency_id posted is refused for staff, as
    # NetSuite's read-back is, never recorded sent.
    order = _draft()
    order, error, posted = send_answered(order, at_gecko(order.public_id))
    assert [body["currency_id"] for body in posted] == [EUR_ID]
    assert error is not None
    assert order.status != "sent" and order.external_reference == ""
    assert f"currency record {SGD_ID}" in order.last_error
    assert "EUR" in order.last_error


def test_a_send_answered_in_its_currency_is_recorded():
    order = _draft()
    answer = at_gecko(order.public_id, currency_id=EUR_ID)
    order, error, _ = send_answered(order, answer)
    assert error is None
    assert (order.status, order.external_reference) == ("sent", str(ERP_ID))


def test_sent_again_the_same_key_answers_the_same_refusal():
    # The POST placed the order: its key's life has begun, so a send again
    # goes under the same key (one order), answered the first result again,
    # refused again; past the key's life it is staff's (unresolved, then
    # "Found at the ERP", compared as above).
    order = _draft()
    first, _, _ = send_answered(order, at_gecko(order.public_id))
    assert first.send_tried_at is not None
    again, error, posted = send_answered(first, at_gecko(order.public_id))
    assert error is not None and len(posted) == 1
    assert again.send_tried_at == first.send_tried_at
    assert again.status == first.status and again.external_reference == ""
    assert f"currency record {SGD_ID}" in again.last_error


def test_staff_are_told_the_whole_way_out_within_the_stored_error():
    # last_error keeps 255 characters: what to do must fit in them.
    order = _draft()
    order, _, _ = send_answered(order, at_gecko(order.public_id))
    assert order.last_error.endswith("past the key's 24 h)")
