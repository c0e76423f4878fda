"""Storefront webhooks fixtures: a receiver on 127.0.0.1 (the fault server),
loopback allowed, and endpoints made through the service."""

import contextlib
from collections.abc import Callable, Iterator
from datetime import timedelta
from unittest import mock

import pytest
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from integrations.testing.faultserver import FaultServer
from storefront_hooks import services
from storefront_hooks.models import WebhookEndpoint
from tests.factories import ApiKeyFactory

HOOK_PATH = "/hooks"

# The test machine's own clock, whatever a test's skew does to timezone.now.
_MACHINE_NOW = timezone.now


@contextlib.contextmanager
def machine_clock(seconds: float) -> Iterator[None]:
    """Run as a process on a machine whose clock is ``seconds`` ahead of this
    one (behind if negative): NTP leaves a second or two between machines."""
    skewed = lambda: _MACHINE_NOW() + timedelta(seconds=seconds)  # noqa: E731
    with mock.patch.object(timezone, "now", skewed):
        yield


@pytest.fixture
def two_machines() -> None:
    """Skew tests: only a server database is shared by processes on several
    machines (SQLite's one clock is this machine's)."""
    if connection.vendor != "postgresql":
        pytest.skip("SQLite is opened by processes of one machine only")


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


@pytest.fixture
def api() -> APIClient:
    """An API client whose key manages webhook endpoints."""
    client = APIClient()
    key = ApiKeyFactory(scopes=["webhooks:manage"])
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key.raw_key}")
    return client
