"""USPS's label image (base64 text in a multipart answer) that is empty or
not base64: the label was bought and its tracking number is in the answer's
metadata, so it is kept with the shipment (``unknown``, garbled_label_file),
as every carrier's garbled file is, never lost nor rebought."""

from datetime import timedelta

import pytest
import responses
from django.utils import timezone

from shipping import codec, services
from shipping.models import RateQuote, ShipmentStatus
from tests.shipping.contract import harness_usps
from tests.shipping.contract import requests as shared

pytestmark = pytest.mark.django_db

ANSWER = (harness_usps.FIXTURES / "label_response.multipart").read_bytes()
IMAGE = ANSWER.split(b"\r\n\r\n")[-1].split(b"\r\n")[0]


@pytest.mark.parametrize(
    "image", [b"%%% not base64 %%%", b""], ids=["not base64", "empty"]
)
def test_an_unreadable_usps_image_keeps_the_bought_label(
    django_capture_on_commit_callbacks, image
):
    account = harness_usps.make_account()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        request = harness_usps._label_answer(
            mocked,
            body=ANSWER.replace(IMAGE, image),
            content_type=harness_usps.MULTIPART,
        )
        quote = RateQuote.objects.create(
            fingerprint="u" * 64,
            account=account,
            carrier="USPS",
            service_code=request.service_code,
            service_name="Priority Mail",
            carrier_rate_id=request.carrier_rate_id,
            amount=764,
            currency="USD",
            request=codec.request_to_json(shared.rate_request()),
            expires_at=timezone.now() + timedelta(minutes=10),
        )
        with django_capture_on_commit_callbacks(execute=True):
            shipment = services.shipment_buy(quote_id=quote.public_id)

    assert shipment.status == ShipmentStatus.UNKNOWN
    assert shipment.failure_code == "garbled_label_file"
    assert shipment.tracking_number == "9205590109769900012613"
    assert shipment.carrier_shipment_id == shipment.tracking_number
    assert bytes(shipment.label_data) == b""
