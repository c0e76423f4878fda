"""A void whose answer was lost (a read timeout) while a tracking poll
meanwhile heard UPS say the label is void (status type MV) ended the
shipment ``voided`` (``shipment.voided`` told once), yet the caller got
502 "the carrier's answer to the void was lost ... try the void again", and
its retry a 409 "a voided shipment cannot be voided". The void succeeded:
the caller now gets the voided shipment, as a void answered in time does."""

import pytest
import requests
import responses

from integrations.events import Event
from shipping import services
from shipping.models import Shipment, ShipmentStatus
from shipping.services.errors import ShippingError
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

NUMBER = "1Z12345E8791315531"
VOID_URL = void_url(NUMBER)


@pytest.fixture
def bought() -> Shipment:
    return bought_an_hour_ago("ups-ship31", NUMBER)


def _ups(mocked: responses.RequestsMock, shipment: Shipment, *, poll: bool) -> None:
    """UPS: the void's answer lost; meanwhile (``poll``) a tracking poll of
    the shipment hears UPS's MV."""

    def lost(request):
        if poll:
            services.shipment_tracking_refresh(
                shipment=Shipment.objects.get(pk=shipment.pk)
            )
        raise requests.ReadTimeout("read timeout")

    mocked.post(TOKEN_URL, json=load("ups", "oauth_token.json"))
    mocked.get(track_url(NUMBER), json=voided_answer(NUMBER))
    mocked.add_callback(responses.DELETE, VOID_URL, callback=lost)


def test_the_api_answers_the_void_done_when_a_poll_heard_it_meanwhile(bought):
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        _ups(mocked, bought, poll=True)
        answer = void_by_api(bought, "void-ship31-1")

    assert answer.status_code == 200, answer.json()
    assert answer.json()["status"] == ShipmentStatus.VOIDED
    bought.refresh_from_db()
    assert (bought.status, bought.void_started_at) == (ShipmentStatus.VOIDED, None)
    assert Event.objects.filter(name="shipment.voided").count() == 1


def test_the_service_returns_the_voided_shipment(bought):
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        _ups(mocked, bought, poll=True)
        shipment = services.shipment_void(shipment=bought)

    assert shipment.status == ShipmentStatus.VOIDED


def test_a_lost_answer_with_no_word_meanwhile_is_still_in_doubt(bought):
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        _ups(mocked, bought, poll=False)
        with pytest.raises(ShippingError) as raised:
            services.shipment_void(shipment=bought)

    assert (raised.value.code, raised.value.status_code) == ("carrier_unknown", 502)
    bought.refresh_from_db()
    assert (bought.status, bought.void_started_at) == (ShipmentStatus.PURCHASED, None)
