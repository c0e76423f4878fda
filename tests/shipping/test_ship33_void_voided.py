"""A void of a shipment already voided is the void done: 200 with the
shipment, nothing sent to the carrier, no second ``shipment.voided``,
whatever the key (as a pickup cancel of a cancelled pickup answers, and as
payments answer "already voided"). It answered 409 invalid_state "a voided
shipment cannot be voided" unless it re-ran a request whose worker died, so
a storefront retrying under a new key after a poll voided the label was
told it could not be done."""

import pytest
import responses

from integrations.events import Event
from shipping import services
from shipping.models import Shipment, ShipmentAttempt, ShipmentStatus
from tests.shipping.helpers import api_client, carrier
from tests.shipping.test_labels import _quote

pytestmark = pytest.mark.django_db
SHIPMENTS = "/api/v1/shipping/shipments/"


@pytest.fixture
def voided() -> Shipment:
    quote = _quote(carrier("post"))
    shipment = services.shipment_buy(quote_id=quote.public_id, idempotency_key="s33")
    return services.shipment_void(shipment=shipment)


def _carrier_voids() -> int:
    return ShipmentAttempt.objects.filter(operation="void_label").count()


def test_a_void_under_a_new_key_answers_the_voided_shipment(voided):
    api = api_client("shipping:read", "shipping:write")

    with responses.RequestsMock():  # nothing goes out
        reply = api.post(
            f"{SHIPMENTS}{voided.public_id}/void/", HTTP_IDEMPOTENCY_KEY="s33-new"
        )

    assert reply.status_code == 200, reply.json()
    assert (reply.json()["id"], reply.json()["status"]) == (voided.public_id, "voided")
    assert _carrier_voids() == 1
    assert Event.objects.filter(name="shipment.voided").count() == 1


def test_a_void_after_the_carriers_word_voided_it_answers_200(voided):
    # Voided by a poll (UPS MV): no void attempt of ours at all.
    ShipmentAttempt.objects.all().delete()

    reply = api_client("shipping:read", "shipping:write").post(
        f"{SHIPMENTS}{voided.public_id}/void/", HTTP_IDEMPOTENCY_KEY="s33-poll"
    )

    assert (reply.status_code, reply.json()["status"]) == (200, "voided")
    assert _carrier_voids() == 0


def test_a_void_that_finds_it_voided_at_its_claim_answers_it(voided):
    # Read bought, voided by another request before this one's claim.
    stale = Shipment.objects.get(pk=voided.pk)
    stale.status = ShipmentStatus.PURCHASED

    answered = services.shipment_void(shipment=stale)

    assert answered.status == ShipmentStatus.VOIDED
    assert _carrier_voids() == 1
    assert Event.objects.filter(name="shipment.voided").count() == 1


def test_the_admins_void_of_a_voided_shipment_is_a_success(voided, admin_client):
    page = admin_client.post(f"/admin/shipping/shipment/{voided.pk}/void/", follow=True)

    said = [(m.level_tag, str(m)) for m in page.context["messages"]]
    assert said == [("success", "void: now voided")]
    assert _carrier_voids() == 1
    assert Event.objects.filter(name="shipment.voided").count() == 1


@pytest.mark.parametrize("status", [ShipmentStatus.FAILED, ShipmentStatus.UNKNOWN])
def test_a_shipment_never_bought_is_still_refused(voided, status):
    Shipment.objects.filter(pk=voided.pk).update(status=status)

    with pytest.raises(services.InvalidState) as refused:
        services.shipment_void(shipment=Shipment.objects.get(pk=voided.pk))

    assert refused.value.code == "invalid_state"


def test_the_schema_no_longer_lists_voided_as_a_refusal():
    schema = api_client("shipping:read").get("/api/schema/", {"format": "json"}).json()
    said = schema["paths"][f"{SHIPMENTS}{{public_id}}/void/"]["post"]["responses"]

    assert "or already voided" not in said["409"]["description"]
    assert "a `voided` one is answered 200" in said["409"]["description"]
