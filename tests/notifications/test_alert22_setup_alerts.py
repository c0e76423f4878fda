"""An account whose own setup is wrong (here a Mailgun sandbox domain:
``sending_not_allowed``) fails every message the same way. Staff are told
by one ERROR per account and reason per interval, not one per message; each
message still keeps its error. The line names the account, never an address
or a credential."""

import logging
from collections.abc import Iterator

import pytest
from django.core.cache import cache

from integrations.models import ProviderAccount
from notifications.models import EmailStatus
from notifications.providers import base
from tests.factories import ProviderAccountFactory
from tests.notifications.mailgun_sandbox import (
    DOMAIN,
    SEND,
    sandbox_refusing,  # noqa: F401 (the ``fault`` fixture)
)
from tests.notifications.providers.conftest import fast
from tests.notifications.scripted_relay import CUSTOMER, delivered, error_records

pytestmark = pytest.mark.django_db

API_KEY = "key-alert22-secret"


@pytest.fixture(autouse=True)
def clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[float]]:
    base.setup_alerts_forget()
    now = [1000.0]
    monkeypatch.setattr(base, "monotonic", lambda: now[0])
    yield now
    base.setup_alerts_forget()


def _sandbox(slug: str, priority: int = 1) -> ProviderAccount:
    return ProviderAccountFactory(
        kind="email",
        provider="mailgun",
        slug=slug,
        priority=priority,
        credentials={"api_key": API_KEY},
        settings=fast(sender_domain=DOMAIN),
    )


def _send(count: int) -> None:
    for _ in range(count):
        status, message = delivered()
        # Nothing lost: each message waits with the reason stored.
        assert status == EmailStatus.QUEUED
        assert message.error_code == "sending_not_allowed"


def test_fifty_messages_one_error_then_one_more_an_interval_later(
    fault, clock, caplog
) -> None:
    account = _sandbox("mailgun-alert22")
    with caplog.at_level(logging.ERROR):
        _send(50)
    assert len(fault.requests_for("POST", SEND)) == 50
    (record,) = error_records(caplog)
    assert record.account == account.slug
    text = f"{record.getMessage()} {vars(record)}"
    for secret in (CUSTOMER, "shop@example.com", API_KEY):
        assert secret not in text

    clock[0] += base.SETUP_ALERT_INTERVAL - 1
    with caplog.at_level(logging.ERROR):
        _send(5)
    assert len(error_records(caplog)) == 1

    # The interval over: the shared claim has expired too (by the cache's
    # own clock, which the process clock does not move).
    clock[0] += 1
    cache.delete(base.setup_alert_key(account.pk, "sending_not_allowed"))
    with caplog.at_level(logging.ERROR):
        _send(5)
    assert [r.account for r in error_records(caplog)] == [account.slug] * 2


def test_two_broken_accounts_are_alerted_once_each(fault, caplog) -> None:
    first = _sandbox("mailgun-alert22-a", priority=1)
    second = _sandbox("mailgun-alert22-b", priority=2)
    with caplog.at_level(logging.ERROR):
        _send(10)
    alerted = sorted(record.account for record in error_records(caplog))
    assert alerted == sorted([first.slug, second.slug])
