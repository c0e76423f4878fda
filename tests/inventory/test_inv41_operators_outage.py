"""Operators with the ERP down, slow or rate-limiting: every inventory admin
action that calls it (send, send checked, refresh, found at the ERP, sync
now, send forwards again) answers with a message, never a 500; the
management commands refuse bad input with one readable line and a non-zero
exit."""

import re

import pytest
import requests
import responses
from django.core.management import CommandError, call_command
from django.urls import reverse
from urllib3.exceptions import MaxRetryError, NewConnectionError

from inventory import services
from inventory.models import PurchaseOrder, SyncRun
from inventory.services import LineRequest
from tests.factories import ProviderAccountFactory
from tests.inventory.contract import harness_http_stock as hs
from tests.inventory.contract import harness_tradegecko as tg
from tests.inventory.factories import LocationFactory, StockLevelFactory
from tests.inventory.purchase_orders import purchase_order

pytestmark = pytest.mark.django_db

ANY_GECKO = re.compile(re.escape(tg.BASE) + r"/.*")
ANY_STOCK = re.compile(re.escape(hs.BASE) + r"/.*")


def _refused(url: str) -> requests.ConnectionError:
    refused = NewConnectionError(None, "[Errno 111] Connection refused")
    return requests.ConnectionError(MaxRetryError(None, url, reason=refused))


FAULTS = {
    "refused": lambda url: {"body": _refused(url)},
    "timeout": lambda url: {"body": requests.ReadTimeout("read timed out")},
    "429": lambda url: {"status": 429, "headers": {"Retry-After": "30"}},
}


def _down(rsps, fault: str, pattern: re.Pattern, base: str) -> None:
    for method in ("GET", "POST", "PUT"):
        rsps.add(method, pattern, **FAULTS[fault](base))


@pytest.fixture
def gecko():
    account = tg.make_account()
    account.settings = {"max_attempts": 1, "backoff_base_seconds": 0.001}
    account.save()
    return account


def _action(admin_client, action: str, order: PurchaseOrder) -> str:
    response = admin_client.post(
        reverse("admin:inventory_purchaseorder_changelist"),
        {"action": action, "_selected_action": [order.pk]},
        follow=True,
    )
    assert response.status_code == 200
    return response.content.decode()


@pytest.mark.parametrize("fault", sorted(FAULTS))
@pytest.mark.parametrize(
    ("action", "status", "reference"),
    [
        ("send", "draft", ""),
        ("send_checked", "unresolved", ""),
        ("refresh", "sent", "9"),
    ],
)
def test_a_purchase_order_action_with_the_erp_down_is_a_message(
    admin_client, gecko, fault, action, status, reference
):
    order = purchase_order(account=gecko, status=status, reference=reference)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        _down(rsps, fault, ANY_GECKO, tg.BASE)
        page = _action(admin_client, action, order)
    assert order.public_id[1:] in page
    assert 'class="error"' in page


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_found_at_the_erp_with_the_erp_down_is_refused_in_the_form(
    admin_client, gecko, fault
):
    order = purchase_order(account=gecko, status="unresolved")
    url = reverse("admin:inventory_purchaseorder_found_at_erp", args=[order.pk])
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        _down(rsps, fault, ANY_GECKO, tg.BASE)
        response = admin_client.post(url, {"external_reference": "9"})
    assert response.status_code == 200
    assert "nothing was recorded" in response.content.decode()
    order.refresh_from_db()
    assert (order.status, order.external_reference) == ("unresolved", "")


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_sync_now_with_the_erp_down_ends_the_run_and_shows_it(
    admin_client, gecko, fault, django_capture_on_commit_callbacks
):
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        _down(rsps, fault, ANY_GECKO, tg.BASE)
        with django_capture_on_commit_callbacks(execute=True):
            response = admin_client.post(
                reverse("admin:inventory_syncrun_sync_now"), {"account": gecko.pk}
            )
    assert response.status_code == 302
    run = SyncRun.objects.get()
    assert run.status == "failed"
    page = admin_client.get(response["Location"])
    assert page.status_code == 200


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_sending_forwards_again_with_the_erp_down_is_a_message(
    admin_client, fault, django_capture_on_commit_callbacks
):
    erp = hs.make_account()
    erp.settings = {"max_attempts": 1, "backoff_base_seconds": 0.001}
    erp.save()
    StockLevelFactory(sku="A", location=LocationFactory(code="main"), source=erp)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        _down(rsps, fault, ANY_STOCK, hs.BASE)
        with django_capture_on_commit_callbacks(execute=True):
            reservation = services.reservation_create(
                order_id="o-1", lines=[LineRequest("A", 1)]
            )
        with django_capture_on_commit_callbacks(execute=True):
            response = admin_client.post(
                reverse("admin:inventory_reservation_changelist"),
                {"action": "retry_forwards", "_selected_action": [reservation.pk]},
                follow=True,
            )
    assert response.status_code == 200
    assert "ERP forward(s) again" in response.content.decode()


# --- Management commands -----------------------------------------------------


def _one_line(error: CommandError) -> str:
    text = str(error)
    assert text and "\n" not in text and "Traceback" not in text
    return text


@pytest.mark.parametrize(
    ("options", "says"),
    [
        ({"account": "nope"}, "No inventory account 'nope'"),
        (
            {"account": "pay-1"},
            "Account 'pay-1' is a payments account, not an inventory one",
        ),
        ({"account": "erp-off"}, "disabled"),
        ({"account": "erp-retired"}, "no 'inventory' adapter"),
    ],
)
def test_sync_inventory_refuses_a_bad_account_in_one_line(options, says):
    ProviderAccountFactory(kind="payments", slug="pay-1")
    ProviderAccountFactory(kind="inventory", slug="erp-off", enabled=False)
    retired = ProviderAccountFactory(kind="inventory", slug="erp-retired")
    type(retired).objects.filter(pk=retired.pk).update(provider="retired-erp")
    with pytest.raises(CommandError) as caught:
        call_command("sync_inventory", **options)
    assert says in _one_line(caught.value)
    assert caught.value.returncode != 0


def test_sync_inventory_with_the_erp_down_exits_non_zero(gecko):
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        _down(rsps, "refused", ANY_GECKO, tg.BASE)
        with pytest.raises(CommandError) as caught:
            call_command("sync_inventory", account=gecko.slug)
    assert "a sync failed" in _one_line(caught.value)


@pytest.mark.parametrize("sku", ["nope", "", " "])
def test_create_purchase_orders_refuses_an_unknown_sku_in_one_line(sku):
    with pytest.raises(CommandError) as caught:
        call_command("create_purchase_orders", sku=[sku])
    assert "No stock level or reorder point for SKU" in _one_line(caught.value)


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_create_purchase_orders_send_with_the_erp_down_names_the_order(
    gecko, fault, capsys
):
    order = purchase_order(account=gecko, status="draft")
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        _down(rsps, fault, ANY_GECKO, tg.BASE)
        with pytest.raises(CommandError) as caught:
            call_command("create_purchase_orders", send=True)
    assert _one_line(caught.value) == "1 purchase order(s) not sent"
    errors = capsys.readouterr().err.strip().splitlines()
    assert len(errors) == 1 and errors[0].startswith(f"{order.public_id} not sent: ")
