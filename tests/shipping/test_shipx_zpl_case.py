"""A ZPL label whose commands are in lower case. ZPL II command names are
not case sensitive (a printer reads ``^xa`` as ``^XA``), so a carrier's
lower-case ``^xa ... ^xz`` file is whole; one without its end format is
still garbled (``unknown``, kept for staff, never rebought)."""

import base64
from datetime import timedelta

import pytest
import responses
from django.utils import timezone

from shipping import codec, services
from shipping.models import RateQuote, ShipmentStatus
from shipping.services.settle import shipment_settle_by_hand
from tests.shipping.contract import harness_fedex, harness_usps
from tests.shipping.contract import requests as shared
from tests.shipping.providers.wire import load

pytestmark = pytest.mark.django_db

LOWER = (
    b"^xa\n^fo50,50^a0n,30,30^fdShip to^fs\n^by3^bcn,100,y,n,n^fd794791341818^fs\n^xz\n"
)
MIXED = b"~dgr:logo.grf,4,1,ff00\n^Xa^FO50,50^FDmixed^FS^xZ\r\n"
CUT = b"^xa\n^fo50,50^a0n,30,30^fdShip to^fs\n^by3^bcn,100,y"
NO_CARET = b"xa fo50,50 fdShip to fs xz"


def _quote(account, carrier: str, service: str, rate_id: str = "") -> RateQuote:
    return RateQuote.objects.create(
        fingerprint="z" * 64,
        account=account,
        carrier=carrier,
        service_code=service,
        service_name=service,
        carrier_rate_id=rate_id,
        amount=1000,
        currency="USD",
        request=codec.request_to_json(shared.rate_request()),
        expires_at=timezone.now() + timedelta(minutes=10),
    )


def _fedex_buy(callbacks, zpl: bytes):
    account = harness_fedex.make_account()
    answer = load("fedex", "ship_response.json")
    piece = answer["output"]["transactionShipments"][0]["pieceResponses"][0]
    piece["packageDocuments"][0]["encodedLabel"] = base64.b64encode(zpl).decode()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        harness_fedex._token(mocked)
        mocked.post(harness_fedex.SHIP_URL, json=answer)
        quote = _quote(account, "fedex", "FEDEX_GROUND")
        with callbacks(execute=True):
            return services.shipment_buy(quote_id=quote.public_id, label_format="zpl")


@pytest.mark.parametrize("zpl", [LOWER, MIXED], ids=["lower", "mixed"])
def test_a_lower_case_zpl_label_is_bought(django_capture_on_commit_callbacks, zpl):
    shipment = _fedex_buy(django_capture_on_commit_callbacks, zpl)

    assert shipment.status == ShipmentStatus.PURCHASED, shipment.failure_code
    assert bytes(shipment.label_data) == zpl


@pytest.mark.parametrize("zpl", [CUT, NO_CARET], ids=["cut", "no caret"])
def test_a_garbled_lower_case_zpl_label_is_still_refused(
    django_capture_on_commit_callbacks, zpl
):
    shipment = _fedex_buy(django_capture_on_commit_callbacks, zpl)

    assert shipment.status == ShipmentStatus.UNKNOWN
    assert shipment.failure_code == "garbled_label_file"
    assert bytes(shipment.label_data) == b""


def test_usps_a_lower_case_zpl_image_sent_decoded_is_bought(
    django_capture_on_commit_callbacks,
):
    # A part declared with a Content-Transfer-Encoding arrives decoded: the
    # file itself, whatever the case of its commands.
    answer = (harness_usps.FIXTURES / "label_response.multipart").read_bytes()
    image = answer.split(b"\r\n\r\n")[-1].split(b"\r\n")[0]
    account = harness_usps.make_account()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        request = harness_usps._label_answer(
            mocked,
            body=answer.replace(image, LOWER.replace(b"\n", b"")),
            content_type=harness_usps.MULTIPART,
        )
        quote = _quote(account, "USPS", request.service_code, request.carrier_rate_id)
        with django_capture_on_commit_callbacks(execute=True):
            shipment = services.shipment_buy(
                quote_id=quote.public_id, label_format="zpl"
            )

    assert shipment.status == ShipmentStatus.PURCHASED, shipment.failure_code
    assert bytes(shipment.label_data).startswith(b"^xa")


def test_staff_may_settle_with_a_lower_case_zpl_file(
    django_capture_on_commit_callbacks,
):
    shipment = _fedex_buy(django_capture_on_commit_callbacks, CUT)

    settled = shipment_settle_by_hand(
        shipment=shipment,
        outcome="bought",
        note="downloaded from FedEx Ship Manager",
        actor="staff@example.com",
        tracking_number=shipment.tracking_number,
        label_data=LOWER,
    )

    assert settled.status == ShipmentStatus.PURCHASED
    assert bytes(settled.label_data) == LOWER
