"""inv47: a TradeGecko purchase order carries its own ``currency_id`` (the
provider spec's purchase_orders recording: ``"currency_id":4`` on each, the
account's ``default_currency_id`` apart), so an order staff find there
("Found at the ERP") may be held in another currency than ours: one keyed
in by hand under our reference number, in the account's default, or one
whose currency was changed there. It is compared as NetSuite's is
(``erp_currency.held_check``): another currency is ``currency_mismatch``, a
form error, the order left unresolved. The recorded order is currency 4
(SGD); the test orders are EUR (2051 in the harness's currency list)."""

import copy

import pytest
import responses
from django.urls import reverse

from inventory.models import PurchaseOrder
from tests.inventory.contract import harness_tradegecko as tg
from tests.inventory.purchase_orders import purchase_order

pytestmark = pytest.mark.django_db

ERP_ID = 28381
ORDER_URL = f"{tg.BASE}/purchase_orders/{ERP_ID}"
SGD_ID, EUR_ID = tg.CURRENCY_IDS["SGD"], tg.CURRENCY_IDS["EUR"]


@pytest.fixture(autouse=True)
def _one_attempt(settings):
    settings.PROVIDER_MAX_ATTEMPTS = 1


@pytest.fixture
def unresolved() -> PurchaseOrder:
    order = purchase_order(account=tg.make_account(), status="unresolved")
    assert order.currency == "EUR"
    PurchaseOrder.objects.filter(pk=order.pk).update(
        last_error="unresolved: checked by staff", send_tried_at="2026-12-01T00:00Z"
    )
    order.refresh_from_db()
    return order


def _at_gecko(reference: str | None, **fields) -> dict:
    body = copy.deepcopy(tg.load("purchase_order_created.json")["body"])
    body["purchase_order"].update(reference_number=reference, **fields)
    return body


def _found(admin_client, order: PurchaseOrder, body: dict):
    url = reverse("admin:inventory_purchaseorder_found_at_erp", args=[order.pk])
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        tg.currencies(rsps)
        rsps.get(ORDER_URL, json=body)
        response = admin_client.post(url, {"external_reference": str(ERP_ID)})
        asked = [c.request.url.split("?")[0] for c in rsps.calls]
    order.refresh_from_db()
    return response, asked


def _form_error(response) -> str:
    assert response.status_code == 200
    return " ".join(response.context["form"].errors["external_reference"])


def test_found_at_the_erp_in_another_currency_is_refused(admin_client, unresolved):
    # The recording's own order: currency 4, SGD, under our reference.
    body = _at_gecko(unresolved.public_id)
    assert body["purchase_order"]["currency_id"] == SGD_ID
    response, asked = _found(admin_client, unresolved, body)
    error = _form_error(response)
    assert f"currency record {SGD_ID}" in error and "EUR" in error
    assert asked == [ORDER_URL, tg.CURRENCIES]
    assert (unresolved.status, unresolved.external_reference) == ("unresolved", "")
    assert unresolved.last_error == "unresolved: checked by staff"


def test_found_at_the_erp_in_its_own_currency_is_recorded(admin_client, unresolved):
    body = _at_gecko(unresolved.public_id, currency_id=EUR_ID)
    response, _ = _found(admin_client, unresolved, body)
    assert response.status_code == 302, response.content.decode()
    assert (unresolved.status, unresolved.external_reference) == ("sent", "28381")
    assert unresolved.last_error == ""


def test_one_cancelled_there_in_another_currency_is_recorded_cancelled(
    admin_client, unresolved
):
    # Nothing to receive or pay: recorded as it stands, never refused for ever.
    body = _at_gecko(unresolved.public_id, status="void")
    response, _ = _found(admin_client, unresolved, body)
    assert response.status_code == 302
    assert unresolved.status == "cancelled"


def test_another_orders_currency_is_not_looked_up(admin_client, unresolved):
    # Not ours by its reference number: refused as such, no currency asked.
    body = _at_gecko("PO-SOMEONE-ELSE")
    response, asked = _found(admin_client, unresolved, body)
    assert "PO-SOMEONE-ELSE" in _form_error(response)
    assert asked == [ORDER_URL]
    assert unresolved.status == "unresolved"
