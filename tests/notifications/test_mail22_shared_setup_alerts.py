"""Account-setup alerts are limited across processes: one ERROR per account
and reason per interval for every worker together (a claim in the shared
cache), not one per worker and again after each restart. A "second
process" is this one with its own memory cleared. Without the cache each
process falls back to its own limit, and the send never fails for it."""

import logging

import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.db import connection, transaction

from integrations import cache_clock
from integrations.models import ProviderAccount
from integrations.redis_line import raw_key, redis_client
from notifications.models import EmailStatus
from notifications.providers import base
from tests.factories import ProviderAccountFactory
from tests.notifications.mailgun_sandbox import (
    DOMAIN,
    SEND,
    alerts_forgotten,  # noqa: F401 (autouse: no alert sent yet)
    sandbox_refusing,  # noqa: F401 (the ``fault`` fixture)
)
from tests.notifications.providers.conftest import fast
from tests.notifications.scripted_relay import delivered, error_records

pytestmark = pytest.mark.django_db

REASON = "sending_not_allowed"
UNREACHABLE = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": "redis://127.0.0.1:1/0",
    }
}


@pytest.fixture
def account() -> ProviderAccount:
    return ProviderAccountFactory(
        kind="email",
        provider="mailgun",
        slug="mailgun-mail22",
        credentials={"api_key": "key-mail22-secret"},
        settings=fast(sender_domain=DOMAIN),
    )


def _send(count: int) -> None:
    for _ in range(count):
        status, message = delivered()
        # Never failed by the alert: each message waits with its reason.
        assert status == EmailStatus.QUEUED
        assert message.error_code == REASON


def _restart() -> None:
    """Another worker process, or this one restarted: its memory is empty."""
    base.setup_alerts_forget()


def test_four_workers_and_a_restart_alert_once(fault, account, caplog) -> None:
    with caplog.at_level(logging.ERROR):
        for _ in range(5):
            _send(3)
            _restart()
    assert len(fault.requests_for("POST", SEND)) == 15
    (record,) = error_records(caplog)
    assert (record.account, record.reason) == (account.slug, REASON)


@pytest.mark.redis
def test_the_shared_claim_lasts_the_interval_then_any_worker_alerts(
    fault, account, caplog
) -> None:
    with caplog.at_level(logging.ERROR):
        _send(2)
    key = raw_key(base.setup_alert_key(account.pk, REASON))
    ttl = redis_client().ttl(key)
    assert base.SETUP_ALERT_INTERVAL - 5 <= ttl <= base.SETUP_ALERT_INTERVAL

    # The interval over (Redis expired the claim), another worker alerts.
    redis_client().delete(key)
    _restart()
    with caplog.at_level(logging.ERROR):
        _send(2)
    assert [r.account for r in error_records(caplog)] == [account.slug] * 2


def test_without_the_cache_each_process_alerts_once_and_sends_go_on(
    fault, account, caplog, settings
) -> None:
    settings.CACHES = UNREACHABLE
    with caplog.at_level(logging.ERROR):
        _send(3)
        _restart()
        _send(3)
    assert len(fault.requests_for("POST", SEND)) == 6
    assert [r.account for r in error_records(caplog)] == [account.slug] * 2


@pytest.fixture
def database_cache(settings) -> None:
    """The cache without Redis: the database's table."""
    settings.CACHES = {
        "default": {
            "BACKEND": "integrations.cache_clock.DatabaseClockCache",
            "LOCATION": "switchyard_cache",
        }
    }
    call_command("createcachetable", verbosity=0)
    cache.clear()


def test_on_the_database_cache_workers_share_the_limit(
    fault, account, database_cache, caplog
) -> None:
    with caplog.at_level(logging.ERROR):
        for _ in range(3):
            _send(2)
            _restart()
    (record,) = error_records(caplog)
    assert record.account == account.slug


def test_a_cache_query_that_fails_leaves_the_send_and_its_transaction_whole(
    fault, account, database_cache, caplog, monkeypatch
) -> None:
    def broken_add(key: str, value: object, ttl: float) -> bool:
        with connection.cursor() as cursor:  # aborts the transaction it is in
            cursor.execute("SELECT * FROM no_such_cache_table")
        return True

    monkeypatch.setattr(cache_clock, "shared_add", broken_add)
    with caplog.at_level(logging.ERROR), transaction.atomic():
        _send(2)
        _restart()
        _send(2)
    assert [r.account for r in error_records(caplog)] == [account.slug] * 2
