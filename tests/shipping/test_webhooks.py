"""Sandbox tracking webhooks through /webhooks/<slug>/: applied once, a
duplicate changes nothing, an unknown number is ignored."""

import pytest
from django.test import Client

from integrations.models import Event, WebhookEvent
from tests.payments.conftest import webhook_body, webhook_headers
from tests.shipping.helpers import carrier
from tests.shipping.test_tracking import _bought

pytestmark = pytest.mark.django_db


def _post(slug: str, number: str, webhook_id: str, callbacks):
    body = webhook_body("shipment.tracking_updated", tracking_number=number)
    with callbacks(execute=True):
        response = Client().post(
            f"/webhooks/{slug}/",
            data=body,
            content_type="application/json",
            **webhook_headers(body, webhook_id=webhook_id),
        )
    assert response.status_code == 200, response.content
    return response


def test_a_tracking_webhook_moves_the_shipment_once(
    django_capture_on_commit_callbacks,
):
    account = carrier("hooked-post")
    shipment = _bought(account, steps_ago=3)
    _post(
        account.slug,
        shipment.tracking_number,
        "msg_1",
        django_capture_on_commit_callbacks,
    )
    shipment.refresh_from_db()
    assert shipment.tracking_status == "out_for_delivery"
    assert shipment.tracking_events.count() == 4
    _post(
        account.slug,
        shipment.tracking_number,
        "msg_1",
        django_capture_on_commit_callbacks,
    )
    _post(
        account.slug,
        shipment.tracking_number,
        "msg_2",
        django_capture_on_commit_callbacks,
    )
    assert shipment.tracking_events.count() == 4
    assert Event.objects.filter(name="shipment.tracking_updated").count() == 1
    assert WebhookEvent.objects.filter(account=account).count() == 2


def test_a_webhook_for_an_unknown_number_is_processed_and_ignored(
    django_capture_on_commit_callbacks,
):
    account = carrier("hooked-post")
    _post(
        account.slug,
        "SBXN1700000000ABCDEF01",
        "msg_3",
        django_capture_on_commit_callbacks,
    )
    event = WebhookEvent.objects.get(account=account)
    assert event.status == "processed"
    assert not Event.objects.exists()


def test_a_processed_tracking_webhook_names_its_shipment(
    django_capture_on_commit_callbacks,
):
    account = carrier("hooked-post")
    shipment = _bought(account, steps_ago=3)
    _post(
        account.slug,
        shipment.tracking_number,
        "msg_4",
        django_capture_on_commit_callbacks,
    )

    assert WebhookEvent.objects.get(account=account).subject == shipment.public_id
