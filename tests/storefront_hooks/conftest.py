"""Storefront webhooks fixtures: a receiver on 127.0.0.1 (the fault server),
loopback allowed, and endpoints made through the service."""

from collections.abc import Callable, Iterator

import pytest

from integrations.testing.faultserver import FaultServer
from storefront_hooks import services
from storefront_hooks.models import WebhookEndpoint

HOOK_PATH = "/hooks"


@pytest.fixture(autouse=True)
def _hooks_settings(settings) -> None:
    settings.STOREFRONT_WEBHOOK_ALLOW_PRIVATE_ADDRESSES = True
    settings.STOREFRONT_WEBHOOK_READ_TIMEOUT = 1.0
    settings.STOREFRONT_WEBHOOK_CONNECT_TIMEOUT = 1.0
    settings.SWITCHYARD_EVENT_SUBSCRIBERS = {
        "payment.*": ["storefront_hooks.services.event_fan_out"],
        "integrations.*": ["storefront_hooks.services.event_fan_out"],
    }


@pytest.fixture
def receiver() -> Iterator[FaultServer]:
    with FaultServer(hang_limit=3.0) as server:
        yield server


MakeEndpoint = Callable[..., tuple[WebhookEndpoint, str]]


@pytest.fixture
def make_endpoint(db, receiver: FaultServer) -> MakeEndpoint:
    def make(**kwargs: object) -> tuple[WebhookEndpoint, str]:
        kwargs.setdefault("url", receiver.url_for(HOOK_PATH))
        kwargs.setdefault("event_types", ["payment.*"])
        return services.endpoint_create(**kwargs)

    return make
