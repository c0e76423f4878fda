"""Review of "Found at the ERP" (revc): the ERP's order must carry OUR
reference number (TradeGecko returns any order of the account by id, and
one staff typed in themselves has none), and a send made again (checked)
while another staff member records the found order never overwrites it
unsaid: the ERP then holds two orders, and staff are told so."""

import copy
import json

import pytest
import responses
from django.test import Client
from django.urls import reverse

from inventory import services
from inventory.models import PurchaseOrder
from tests.inventory.contract import harness_tradegecko as tg
from tests.inventory.purchase_orders import purchase_order

pytestmark = pytest.mark.django_db

ERP_ID = 28381
RESENT_ID = 28999
ORDER_URL = f"{tg.BASE}/purchase_orders/{ERP_ID}"


@pytest.fixture(autouse=True)
def _one_attempt(settings):
    settings.PROVIDER_MAX_ATTEMPTS = 1


@pytest.fixture
def order() -> PurchaseOrder:
    unresolved = purchase_order(account=tg.make_account(), status="unresolved")
    PurchaseOrder.objects.filter(pk=unresolved.pk).update(
        last_error="unresolved: sent with no answer over 24 h ago",
        send_tried_at="2026-12-01T00:00:00Z",
    )
    unresolved.refresh_from_db()
    return unresolved


def _at_gecko(reference, order_id: int = ERP_ID, **fields) -> dict:
    body = copy.deepcopy(tg.load("purchase_order_created.json")["body"])
    # In the order's currency (EUR): "Found at the ERP" compares it (inv47).
    body["purchase_order"]["currency_id"] = tg.CURRENCY_IDS["EUR"]
    body["purchase_order"].update(id=order_id, reference_number=reference, **fields)
    return body


def _post(admin_client, order: PurchaseOrder, reference: str):
    url = reverse("admin:inventory_purchaseorder_found_at_erp", args=[order.pk])
    return admin_client.post(url, {"external_reference": reference})


@pytest.mark.parametrize("reference", ["", None], ids=["blank", "null"])
def test_an_erp_order_without_our_reference_number_is_refused(
    admin_client, order, reference
):
    """Another supplier's order typed in at TradeGecko has no reference
    number: nothing ties it to ours, so it is not recorded."""
    with responses.RequestsMock() as rsps:
        rsps.add("GET", ORDER_URL, json=_at_gecko(reference, company_id=999))
        response = _post(admin_client, order, str(ERP_ID))
    assert response.status_code == 200
    error = " ".join(response.context["form"].errors["external_reference"])
    assert order.public_id in error and "no reference number" in error
    order.refresh_from_db()
    assert (order.status, order.external_reference) == ("unresolved", "")


def test_the_erps_answer_is_escaped_in_the_form_error(admin_client, order):
    with responses.RequestsMock() as rsps:
        rsps.add("GET", ORDER_URL, json=_at_gecko("<script>alert(1)</script>"))
        response = _post(admin_client, order, str(ERP_ID))
    page = response.content.decode()
    assert "<script>alert(1)" not in page and "&lt;script&gt;alert(1)" in page


def test_the_form_needs_a_csrf_token(admin_user, order):
    guarded = Client(enforce_csrf_checks=True)
    guarded.force_login(admin_user)
    with responses.RequestsMock():  # nothing may be asked
        assert _post(guarded, order, str(ERP_ID)).status_code == 403
    order.refresh_from_db()
    assert order.status == "unresolved"


def _send_racing_found(order: PurchaseOrder, rsps) -> None:
    """Staff send the unresolved order again (checked); while TradeGecko
    places it, another staff member records the order they found."""
    variant = tg.load("variants_first_page.json")["body"]["variants"][3]
    tg.currencies(rsps)
    rsps.get(tg.VARIANTS, json={"variants": [{**variant, "sku": "A"}]})
    rsps.get(ORDER_URL, json=_at_gecko(order.public_id))

    def placed(request):
        services.purchase_order_found(
            purchase_order=PurchaseOrder.objects.get(pk=order.pk),
            external_reference=str(ERP_ID),
        )
        return 201, {}, json.dumps(_at_gecko(order.public_id, RESENT_ID))

    rsps.add_callback("POST", f"{tg.BASE}/purchase_orders", callback=placed)


def test_a_resend_in_flight_never_overwrites_the_found_order(order):
    with responses.RequestsMock() as rsps:
        _send_racing_found(order, rsps)
        with pytest.raises(services.InventoryError) as raised:
            services.purchase_order_send(purchase_order=order, checked=True)
    assert raised.value.code == "reference_conflict"
    assert str(ERP_ID) in raised.value.message
    assert str(RESENT_ID) in raised.value.message
    order.refresh_from_db()
    assert (order.external_reference, order.status) == (str(ERP_ID), "sent")
    # Nothing lost: the second order the ERP placed is on the order for staff.
    assert str(RESENT_ID) in order.last_error and str(ERP_ID) in order.last_error


def test_two_sends_again_in_flight_keep_the_first_and_say_so(order):
    """The same guard: two staff send it again (checked) at once."""
    variant = tg.load("variants_first_page.json")["body"]["variants"][3]
    with responses.RequestsMock() as rsps:
        tg.currencies(rsps)
        rsps.get(tg.VARIANTS, json={"variants": [{**variant, "sku": "A"}]})
        PurchaseOrder.objects.filter(pk=order.pk).update(
            external_reference=str(ERP_ID), status="sent"
        )  # the other send's answer, recorded while ours was placed
        rsps.post(
            f"{tg.BASE}/purchase_orders",
            status=201,
            json=_at_gecko(order.public_id, RESENT_ID),
        )
        with pytest.raises(services.InventoryError, match=str(RESENT_ID)):
            services.purchase_order_send(purchase_order=order, checked=True)
    order.refresh_from_db()
    assert order.external_reference == str(ERP_ID)
