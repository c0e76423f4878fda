"""An ``unresolved`` purchase order (its TradeGecko send answer lost past
the 24 h key) that staff FIND at TradeGecko: "Found at the ERP" takes the
ERP's order id, asks TradeGecko for it, and records it as the order's
reference, sent, its status TradeGecko's from then on. Bad input, an id
TradeGecko does not know, another order's id, or an ERP that cannot be
asked are form errors that record nothing, never a 500."""

import copy

import pytest
import requests
import responses
from django.contrib.auth.models import Permission
from django.urls import reverse
from urllib3.exceptions import MaxRetryError, NewConnectionError

from inventory import services
from inventory.models import PurchaseOrder
from tests.inventory.contract import harness_tradegecko as tg
from tests.inventory.purchase_orders import purchase_order

pytestmark = pytest.mark.django_db

ERP_ID = 28381
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


def _at_gecko(reference: str, **fields) -> dict:
    body = copy.deepcopy(tg.load("purchase_order_created.json")["body"])
    # In the order's currency (EUR): "Found at the ERP" compares it (inv47).
    body["purchase_order"]["currency_id"] = tg.CURRENCY_IDS["EUR"]
    body["purchase_order"].update(reference_number=reference, **fields)
    return body


def _form_url(order: PurchaseOrder) -> str:
    return reverse("admin:inventory_purchaseorder_found_at_erp", args=[order.pk])


def _post(admin_client, order: PurchaseOrder, reference: str):
    return admin_client.post(_form_url(order), {"external_reference": reference})


def test_the_action_opens_the_form_for_one_unresolved_order(admin_client, order):
    response = admin_client.post(
        reverse("admin:inventory_purchaseorder_changelist"),
        {"action": "found_at_erp", "_selected_action": [order.pk]},
    )
    assert response.status_code == 302
    assert response["Location"] == _form_url(order)
    page = admin_client.get(_form_url(order))
    assert page.status_code == 200
    assert "The ERP&#x27;s order id" in page.content.decode()


def test_staff_record_the_order_they_found(admin_client, order):
    with responses.RequestsMock() as rsps:
        tg.currencies(rsps)
        rsps.add("GET", ORDER_URL, json=_at_gecko(order.public_id))
        response = _post(admin_client, order, f" {ERP_ID} ")

    assert response.status_code == 302, response.content.decode()
    order.refresh_from_db()
    assert (order.external_reference, order.status) == (str(ERP_ID), "sent")
    assert (order.last_error, order.send_tried_at) == ("", None)
    assert order.sent_at is not None and order.raw_status == "active"
    page = admin_client.get(response["Location"])
    shown = [str(message) for message in page.context["messages"]]
    assert shown == [f"{order.public_id}: recorded as the ERP's order {ERP_ID} (sent)."]


def test_the_recorded_order_takes_the_erps_status(admin_client, order):
    received = _at_gecko(order.public_id, procurement_status="procured")
    with responses.RequestsMock() as rsps:
        tg.currencies(rsps)
        rsps.add("GET", ORDER_URL, json=received)
        assert _post(admin_client, order, str(ERP_ID)).status_code == 302
    order.refresh_from_db()
    assert order.status == "received"


def test_then_the_schedule_follows_it_back(admin_client, order):
    with responses.RequestsMock() as rsps:
        tg.currencies(rsps)
        rsps.add("GET", ORDER_URL, json=_at_gecko(order.public_id))
        _post(admin_client, order, str(ERP_ID))
    with responses.RequestsMock() as rsps:
        rsps.add("GET", ORDER_URL, json=_at_gecko(order.public_id, status="void"))
        assert services.purchase_orders_refresh_open() == 1
    order.refresh_from_db()
    assert order.status == "cancelled"


