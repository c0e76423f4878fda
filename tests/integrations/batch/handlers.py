"""Batch handlers the tests name by dotted path. Each effect is an outbox
Event row (name ``batch.effect``, subject ``<job id>:<key>``), written in the
row's transaction, so the tests count effects in the database."""

import threading
from datetime import timedelta

from django.db.models import F

from integrations.batch import batch_job_cancel, own_transactions
from integrations.client import client_for
from integrations.errors import NotProcessed, Paced, Rejected
from integrations.models import BatchItem, BatchRowStatus, Event, ProviderAccount

EFFECT = "batch.effect"
H = "tests.integrations.batch.handlers"
PACE = {"left": 0, "retry_after": None}
# The account and URL ``provider_call`` sends to.
PROVIDER: dict = {}
workers: list[tuple[str, int]] = []  # (thread name, row pk)


def _effect(row: BatchItem) -> None:
    Event.objects.create(name=EFFECT, subject=f"{row.job_id}:{row.key}")


def effects(job_id: int) -> dict[str, int]:
    """Key -> how many committed effects it has."""
    counts: dict[str, int] = {}
    prefix = f"{job_id}:"
    rows = Event.objects.filter(name=EFFECT, subject__startswith=prefix)
    for subject in rows.values_list("subject", flat=True):
        key = subject[len(prefix) :]
        counts[key] = counts.get(key, 0) + 1
    return counts


def record(row: BatchItem) -> None:
    _effect(row)


def flaky(row: BatchItem) -> None:
    """Fails its first ``fail_times`` attempts (from the payload)."""
    _effect(row)
    if row.attempts <= row.payload.get("fail_times", 0):
        raise ConnectionError(f"downstream refused attempt {row.attempts}")


def rejected(row: BatchItem) -> None:
    _effect(row)  # rolled back with the failure
    raise Rejected("address invalid", code="invalid_address")


def paced(row: BatchItem) -> None:
    """A paced client call that could not go out within its budget."""
    if PACE["left"] > 0:
        PACE["left"] -= 1
        raise Paced("rate limited", retry_after=PACE["retry_after"])
    _effect(row)


def rate_limited(row: BatchItem) -> None:
    """429 (with the payload's Retry-After) while PACE['left'] > 0."""
    if PACE["left"] > 0:
        PACE["left"] -= 1
        raise NotProcessed(
            "too many requests",
            code="too_many_requests",
            retry_after=PACE["retry_after"],
        )
    _effect(row)


def provider_call(row: BatchItem) -> None:
    """One paced provider call (bulk work), as a real handler makes it."""
    account = ProviderAccount.objects.get(pk=PROVIDER["account"])
    client_for(account).request(
        "POST",
        PROVIDER["url"],
        operation="bulk_send",
        idempotent=False,
        pacing=True,
        max_wait=1,
        idempotency_key=f"row-{row.pk}",
    )
    _effect(row)


def cancels_at_third(row: BatchItem) -> None:
    _effect(row)
    if row.key == "k03":
        batch_job_cancel(job_id=row.job_id)


def loses_claim(row: BatchItem) -> None:
    # Meanwhile the sweeper took the row back and another worker claimed it.
    _effect(row)
    BatchItem.objects.filter(pk=row.pk, status=BatchRowStatus.RUNNING).update(
        claimed_at=F("claimed_at") + timedelta(seconds=1)
    )


def slow_record(row: BatchItem) -> None:
    workers.append((threading.current_thread().name, row.pk))
    _effect(row)
    threading.Event().wait(0.01)


@own_transactions
def own_then_fail(row: BatchItem) -> None:
    """Commits its effect itself, then fails: the effect stays."""
    _effect(row)
    raise NotProcessed("after the effect", code="server_error")
