"""pay42: an Idempotency-Key's request in flight is judged by the database's
clock.

The in-flight record was stamped with the claiming worker's clock and a
retry judged it dead (older than the in-flight timeout) by its own: a claim
from a machine behind, or a retry on a machine ahead, took a live request's
record over at once and ran the capture a second time beside it."""

from datetime import timedelta

import pytest
from django.conf import settings

from integrations.api.services import idempotency_records_prune
from integrations.clock import database_now
from integrations.models import IdempotencyRecord
from integrations.testing.clocks import machine_clock, whole_machine_clock
from tests.payments.idempotency_clock import (
    PAYMENTS,
    SKEW,
    authorized,
    captures,
    in_flight,
    server_database_only,  # noqa: F401 (autouse: skipped on SQLite)
)

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_claim_from_a_machine_behind_is_not_taken_for_a_dead_one(
    primary, api, monkeypatch
):
    pid = authorized(api)
    url = f"{PAYMENTS}{pid}/capture/"
    with whole_machine_clock(-SKEW):
        in_flight(api, monkeypatch, url)

    retry = api.post(url, {}, format="json", HTTP_IDEMPOTENCY_KEY="cap-1")

    assert retry.status_code == 409, retry.content
    assert retry.json()["error"]["code"] == "idempotency_key_in_use"
    assert captures(pid) == 0


def test_a_retry_on_a_machine_ahead_does_not_take_a_live_claim_over(
    primary, api, monkeypatch
):
    pid = authorized(api)
    url = f"{PAYMENTS}{pid}/capture/"
    in_flight(api, monkeypatch, url)

    with machine_clock(SKEW):
        retry = api.post(url, {}, format="json", HTTP_IDEMPOTENCY_KEY="cap-1")

    assert retry.status_code == 409, retry.content
    assert captures(pid) == 0


def test_a_claim_is_stamped_with_the_database_clock(primary, api, monkeypatch):
    pid = authorized(api)
    with whole_machine_clock(-SKEW):
        in_flight(api, monkeypatch, f"{PAYMENTS}{pid}/capture/")

    record = IdempotencyRecord.objects.get(key="cap-1")
    assert abs((database_now() - record.created_at).total_seconds()) < 60


def test_a_prune_on_a_machine_ahead_keeps_a_key_still_in_its_time(primary, api):
    authorized(api)
    ttl = timedelta(hours=settings.IDEMPOTENCY_KEY_TTL_HOURS)
    # Its replay has five minutes left by the database's clock.
    IdempotencyRecord.objects.filter(key="pay-1").update(
        created_at=database_now() - ttl + timedelta(minutes=5)
    )

    with machine_clock(SKEW):
        idempotency_records_prune()

    assert IdempotencyRecord.objects.filter(key="pay-1").exists()
