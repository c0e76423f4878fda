"""A void that failed while a tracking poll meanwhile heard UPS say the label
is void (status type MV), ending the shipment ``voided`` and telling the
shop ``shipment.voided``.

Only a lost answer (502 ``carrier_unknown``) was read against the row: a
retry of a void whose first answer was lost, refused by UPS because that
first one had landed ("already voided"), answered 409 "the carrier refused
to void the label"; one that never left (a connect timeout) answered 502
"try again", and its retry 409 "a voided shipment cannot be voided". The
shipment is voided, the shop told so: whatever became of our call, the void
the caller asked for is done, and it gets the voided shipment (200), as a
void answered in time does."""

import json

import pytest
import requests
import responses

from integrations.events import Event
from shipping import services
from shipping.models import Shipment, ShipmentStatus
from tests.shipping.helpers import api_client, void_by_api
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
ALREADY_VOIDED = {
    "response": {
        "errors": [{"code": "190102", "message": "The shipment is already voided."}]
    }
}


@pytest.fixture
def bought() -> Shipment:
    return bought_an_hour_ago("ups-rev31", NUMBER)


def _void_meets_poll(mocked, shipment: Shipment, answer) -> None:
    """While our void is at UPS a poll hears its MV; then ``answer``."""

    def void(request):
        services.shipment_tracking_refresh(
            shipment=Shipment.objects.get(pk=shipment.pk)
        )
        return answer()

    mocked.post(TOKEN_URL, json=load("ups", "oauth_token.json"))
    mocked.get(track_url(NUMBER), json=voided_answer(NUMBER))
    mocked.add_callback(responses.DELETE, VOID_URL, callback=void)


def _refused():
    return 400, {}, json.dumps(ALREADY_VOIDED)


def _not_reached():
    raise requests.ConnectTimeout("connect timeout")


@pytest.mark.parametrize("answer", [_refused, _not_reached], ids=["refused", "unsent"])
def test_the_api_answers_the_voided_shipment(bought, answer):
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        _void_meets_poll(mocked, bought, answer)
        reply = void_by_api(bought, f"void-rev31-{answer.__name__}")

    assert reply.status_code == 200, reply.json()
    assert reply.json()["status"] == ShipmentStatus.VOIDED
    bought.refresh_from_db()
    assert (bought.status, bought.void_started_at) == (ShipmentStatus.VOIDED, None)
    assert Event.objects.filter(name="shipment.voided").count() == 1


def test_a_refusal_with_no_word_meanwhile_is_still_refused(bought):
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        mocked.post(TOKEN_URL, json=load("ups", "oauth_token.json"))
        mocked.delete(VOID_URL, status=400, json=ALREADY_VOIDED)
        reply = void_by_api(bought, "void-rev31-plain")

    assert reply.status_code == 409, reply.json()
    assert Shipment.objects.get(pk=bought.pk).status == ShipmentStatus.PURCHASED


def test_the_same_key_replays_the_voided_shipment(bought):
    api = api_client("shipping:read", "shipping:write")
    url = f"/api/v1/shipping/shipments/{bought.public_id}/void/"
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        _void_meets_poll(mocked, bought, _refused)
        first = api.post(url, HTTP_IDEMPOTENCY_KEY="void-rev31-replay")
    with responses.RequestsMock() as mocked:  # no carrier call
        again = api.post(url, HTTP_IDEMPOTENCY_KEY="void-rev31-replay")

    assert (first.status_code, again.status_code) == (200, 200)
    assert again.json() == first.json()


def test_the_admin_says_voided(bought, admin_client):
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        _void_meets_poll(mocked, bought, _refused)
        page = admin_client.post(
            f"/admin/shipping/shipment/{bought.pk}/void/", follow=True
        )

    said = [(m.level_tag, str(m)) for m in page.context["messages"]]
    assert said == [("success", "void: now voided")]
