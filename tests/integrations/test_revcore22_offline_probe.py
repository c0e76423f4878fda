"""Redis unreachable and the open period this process last read for an
account is over: one try goes to it, as the half-open probe does with Redis
(one per process here). Payments that come while that try is still running
are not sent to the account too (each would cost its timeouts before
failover); a succeeding try lets everyone back, a failing one holds it
skipped for another open period."""

import copy
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.db import connections

from integrations import redis_line
from integrations.breaker import breaker_for
from integrations.breaker.store import forget_recent
from integrations.errors import NotProcessed
from integrations.models import ProviderAccount
from payments import services
from payments.providers.sandbox import SandboxPaymentsAdapter
from tests.factories import ProviderAccountFactory

pytestmark = [pytest.mark.redis, pytest.mark.django_db(transaction=True)]

REAL_CACHES = copy.deepcopy(django_settings.CACHES)
REFUSED = {"default": {**REAL_CACHES["default"], "LOCATION": "redis://127.0.0.1:1/0"}}
OPEN_SECONDS = 60.0


@pytest.fixture
def read_open_then_over(settings, monkeypatch) -> Iterator[ProviderAccount]:
    """The primary's breaker read open by this process; then Redis is gone
    and that open period is over (by the monotonic clock)."""
    limits = {"breaker_open_seconds": OPEN_SECONDS}
    primary = ProviderAccountFactory(slug="sbx-primary", priority=1, settings=limits)
    ProviderAccountFactory(slug="sbx-secondary", priority=2)
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
    assert breaker.snapshot().state == "open"
    settings.CACHES = copy.deepcopy(REFUSED)
    redis_line.outage.forget()
    later = redis_line.time.monotonic() + OPEN_SECONDS + 1
    monkeypatch.setattr(redis_line.time, "monotonic", lambda: later)
    yield primary
    forget_recent()


def _pay(n: int) -> Any:
    return services.payment_create(
        order_id=f"order-rc22-{n}",
        amount=1050,
        currency="EUR",
        source_token="tok_success",
        capture=True,
        idempotency_key=f"key-rc22-{n}",
    )


class SlowPrimary:
    """The primary's charge blocks until released (a try still running)."""

    def __init__(self, monkeypatch, *, fail: bool = False) -> None:
        self.calls: list[str] = []
        self.inside = threading.Event()
        self.release = threading.Event()
        create = SandboxPaymentsAdapter._create

        def charge(adapter: Any, request: Any) -> Any:
            self.calls.append(adapter.account.slug)
            if adapter.account.slug == "sbx-primary":
                self.inside.set()
                self.release.wait(10)
                if fail:
                    raise NotProcessed("gateway down", code="provider_unavailable")
            return create(adapter, request)

        monkeypatch.setattr(SandboxPaymentsAdapter, "_create", charge)

    def pay_in_thread(self, n: int) -> tuple[threading.Thread, list[Any]]:
        out: list[Any] = []

        def run() -> None:
            try:
                out.append(_pay(n))
            except Exception as exc:  # reported to the test, not lost
                out.append(exc)
            finally:
                connections.close_all()

        thread = threading.Thread(target=run)
        thread.start()
        assert self.inside.wait(10), "the first payment never reached the primary"
        return thread, out


def test_a_payment_during_the_try_goes_elsewhere(read_open_then_over, monkeypatch):
    primary = SlowPrimary(monkeypatch)
    thread, out = primary.pay_in_thread(0)
    try:
        second = _pay(1)  # while the try is still running
    finally:
        primary.release.set()
        thread.join(10)
    assert second.account.slug == "sbx-secondary"
    assert primary.calls.count("sbx-primary") == 1
    assert out[0].account.slug == "sbx-primary"  # the try succeeded
    assert _pay(2).account.slug == "sbx-primary"  # so everyone goes back


def test_a_failed_try_holds_it_skipped(read_open_then_over, monkeypatch):
    primary = SlowPrimary(monkeypatch, fail=True)
    thread, out = primary.pay_in_thread(0)
    try:
        assert _pay(1).account.slug == "sbx-secondary"
    finally:
        primary.release.set()
        thread.join(10)
    assert out[0].account.slug == "sbx-secondary"  # the try failed over
    assert _pay(2).account.slug == "sbx-secondary"
    assert primary.calls.count("sbx-primary") == 1


def test_a_try_refused_before_the_provider_frees_the_next(
    read_open_then_over, monkeypatch
):
    # The try never reached the provider (our own refusal): the next payment
    # may try at once, as a released half-open probe lets another probe.
    create = SandboxPaymentsAdapter._create
    calls: list[str] = []

    def refused_once(adapter: Any, request: Any) -> Any:
        calls.append(adapter.account.slug)
        if adapter.account.slug == "sbx-primary" and calls.count("sbx-primary") == 1:
            raise NotProcessed("refused here", code="concurrency_limited")
        return create(adapter, request)

    monkeypatch.setattr(SandboxPaymentsAdapter, "_create", refused_once)
    assert _pay(0).account.slug == "sbx-secondary"
    out: list[Any] = []

    def other_thread() -> None:  # another request's thread, not the try's
        try:
            out.append(_pay(1))
        finally:
            connections.close_all()

    thread = threading.Thread(target=other_thread)
    thread.start()
    thread.join(10)
    assert out[0].account.slug == "sbx-primary"
