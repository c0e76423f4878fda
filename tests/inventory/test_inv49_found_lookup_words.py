"""inv49: "Found at the ERP" when the ERP answered with the order but the
currency look-up after it was rate-limited (429) or refused. That is not
"the ERP could not be asked": staff are told the ERP answered with its
order and that its currency could not be looked up, and why; nothing is
recorded. An odd answer for the order itself keeps "could not be asked"
(test_inv6_po_found_at_erp::test_an_odd_answer_is_refused)."""

import copy
import time

import pytest
import responses
from django.urls import reverse

from inventory.models import PurchaseOrder
from tests.inventory import netsuite_currency as nsc
from tests.inventory.contract import harness_netsuite as ns
from tests.inventory.contract import harness_tradegecko as tg
from tests.inventory.purchase_orders import checked_by_staff

pytestmark = pytest.mark.django_db

TG_ID = "28381"
TG_ORDER = f"{tg.BASE}/purchase_orders/{TG_ID}"
NS_ORDER = f"{ns.BASE}/record/v1/purchaseOrder/{ns.PO_INTERNAL_ID}"


@pytest.fixture(autouse=True)
def _one_attempt(settings):
    settings.PROVIDER_MAX_ATTEMPTS = 1


def _form_error(admin_client, order, reference: str, mock) -> str:
    url = reverse("admin:inventory_purchaseorder_found_at_erp", args=[order.pk])
    with responses.RequestsMock(assert_all_requests_are_fired=True) as rsps:
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


def _gecko_rate_limited(rsps) -> None:
    # As TradeGecko documents it (_rate_limiting.md): no Retry-After.
    headers = {
        "X-Rate-Limit-Limit": "300",
        "X-Rate-Limit-Remaining": "0",
        "X-Rate-Limit-Reset": str(int(time.time()) + 30),
    }
    rsps.get(tg.CURRENCIES, status=429, headers=headers, json={})


def _gecko_refused(rsps) -> None:
    # A token that may not read currencies (_errors.md: 403 Forbidden).
    rsps.get(tg.CURRENCIES, status=403, json={"message": "Forbidden"})


def _answered_but_not_looked_up(error: str, reference: str) -> None:
    assert "could not be asked" not in error
    assert f"The ERP answered with its order {reference}" in error
    assert "its currency could not be looked up" in error
    assert "nothing was recorded" in error
    assert "contract-token" not in error


@pytest.mark.parametrize(
    ("answer", "says"),
    [
        (_gecko_rate_limited, "TradeGecko rate limit reached"),
        (_gecko_refused, "403"),
    ],
    ids=["429", "refused"],
)
def test_tradegecko_currency_look_up_failing_after_the_order(
    admin_client, answer, says
):
    order = checked_by_staff(tg.make_account())

    def mock(rsps):
        rsps.get(TG_ORDER, json=_gecko_ours(order))
        answer(rsps)

    error = _form_error(admin_client, order, TG_ID, mock)
    _answered_but_not_looked_up(error, TG_ID)
    assert says in error


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (429, ns.load("error_too_many_requests.json")),
        (400, nsc.refused("Invalid search query. Unknown identifier 'symbol'.")),
    ],
    ids=["429", "refused"],
)
def test_netsuite_currency_look_up_failing_after_the_order(admin_client, status, body):
    order = checked_by_staff(nsc.account_with())
    record = {**nsc.record_in(nsc.USD_ID), "externalId": order.public_id}

    def mock(rsps):
        rsps.get(NS_ORDER, json=record)
        nsc.currency_answer(rsps, status=status, body=body)

    error = _form_error(admin_client, order, ns.PO_INTERNAL_ID, mock)
    _answered_but_not_looked_up(error, ns.PO_INTERNAL_ID)


def test_the_order_read_itself_rate_limited_is_still_could_not_be_asked(
    admin_client,
):
    order = checked_by_staff(tg.make_account())

    def mock(rsps):
        rsps.get(
            TG_ORDER,
            status=429,
            headers={"X-Rate-Limit-Reset": str(int(time.time()) + 30)},
            json={},
        )

    error = _form_error(admin_client, order, TG_ID, mock)
    assert "could not be asked" in error
    assert "answered" not in error
