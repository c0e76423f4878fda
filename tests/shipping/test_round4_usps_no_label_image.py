"""USPS's label answer with no label image part at all: the label was bought
(its tracking number is in the answer's metadata), so it is kept with the
shipment (``unknown``, garbled_label_file) as an empty image is, never lost
as a malformed_response nor bought again. An answer without its metadata
names no label, so it stays malformed_response."""

from datetime import timedelta

import pytest
import responses
from django.utils import timezone

from shipping import codec, services
from shipping.models import RateQuote, ShipmentStatus
from tests.shipping.contract import harness_usps
from tests.shipping.contract import requests as shared

pytestmark = pytest.mark.django_db

# The Labels API answer (karrio's USPS label_response sample as multipart).
ANSWER = (harness_usps.FIXTURES / "label_response.multipart").read_bytes()
BOUNDARY = b"--726UYUDSQB6JWJXFDY"
_PARTS = ANSWER.split(BOUNDARY)  # "", metadata part, image part, "--\r\n"
WITHOUT_IMAGE = BOUNDARY.join([_PARTS[0], _PARTS[1], _PARTS[3]])
WITHOUT_METADATA = BOUNDARY.join([_PARTS[0], _PARTS[2], _PARTS[3]])


def _buy(django_capture_on_commit_callbacks, body: bytes):
    account = harness_usps.make_account()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        request = harness_usps._label_answer(
            mocked, body=body, content_type=harness_usps.MULTIPART
        )
        quote = RateQuote.objects.create(
            fingerprint="n" * 64,
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
            return services.shipment_buy(quote_id=quote.public_id)


def test_the_fixture_parts_are_cut_as_meant():
    assert b'name="labelMetadata"' in WITHOUT_IMAGE
    assert b'name="labelImage"' not in WITHOUT_IMAGE
    assert WITHOUT_IMAGE.endswith(BOUNDARY + b"--\r\n")
    assert b'name="labelMetadata"' not in WITHOUT_METADATA


def test_a_usps_answer_without_its_image_keeps_the_bought_label(
    django_capture_on_commit_callbacks,
):
    shipment = _buy(django_capture_on_commit_callbacks, WITHOUT_IMAGE)

    assert shipment.status == ShipmentStatus.UNKNOWN
    assert shipment.failure_code == "garbled_label_file"
    assert shipment.tracking_number == "9205590109769900012613"
    assert shipment.carrier_shipment_id == shipment.tracking_number
    assert bytes(shipment.label_data) == b""


def test_a_usps_answer_without_its_metadata_is_still_malformed(
    django_capture_on_commit_callbacks,
):
    shipment = _buy(django_capture_on_commit_callbacks, WITHOUT_METADATA)

    assert shipment.status == ShipmentStatus.UNKNOWN
    assert shipment.failure_code == "malformed_response"
    assert shipment.tracking_number == ""
