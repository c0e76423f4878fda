"""A provider whose breaker this process last read open, while Redis cannot
be read: the payment path fails open, but that account is not tried on
every payment (costing its timeouts before failover). It stays skipped until
its open period ends (by the state last read), then it is tried once; a
failed try holds it skipped for another open period."""

import copy
import socket
from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings as django_settings

from integrations import redis_line
from integrations.breaker import breaker_for
from integrations.breaker.store import forget_recent
from integrations.errors import NotProcessed
from integrations.models import ProviderAccount
from payments import services
from payments.models import Payment
from payments.providers.sandbox import SandboxPaymentsAdapter
from tests.factories import ProviderAccountFactory

pytestmark = [pytest.mark.redis, pytest.mark.django_db]

REAL_CACHES = copy.deepcopy(django_settings.CACHES)
OPEN_SECONDS = 60.0


def _closed_port() -> int:
    # Bound then closed: nothing listens there, a connect is refused at once.
    probe = socket.create_server(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    return port


@pytest.fixture
def accounts() -> tuple[ProviderAccount, ProviderAccount]:
    limits = {"breaker_open_seconds": OPEN_SECONDS}
    primary = ProviderAccountFactory(slug="sbx-primary", priority=1, settings=limits)
    secondary = ProviderAccountFactory(slug="sbx-secondary", priority=2)
    return primary, secondary


@pytest.fixture
def opened_then_outage(settings, accounts) -> Iterator[ProviderAccount]:
    """The primary's breaker open on the real Redis, read by this process;
    then Redis is gone (a port nothing listens on)."""
    primary, _ = accounts
    forget_recent()
    breaker = breaker_for(primary)
    now = breaker.store.now()
    breaker.store.save_record(
        {
            "state": "open",
            "gen": 1,
            "opened_until": now + OPEN_SECONDS,
            "last_state": "open",
            "at": now,
            "reason": "test",
        }
    )
    assert breaker.snapshot().state == "open"  # this process read it
    settings.CACHES = {
        "default": {
            **REAL_CACHES["default"],
            "LOCATION": f"redis://127.0.0.1:{_closed_port()}/0",
        }
    }
    redis_line.outage.forget()
    yield primary


@pytest.fixture
def charged(monkeypatch) -> list[str]:
    slugs: list[str] = []
    create = SandboxPaymentsAdapter._create

    def counted(adapter: Any, request: Any) -> Any:
        slugs.append(adapter.account.slug)
        return create(adapter, request)

    monkeypatch.setattr(SandboxPaymentsAdapter, "_create", counted)
    return slugs


def _pay(n: int, token: str = "tok_success") -> Any:
    return services.payment_create(
        order_id=f"order-c22-{n}",
        amount=1050,
        currency="EUR",
        source_token=token,
        capture=True,
        idempotency_key=f"key-c22-{n}",
    )


def test_an_account_read_open_is_not_called_in_an_outage(opened_then_outage, charged):
    for n in range(3):
        payment = _pay(n)
        assert payment.account.slug == "sbx-secondary"
    assert charged == ["sbx-secondary"] * 3
    assert Payment.objects.filter(account__slug="sbx-primary").count() == 0


def test_after_its_open_period_it_is_tried_once(
    opened_then_outage, charged, monkeypatch
):
    _pay(0)
    assert charged == ["sbx-secondary"]
    later = redis_line.time.monotonic() + OPEN_SECONDS + 1
    monkeypatch.setattr(redis_line.time, "monotonic", lambda: later)
    payment = _pay(1)
    assert payment.account.slug == "sbx-primary"  # its open period is over
    assert charged == ["sbx-secondary", "sbx-primary"]


def test_a_failed_try_keeps_it_skipped_another_open_period(
    opened_then_outage, monkeypatch
):
    later = redis_line.time.monotonic() + OPEN_SECONDS + 1
    monkeypatch.setattr(redis_line.time, "monotonic", lambda: later)
    calls: list[str] = []
    create = SandboxPaymentsAdapter._create

    def primary_down(adapter: Any, request: Any) -> Any:
        calls.append(adapter.account.slug)
        if adapter.account.slug == "sbx-primary":
            raise NotProcessed("gateway down", code="provider_unavailable")
        return create(adapter, request)

    monkeypatch.setattr(SandboxPaymentsAdapter, "_create", primary_down)
    assert _pay(0).account.slug == "sbx-secondary"
    tries = calls.count("sbx-primary")
    assert tries >= 1  # tried once its open period was over
    assert _pay(1).account.slug == "sbx-secondary"
    assert calls.count("sbx-primary") == tries  # then skipped again
