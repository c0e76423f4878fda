"""Purchase orders at an ERP account this deploy cannot call: its provider
was dropped from the adapters, or its stored credentials open with no
configured key (a key rotation that dropped the old key). Send and refresh
refuse in one readable line, from the admin too; nothing is pinned to an
account that never received the order, and no call leaves."""

import pytest
import responses
from django.urls import reverse

from integrations.models import ProviderAccount
from inventory import services
from inventory.models import PurchaseOrder
from inventory.tasks import refresh_purchase_orders
from tests.inventory.contract import harness_tradegecko as tg
from tests.inventory.purchase_orders import purchase_order as _order

pytestmark = pytest.mark.django_db


def _unreadable(account: ProviderAccount) -> ProviderAccount:
    # A Fernet token no configured key opens.
    ProviderAccount.objects.filter(pk=account.pk).update(
        credentials_encrypted="gAAAAABnot-a-token-any-key-opens=="
    )
    return ProviderAccount.objects.get(pk=account.pk)


def _gone(account: ProviderAccount) -> ProviderAccount:
    ProviderAccount.objects.filter(pk=account.pk).update(provider="retired-erp")
    return ProviderAccount.objects.get(pk=account.pk)


def _action(admin_client, action: str, order: PurchaseOrder) -> str:
    response = admin_client.post(
        reverse("admin:inventory_purchaseorder_changelist"),
        {"action": action, "_selected_action": [order.pk]},
        follow=True,
    )
    assert response.status_code == 200
    return response.content.decode()


def test_a_send_to_an_erp_whose_credentials_no_key_opens_pins_nothing():
    account = _unreadable(tg.make_account())
    order = _order(status="draft")
    # No call may leave.
    with responses.RequestsMock(), pytest.raises(services.InventoryError) as caught:
        services.purchase_order_send(purchase_order=order, account=account)
    assert caught.value.code == "account_uncallable"
    assert "CredentialsDecryptError" in caught.value.message
    order.refresh_from_db()
    assert (order.account_id, order.status) == (None, "draft")


def test_the_admin_send_to_an_erp_whose_credentials_no_key_opens_is_a_message(
    admin_client,
):
    account = _unreadable(tg.make_account())
    order = _order(account=account, status="draft")
    with responses.RequestsMock():
        page = _action(admin_client, "send", order)
    # The admin capitalises a message's first letter.
    assert f"{order.public_id[1:]}: not sent" in page
    assert "cannot be called (CredentialsDecryptError)" in page


@pytest.mark.parametrize("broken", [_gone, _unreadable])
def test_the_admin_refresh_of_an_order_at_an_erp_it_cannot_call_is_a_message(
    admin_client, broken
):
    account = broken(tg.make_account())
    order = _order(account=account, reference="9")
    with responses.RequestsMock():
        page = _action(admin_client, "refresh", order)
    assert "cannot be called" in page and order.public_id in page
    order.refresh_from_db()
    assert order.status == "sent"


def test_the_refresh_schedule_passes_over_an_erp_whose_credentials_no_key_opens():
    unreadable = _unreadable(tg.make_account())
    fine = tg.make_account()
    _order(account=unreadable, reference="1")
    other = _order(account=fine, reference="2")
    eur = tg.CURRENCY_IDS["EUR"]  # each order's own, compared on each read
    with responses.RequestsMock() as rsps:
        tg.currencies(rsps)
        rsps.add(
            "GET",
            f"{tg.BASE}/purchase_orders/2",
            json={
                "purchase_order": {"id": 2, "status": "received", "currency_id": eur}
            },
        )
        assert refresh_purchase_orders() == 1
    other.refresh_from_db()
    assert other.status == "received"
