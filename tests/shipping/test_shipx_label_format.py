"""A label format the quote's carrier does not print (the sandbox prints PDF
and ZPL, not PNG) is the storefront's bad input: a 400 naming
``label_format``, no shipment made and nothing sent to the carrier (the
corrected request, under a new Idempotency-Key, buys). Was: a failed
shipment and a 422 ``label_failed`` as if the carrier had refused it."""

import pytest
from rest_framework.test import APIClient

from integrations.models import ProviderCall
from shipping.api_examples import RATE_REQUEST
from shipping.models import Shipment
from tests.factories import ApiKeyFactory
from tests.shipping.helpers import carrier

SHIPMENTS = "/api/v1/shipping/shipments/"


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("threads_db")
def test_a_format_the_carrier_does_not_print_is_a_400():
    carrier("post")
    key = ApiKeyFactory(scopes=["shipping:read", "shipping:write"])
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {key.raw_key}")
    rates = api.post("/api/v1/shipping/rates/", RATE_REQUEST, format="json")
    quote_id = rates.json()["quotes"][0]["quote_id"]
    calls = ProviderCall.objects.count()

    refused = api.post(
        SHIPMENTS,
        {"quote_id": quote_id, "label_format": "png"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="buy-1",
    )

    assert refused.status_code == 400, refused.content
    error = refused.json()["error"]
    assert (error["code"], error["param"]) == ("invalid_label_format", "label_format")
    assert not Shipment.objects.exists()
    assert ProviderCall.objects.count() == calls
    fixed = api.post(
        SHIPMENTS,
        {"quote_id": quote_id, "label_format": "zpl"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="buy-2",
    )
    assert fixed.status_code == 201, fixed.content
    assert fixed.json()["label_format"] == "zpl"
