"""Staff pages answer a malformed id or a NUL (a tampered form, a pasted
URL) with a 4xx or a message, never a 500."""

import pytest

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("quote_id", ["\x00", "qte_\x00"])
def test_buy_label_with_a_nul_in_the_quote_id(admin_client, quote_id):
    response = admin_client.post(
        "/admin/shipping/shipment/buy/",
        {"quote_id": quote_id, "key": "k1"},
        follow=True,
    )
    assert response.status_code == 200
    assert "Could not buy the label: no such quote" in response.content.decode()


def test_buy_label_with_a_nul_in_the_key(admin_client):
    response = admin_client.post(
        "/admin/shipping/shipment/buy/",
        {"quote_id": "qte_x", "key": "\x00"},
        follow=True,
    )
    assert response.status_code == 200
    assert "the idempotency key is not valid" in response.content.decode()


@pytest.mark.parametrize("account", ["abc", "1.5", "\x00", "\u00b2", "9" * 5000])
def test_sync_now_with_a_malformed_account_id(admin_client, account):
    response = admin_client.post(
        "/admin/inventory/syncrun/sync-now/", {"account": account}, follow=True
    )
    assert response.status_code == 200
    assert "Choose an inventory account." in response.content.decode()


@pytest.mark.parametrize("ids", ["1" * 5000, "\u00b2", "x,\u00b2"])
def test_schedule_pickup_with_ids_that_name_nothing(admin_client, ids):
    response = admin_client.get(
        "/admin/shipping/shipment/schedule-pickup/", {"ids": ids}, follow=True
    )
    assert response.status_code == 200
    assert "Select at least one shipment." in response.content.decode()


@pytest.mark.parametrize("days", ["3" * 5000, "\u00b2", "-7"])
def test_email_analytics_with_a_days_value_it_does_not_offer(admin_client, days):
    response = admin_client.get(
        "/admin/notifications/emailmessage/analytics/", {"days": days}
    )
    assert response.status_code == 200
    assert response.context["days"] == 30  # the default
