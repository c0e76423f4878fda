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
