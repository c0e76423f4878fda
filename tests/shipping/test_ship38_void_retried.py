"""A void retried after a poll voided the shipment is the void done, under
the same Idempotency-Key as its first try or a new one: 200 with the
shipment as it stands, no carrier call, no second ``shipment.voided``. A
shipment in another final state keeps its 409."""

import pytest
import requests
import responses

from integrations.events import Event
from integrations.models import ProviderCall
from shipping.models import Shipment, ShipmentStatus
from shipping.services.tracking import shipment_tracking_refresh
from tests.shipping.helpers import void_by_api
from tests.shipping.providers.wire import load
from tests.shipping.ups_answers import (
    TOKEN_URL,
    bought_an_hour_ago,
    track_url,
    void_url,
    voided_answer,
)

pytestmark = pytest.mark.django_db

NUMBER = "1Z12345E8791315538"
VOID_URL = void_url(NUMBER)


@pytest.fixture
def bought() -> Shipment:
    return bought_an_hour_ago("ups-ship38", NUMBER)


def _lost_then_polled(shipment: Shipment, key: str) -> None:
    """The first void's answer is lost (502, in doubt); then a tracking poll
    hears UPS's MV and voids the shipment."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        mocked.post(TOKEN_URL, json=load("ups", "oauth_token.json"))
        mocked.add(responses.DELETE, VOID_URL, body=requests.ReadTimeout("lost"))
        assert void_by_api(shipment, key).status_code == 502
        mocked.get(track_url(NUMBER), json=voided_answer(NUMBER))
        shipment_tracking_refresh(shipment=Shipment.objects.get(pk=shipment.pk))
    shipment.refresh_from_db()
    assert shipment.status == ShipmentStatus.VOIDED


@pytest.mark.parametrize("retry_key", ["void-s38", "void-s38-new"])
def test_a_retried_void_after_a_poll_voided_it_answers_200(bought, retry_key):
    _lost_then_polled(bought, "void-s38")
    calls = ProviderCall.objects.filter(operation__icontains="void").count()

    with responses.RequestsMock():  # nothing goes out
        reply = void_by_api(bought, retry_key)

    assert reply.status_code == 200, reply.json()
    assert (reply.json()["id"], reply.json()["status"]) == (bought.public_id, "voided")
    assert ProviderCall.objects.filter(operation__icontains="void").count() == calls
    assert Event.objects.filter(name="shipment.voided").count() == 1


@pytest.mark.parametrize(
    "status", [ShipmentStatus.FAILED, ShipmentStatus.UNKNOWN, ShipmentStatus.PURCHASING]
)
def test_a_void_of_a_shipment_never_bought_keeps_its_409(bought, status):
    Shipment.objects.filter(pk=bought.pk).update(status=status)

    with responses.RequestsMock():
        reply = void_by_api(bought, f"void-s38-{status}")

    assert reply.status_code == 409, reply.json()
    assert reply.json()["error"]["code"] == "invalid_state"


def test_a_void_of_a_delivered_parcel_keeps_its_409(bought):
    Shipment.objects.filter(pk=bought.pk).update(tracking_status="delivered")

    with responses.RequestsMock():
        reply = void_by_api(bought, "void-s38-delivered")

    assert reply.status_code == 409, reply.json()
    assert reply.json()["error"]["code"] == "in_transit"
    assert not Event.objects.filter(name="shipment.voided").exists()
