"""On the database cache (no Redis), the shared claim of an account-setup
alert is written once per interval, by the worker that alerts. Every other
refused message only reads it: adding over a live claim (INSERT ... ON
CONFLICT) locks its row and commits a write, so every worker's refused sends
on the broken account would queue on that one row (inside a caller's
transaction: until that transaction ends)."""

import logging

import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from integrations import cache_clock
from notifications.models import EmailStatus
from notifications.providers import base
from tests.factories import ProviderAccountFactory
from tests.notifications.mailgun_sandbox import (
    DOMAIN,
    alerts_forgotten,  # noqa: F401 (autouse: no alert sent yet)
    sandbox_refusing,  # noqa: F401 (the ``fault`` fixture)
)
from tests.notifications.providers.conftest import fast
from tests.notifications.scripted_relay import delivered, error_records

pytestmark = pytest.mark.django_db


@pytest.fixture
def database_cache(settings) -> None:
    settings.CACHES = {
        "default": {
            "BACKEND": "integrations.cache_clock.DatabaseClockCache",
            "LOCATION": "switchyard_cache",
        }
    }
    call_command("createcachetable", verbosity=0)
    cache.clear()


def _claim_writes(queries: CaptureQueriesContext) -> list[str]:
    return [
        q["sql"]
        for q in queries.captured_queries
        if "setup-alert" in q["sql"] and not q["sql"].lstrip().startswith("SELECT")
    ]


def test_a_live_claim_is_read_not_locked_by_each_refused_message(
    fault, database_cache, caplog
) -> None:
    ProviderAccountFactory(
        kind="email",
        provider="mailgun",
        slug="mailgun-revmail22",
        credentials={"api_key": "key-revmail22-secret"},
        settings=fast(sender_domain=DOMAIN),
    )
    with caplog.at_level(logging.ERROR):
        with CaptureQueriesContext(connection) as first:
            delivered()
        base.setup_alerts_forget()  # the next sends: other workers
        with CaptureQueriesContext(connection) as later:
            for _ in range(3):
                status, message = delivered()
                assert (status, message.error_code) == (
                    EmailStatus.QUEUED,
                    "sending_not_allowed",
                )
                base.setup_alerts_forget()
    assert len(_claim_writes(first)) == 1  # the alerting worker's claim
    assert _claim_writes(later) == []
    assert len(error_records(caplog)) == 1


def test_a_claim_read_that_fails_leaves_the_send_and_its_transaction_whole(
    fault, database_cache, caplog, monkeypatch
) -> None:
    def broken_get(key: str) -> object:
        with connection.cursor() as cursor:  # aborts the transaction it is in
            cursor.execute("SELECT * FROM no_such_cache_table")

    monkeypatch.setattr(cache_clock, "shared_get", broken_get)
    ProviderAccountFactory(
        kind="email",
        provider="mailgun",
        slug="mailgun-revmail22",
        credentials={"api_key": "key-revmail22-secret"},
        settings=fast(sender_domain=DOMAIN),
    )
    with caplog.at_level(logging.ERROR), transaction.atomic():
        for _ in range(2):
            _status, message = delivered()
            assert message.error_code == "sending_not_allowed"
    # This process's own limit: one alert.
    assert [r.reason for r in error_records(caplog)] == ["sending_not_allowed"]
