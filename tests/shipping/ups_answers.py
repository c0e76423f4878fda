"""Set-up shared by the tests that track or void a UPS parcel: a UPS
account, a bought UPS shipment (one bought an hour ago, for voids), the
fixture's Track API answer with other activities, and a poll answered by
``responses`` (token, then the track call)."""

import copy
from datetime import UTC, timedelta

import responses
from django.utils import timezone

from integrations.models import ProviderAccount
from shipping import services
from shipping.models import Shipment, ShipmentStatus
from tests.factories import ProviderAccountFactory
from tests.shipping.providers.wire import load

BASE = "https://wwwcie.ups.com"
TOKEN_URL = f"{BASE}/security/v1/oauth/token"
NUMBER = "1Z1442YY7229014688"  # the fixture's tracking number


def track_url(number: str = NUMBER) -> str:
    return f"{BASE}/api/track/v1/details/{number}"


def void_url(number: str) -> str:
    return f"{BASE}/api/shipments/v2409/void/cancel/{number}"


def ups_account(slug: str, **settings: object) -> ProviderAccount:
    """A UPS account tried once per call; ``settings`` add to it."""
    return ProviderAccountFactory(
        kind="shipping",
        provider="ups",
        slug=slug,
        settings={"account_number": "A1B2C3", "max_attempts": 1, **settings},
        credentials={"client_id": "ups-client", "client_secret": "ups-secret"},
    )


def ups_shipment(account: ProviderAccount, key: str, **fields: object) -> Shipment:
    """A purchased UPS ground label (``key`` its idempotency key)."""
    values = {
        "account": account,
        "from_address": {},
        "to_address": {},
        "parcels": [],
        "carrier": "UPS",
        "service_code": "03",
        "amount": 1000,
        "currency": "USD",
        "idempotency_key": key,
        "status": ShipmentStatus.PURCHASED,
        "tracking_number": NUMBER,
        **fields,
    }
    return Shipment.objects.create(**values)


def bought_an_hour_ago(slug: str, number: str) -> Shipment:
    """A UPS label ``number`` bought an hour ago at a new account ``slug``
    whose breaker stays closed (the void tests' shipment)."""
    account = ups_account(slug, breaker_consecutive_failures=50)
    shipment = ups_shipment(
        account, f"{slug}-1", tracking_number=number, carrier_shipment_id=number
    )
    Shipment.objects.filter(pk=shipment.pk).update(
        created_at=timezone.now() - timedelta(hours=1)
    )
    shipment.refresh_from_db()
    return shipment


def track_answer(*activities: dict) -> dict:
    """track_response.json with ``activities`` (newest first, as UPS sends
    them) as its package's activities."""
    answer = copy.deepcopy(load("ups", "track_response.json"))
    package(answer)["activity"] = list(activities)
    return answer


def package(answer: dict) -> dict:
    return answer["trackResponse"]["shipment"][0]["package"][0]


def ups_answering(answer: dict, number: str = NUMBER) -> responses.RequestsMock:
    """UPS answering a token request and ``number``'s track call with
    ``answer`` (enter it around the calls)."""
    mocked = responses.RequestsMock(assert_all_requests_are_fired=False)
    mocked.post(TOKEN_URL, json=load("ups", "oauth_token.json"))
    mocked.get(track_url(number), json=answer)
    return mocked


def poll(shipment: Shipment, answer: dict) -> None:
    """Refresh ``shipment``'s tracking with ``answer`` from UPS."""
    with ups_answering(answer, shipment.tracking_number):
        services.shipment_tracking_refresh(shipment=shipment)
    shipment.refresh_from_db()


def activity_ago(kind: str, code: str, description: str, minutes_ago: int) -> dict:
    """A Track API activity of status ``kind``/``code``, ``minutes_ago`` ago
    in UPS's GMT date and time fields."""
    at = (timezone.now() - timedelta(minutes=minutes_ago)).astimezone(UTC)
    return {
        "location": {"address": {"countryCode": "US", "country": "US"}},
        "status": {"type": kind, "description": description, "code": code},
        "gmtDate": at.strftime("%Y%m%d"),
        "gmtTime": at.strftime("%H%M%S"),
    }


def voided_answer(number: str) -> dict:
    """UPS's answer for a label voided just now (MV after its label's MP),
    with no current status stated: the newest activity decides."""
    answer = track_answer(
        activity_ago("MV", "MV", "Billing Information Voided", 0),
        activity_ago("M", "MP", "Shipper created a label", 50),
    )
    package(answer)["trackingNumber"] = number
    package(answer).pop("currentStatus", None)
    return answer
