"""Pickups under carrier faults: every booking reaches an answer the shop
can act on and a state staff can settle; none holds its shipments for ever."""

from datetime import time, timedelta
from decimal import Decimal

import pytest
import requests as rq
import responses
from django.utils import timezone

from shipping import codec, services
from shipping.api_examples import ADDRESS_FROM, PICKUP_REQUEST
from shipping.models import Pickup, PickupStatus, RateQuote, Shipment
from shipping.schedules import JOBS
from shipping.services import pickups
from shipping.tasks import sweep_stuck_pickups
from tests.shipping.contract import requests
from tests.shipping.helpers import api_client, fedex_account
from tests.shipping.providers.wire import load

pytestmark = pytest.mark.django_db

FEDEX = "https://apis-sandbox.fedex.com"
PICKUPS = "/api/v1/shipping/pickups/"


def _api():
    return api_client("shipping:read", "shipping:write", raise_request_exception=False)


def _bought(account, number: str) -> Shipment:
    request = codec.request_to_json(requests.rate_request())
    quote = RateQuote.objects.create(
        fingerprint="f" * 64,
        account=account,
        carrier="fedex",
        service_code="P",
        service_name="P",
        amount=840,
        currency="USD",
        request=request,
        expires_at=timezone.now() + timedelta(minutes=10),
    )
    return Shipment.objects.create(
        from_address=request["from_address"],
        to_address=request["to_address"],
        parcels=request["parcels"],
        account=account,
        carrier="fedex",
        service_code="P",
        service_name="P",
        amount=840,
        currency="USD",
        quote=quote,
        label_format="pdf",
        tracking_number=number,
        carrier_shipment_id=number,
        status="purchased",
        tracking_status="pre_transit",
        idempotency_key=f"key-{number}",
    )


def _body(account, *shipments: Shipment) -> dict:
    return {
        **PICKUP_REQUEST,
        "account": account.slug,
        "address": ADDRESS_FROM,
        "pickup_date": (timezone.now() + timedelta(days=2)).date().isoformat(),
        "parcel_count": 1,
        "total_weight": "2",
        "shipments": [s.public_id for s in shipments],
    }


def test_a_pickup_whose_answer_breaks_the_parser_is_left_for_staff_to_settle():
    """A 200 of the wrong shape: no 500, the pickup 'unknown' (it may be
    booked, so it still holds its shipments), staff settle it, and then
    the shipments can be booked again."""
    account = fedex_account()
    shipment = _bought(account, "794644790138")
    api = _api()
    body = _body(account, shipment)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        rsps.post(f"{FEDEX}/oauth/token", json=load("fedex", "oauth_token.json"))
        rsps.post(f"{FEDEX}/pickup/v1/pickups", json={"output": "booked"})
        first = api.post(PICKUPS, body, format="json", HTTP_IDEMPOTENCY_KEY="pu-1")
        pickup = Pickup.objects.get()
        held = api.post(PICKUPS, body, format="json", HTTP_IDEMPOTENCY_KEY="pu-2")
        services.pickup_resolve(pickup=pickup)  # staff: FedEx has no booking
        rsps.replace(
            "POST",
            f"{FEDEX}/pickup/v1/pickups",
            json={"output": {"pickupConfirmationCode": "NQAA97"}},
        )
        again = api.post(PICKUPS, body, format="json", HTTP_IDEMPOTENCY_KEY="pu-3")

    assert (first.status_code, first.json()["status"]) == (202, "unknown")
    assert held.status_code == 409  # never a second driver while in doubt
    assert Pickup.objects.get(pk=pickup.pk).status == PickupStatus.FAILED
    assert (again.status_code, again.json()["status"]) == (201, "scheduled")


def _requested(account, key: str) -> Pickup:
    return Pickup.objects.create(
        account=account,
        address=codec.address_to_json(requests.SHIPPER),
        pickup_date=timezone.localdate() + timedelta(days=1),
        ready_time=time(9),
        close_time=time(17),
        total_weight=Decimal("2"),
        idempotency_key=key,
    )


def test_a_booking_whose_process_died_is_swept_to_unknown_for_staff():
    account = fedex_account()
    stuck, fresh = _requested(account, "died"), _requested(account, "fresh")
    stuck.shipments.set([_bought(account, "794644790138")])
    old = timezone.now() - pickups.STUCK_REQUESTED - timedelta(seconds=1)
    Pickup.objects.filter(pk=stuck.pk).update(created_at=old)

    assert sweep_stuck_pickups() == 1

    stuck.refresh_from_db()
    assert stuck.status == PickupStatus.UNKNOWN
    assert Pickup.objects.get(pk=fresh.pk).status == PickupStatus.REQUESTED
    # Staff settle it (no booking found): its shipments are free again.
    assert services.pickup_resolve(pickup=stuck).status == PickupStatus.FAILED
    assert "shipping.tasks.sweep_stuck_pickups" in {job.func for job in JOBS}


@pytest.mark.parametrize("fault", ["429", "connect_timeout"])
def test_a_pickup_the_carrier_never_processed_is_a_503_the_shop_may_retry(fault):
    """Not a 202 'failed' its key replays: 503 carrier_unavailable (with the
    carrier's Retry-After), the failed row kept for staff, and the same key
    books once the carrier is back."""
    account = fedex_account()
    api = _api()
    body = _body(account)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        rsps.post(f"{FEDEX}/oauth/token", json=load("fedex", "oauth_token.json"))
        if fault == "429":
            rsps.post(
                f"{FEDEX}/pickup/v1/pickups",
                status=429,
                headers={"Retry-After": "30"},
                json={"errors": []},
            )
        else:
            rsps.post(
                f"{FEDEX}/pickup/v1/pickups",
                body=rq.exceptions.ConnectTimeout("no route"),
            )
        answer = api.post(PICKUPS, body, format="json", HTTP_IDEMPOTENCY_KEY="pu-1")
        rsps.replace(
            "POST",
            f"{FEDEX}/pickup/v1/pickups",
            json={"output": {"pickupConfirmationCode": "NQAA97"}},
        )
        retry = api.post(PICKUPS, body, format="json", HTTP_IDEMPOTENCY_KEY="pu-1")

    assert answer.status_code == 503, answer.content
    assert answer.json()["error"]["code"] == "carrier_unavailable"
    if fault == "429":
        assert answer.headers["Retry-After"] == "30"
    failed = Pickup.objects.get(status=PickupStatus.FAILED)
    assert failed.failure_message
    assert (retry.status_code, retry.json()["status"]) == (201, "scheduled")
    assert retry.json()["id"] != failed.public_id


def test_a_lost_token_answer_leaves_no_pickup_in_doubt():
    """The token call timed out: the booking never went out, so the pickup
    is not 'unknown' (holding its shipments until staff settle it)."""
    account = fedex_account()
    api = _api()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        rsps.post(f"{FEDEX}/oauth/token", body=rq.exceptions.ReadTimeout("lost"))
        booking = rsps.post(f"{FEDEX}/pickup/v1/pickups", json={})
        answer = api.post(
            PICKUPS, _body(account), format="json", HTTP_IDEMPOTENCY_KEY="pu-1"
        )
    assert booking.call_count == 0
    assert answer.status_code == 503
    assert Pickup.objects.get().status == PickupStatus.FAILED
