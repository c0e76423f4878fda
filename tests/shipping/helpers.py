"""Shipping test helpers: sandbox carrier accounts and a shopped quote."""

from integrations.models import ProviderAccount
from shipping import services
from tests.factories import ProviderAccountFactory
from tests.shipping.contract import requests


def carrier(slug: str, priority: int = 10, **settings: object) -> ProviderAccount:
    return ProviderAccountFactory(
        kind="shipping",
        provider="sandbox",
        slug=slug,
        display_name=slug.replace("-", " ").title(),
        priority=priority,
        settings=settings,
    )


def shop(**overrides: object) -> services.RateShopResult:
    return services.rates_shop(request=requests.rate_request(**overrides))


def scheduled_pickup(account: ProviderAccount, confirmation: str, **values: object):
    """A pickup the carrier booked under ``confirmation``, for cancel tests:
    for tomorrow unless told (a past day is refused before any cancel)."""
    from datetime import UTC, time, timedelta
    from decimal import Decimal

    from integrations.clock import database_now
    from shipping import codec
    from shipping.models import Pickup, PickupStatus

    fields = {
        "account": account,
        "pickup_date": database_now().astimezone(UTC).date() + timedelta(days=1),
        "ready_time": time(9, 0),
        "close_time": time(17, 0),
        "address": codec.address_to_json(requests.SHIPPER),
        "parcel_count": 1,
        "total_weight": Decimal("2"),
        "idempotency_key": f"pickup-{confirmation}",
        "status": PickupStatus.SCHEDULED,
        "confirmation_number": confirmation,
        **values,
    }
    return Pickup.objects.create(**fields)


def pickup_day(days: int):
    """Today (UTC, the database's clock, as the booking window reads it)
    moved by ``days``."""
    from datetime import UTC, timedelta

    from integrations.clock import database_now

    return database_now().astimezone(UTC).date() + timedelta(days=days)


def api_client(*scopes: str):
    """A storefront API client whose key holds ``scopes``."""
    from rest_framework.test import APIClient

    from tests.factories import ApiKeyFactory

    client = APIClient()
    key = ApiKeyFactory(scopes=list(scopes))
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key.raw_key}")
    return client


def ups_pickup(address_changes: dict, key: str) -> tuple[object, list[dict]]:
    """POST a pickup at a new UPS account (the API example's address with
    ``address_changes``) over UPS's fixtures: (the answer, each
    PickupAddress sent to UPS; none when refused before the call)."""
    import json

    import responses

    from shipping.api_examples import ADDRESS_FROM, PICKUP_REQUEST
    from tests.shipping.contract import harness_ups

    url = f"{harness_ups.BASE}/api/pickupcreation/v2409/pickup"
    account = harness_ups.make_account()
    address = {**ADDRESS_FROM, **address_changes}
    body = PICKUP_REQUEST | {"account": account.slug, "address": address}
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        mocked.post(harness_ups.TOKEN_URL, json=harness_ups.load("oauth_token.json"))
        mocked.post(url, json=harness_ups.load("pickup_response.json"))
        api = api_client("shipping:read", "shipping:write")
        reply = api.post(
            "/api/v1/shipping/pickups/", body, format="json", HTTP_IDEMPOTENCY_KEY=key
        )
        calls = [c for c in mocked.calls if c.request.url == url]
    sent = [json.loads(c.request.body)["PickupCreationRequest"] for c in calls]
    return reply, [request["PickupAddress"] for request in sent]
