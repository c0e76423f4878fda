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