@pytest.mark.parametrize(
    "reference",
    ["", "   ", "PO-28381", "²", "٣", "12\x003", "1" * 65, "28 381"],
    ids=["empty", "blank", "letters", "superscript", "arabic", "nul", "long", "space"],
)
def test_an_id_not_shaped_like_tradegeckos_is_a_form_error(
    admin_client, order, reference
):
    with responses.RequestsMock():  # nothing may be asked
        response = _post(admin_client, order, reference)
    assert response.status_code == 200
    assert response.context["form"].errors["external_reference"]
    order.refresh_from_db()
    assert (order.status, order.external_reference) == ("unresolved", "")


def _refused(admin_client, order, answer: dict) -> str:
    with responses.RequestsMock() as rsps:
        rsps.add("GET", ORDER_URL, **answer)
        response = _post(admin_client, order, str(ERP_ID))
    assert response.status_code == 200
    order.refresh_from_db()
    assert (order.status, order.external_reference) == ("unresolved", "")
    return " ".join(response.context["form"].errors["external_reference"])


def test_an_id_tradegecko_does_not_know_is_refused(admin_client, order):
    error = _refused(admin_client, order, {"status": 404, "json": {}})
    assert f"has no order {ERP_ID}" in error


def test_another_orders_id_is_refused(admin_client, order):
    error = _refused(admin_client, order, {"json": _at_gecko("po_someoneelse")})
    assert "po_someoneelse" in error and order.public_id in error


def test_an_odd_answer_is_refused(admin_client, order):
    error = _refused(admin_client, order, {"json": {"purchase_order": []}})
    assert "could not be asked" in error


def test_tradegecko_unreachable_is_a_form_error(admin_client, order):
    refused = NewConnectionError(None, "[Errno 111] Connection refused")
    down = requests.ConnectionError(MaxRetryError(None, ORDER_URL, reason=refused))
    error = _refused(admin_client, order, {"body": down})
    assert "nothing was recorded" in error
    assert "contract-token" not in error


def test_an_id_recorded_for_another_order_is_refused(admin_client, order):
    other = purchase_order(account=order.account, reference=str(ERP_ID))
    error = _refused(admin_client, order, {"json": _at_gecko("")})
    assert other.public_id in error


def test_an_order_not_unresolved_is_not_recorded(admin_client, order):
    PurchaseOrder.objects.filter(pk=order.pk).update(status="sent")
    with responses.RequestsMock():
        response = _post(admin_client, order, str(ERP_ID))
    assert response.status_code == 302
    order.refresh_from_db()
    assert order.external_reference == ""
    with pytest.raises(services.InventoryError, match="not unresolved"):
        services.purchase_order_found(
            purchase_order=order, external_reference=str(ERP_ID)
        )


def test_the_action_takes_one_unresolved_order(admin_client, order):
    second = purchase_order(account=order.account, status="unresolved")
    response = admin_client.post(
        reverse("admin:inventory_purchaseorder_changelist"),
        {"action": "found_at_erp", "_selected_action": [order.pk, second.pk]},
        follow=True,
    )
    assert "Choose one unresolved order" in response.content.decode()


def test_staff_without_change_permission_cannot_record(
    client, order, django_user_model
):
    viewer = django_user_model.objects.create_user(
        "viewer", password="x", is_staff=True
    )
    viewer.user_permissions.add(
        *Permission.objects.filter(codename="view_purchaseorder")
    )
    client.force_login(viewer)
    assert _post(client, order, str(ERP_ID)).status_code == 403


def test_the_send_recorded_in_between_wins(order):
    """Staff sent it again (checked) while another recorded the id: the
    conditional update finds it no longer unresolved and refuses."""
    stale = PurchaseOrder.objects.get(pk=order.pk)
    PurchaseOrder.objects.filter(pk=order.pk).update(
        status="sent", external_reference="99"
    )
    with responses.RequestsMock() as rsps:
        tg.currencies(rsps)
        rsps.add("GET", ORDER_URL, json=_at_gecko(order.public_id))
        with pytest.raises(services.InventoryError, match="not unresolved"):
            services.purchase_order_found(
                purchase_order=stale, external_reference=str(ERP_ID)
            )
    order.refresh_from_db()
    assert (order.status, order.external_reference) == ("sent", "99")
