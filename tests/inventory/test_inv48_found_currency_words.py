"""inv48: "Found at the ERP" when the ERP answered with the order but its
currency could not be compared (the ERP has no such currency, its look-up
was refused, the account states another single currency). That is not "the
ERP could not be asked": staff are told the ERP answered and what stopped
the currency check; nothing is recorded. An ERP that could not be reached
is still told as such."""

import copy

import pytest
import requests
import responses
from django.urls import reverse
from urllib3.exceptions import MaxRetryError, NewConnectionError

from inventory.models import PurchaseOrder
from tests.inventory import netsuite_currency as nsc
from tests.inventory.contract import harness_netsuite as ns
from tests.inventory.contract import harness_tradegecko as tg
from tests.inventory.purchase_orders import purchase_order

pytestmark = pytest.mark.django_db

TG_ID = "28381"
TG_ORDER = f"{tg.BASE}/purchase_orders/{TG_ID}"
NS_ORDER = f"{ns.BASE}/record/v1/purchaseOrder/{ns.PO_INTERNAL_ID}"


@pytest.fixture(autouse=True)
def _one_attempt(settings):
    settings.PROVIDER_MAX_ATTEMPTS = 1


def _unresolved(account) -> PurchaseOrder:
    order = purchase_order(account=account, status="unresolved")
    PurchaseOrder.objects.filter(pk=order.pk).update(
        last_error="unresolved: checked by staff", send_tried_at="2026-12-01T00:00Z"
    )
    order.refresh_from_db()
    return order


def _form_error(admin_client, order, reference: str, mock) -> str:
    url = reverse("admin:inventory_purchaseorder_found_at_erp", args=[order.pk])
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        mock(rsps)
        response = admin_client.post(url, {"external_reference": reference})
    assert response.status_code == 200
    order.refresh_from_db()
    assert (order.status, order.external_reference) == ("unresolved", "")
    assert order.last_error == "unresolved: checked by staff"
    return " ".join(response.context["form"].errors["external_reference"])


def _gecko_ours(order: PurchaseOrder) -> dict:
    body = copy.deepcopy(tg.load("purchase_order_created.json")["body"])
    body["purchase_order"]["reference_number"] = order.public_id
    return body


def test_tradegecko_without_the_orders_currency_is_not_called_unreachable(
    admin_client,
):
    order = _unresolved(tg.make_account())

    def mock(rsps):
        tg.currencies(rsps, listed={"SGD": 4})  # no EUR set up at TradeGecko
        rsps.get(TG_ORDER, json=_gecko_ours(order))

    error = _form_error(admin_client, order, TG_ID, mock)
    assert "could not be asked" not in error
    assert f"The ERP answered with its order {TG_ID}" in error
    assert "its currency could not be compared" in error
    assert "TradeGecko has no currency EUR" in error
    assert "nothing was recorded" in error


def test_netsuite_refusing_the_currency_look_up_is_not_called_unreachable(
    admin_client,
):
    # A role that may not read currencies, no single currency stated.
    order = _unresolved(nsc.account_with())
    record = {**nsc.record_in(nsc.USD_ID), "externalId": order.public_id}

    def mock(rsps):
        nsc.refused_look_up(rsps)
        rsps.get(NS_ORDER, json=record)

    error = _form_error(admin_client, order, ns.PO_INTERNAL_ID, mock)
    assert "could not be asked" not in error
    assert f"The ERP answered with its order {ns.PO_INTERNAL_ID}" in error
    assert "its currency could not be compared" in error
    assert "Currency permission" in error


def test_netsuite_stating_another_single_currency_is_told_as_such(admin_client):
    order = _unresolved(nsc.account_with({"single_currency": "USD"}))
    record = {**nsc.record_in(nsc.USD_ID), "externalId": order.public_id}

    def mock(rsps):
        nsc.refused_look_up(rsps)
        rsps.get(NS_ORDER, json=record)

    error = _form_error(admin_client, order, ns.PO_INTERNAL_ID, mock)
    assert "could not be asked" not in error
    assert "NetSuite books in USD only" in error


def test_an_erp_that_could_not_be_reached_is_still_told_so(admin_client):
    order = _unresolved(tg.make_account())
    refused = NewConnectionError(None, "[Errno 111] Connection refused")
    down = requests.ConnectionError(MaxRetryError(None, TG_ORDER, reason=refused))

    def mock(rsps):
        rsps.get(TG_ORDER, body=down)

    error = _form_error(admin_client, order, TG_ID, mock)
    assert "could not be asked" in error
