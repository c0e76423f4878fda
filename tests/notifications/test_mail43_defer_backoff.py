"""Every row of a bulk send waiting at once (account A refuses each message
for good, B, which could send them, is paused): each row waits on its own
(``Defer``), and each further wait of a row doubles, from
EMAIL_RETRY_AFTER_SECONDS up to BATCH_DEFER_MAX_SECONDS, by the database's
clock. Before, every row was tried again every 60 s for as long as the pause
lasted: with tens of thousands of rows each pass took longer than the wait,
so the workers never rested. The job's next run is its earliest due row; the
send keeps showing its rows ``waiting``, with the next try for staff."""

from datetime import timedelta

import pytest

from integrations.batch import WorkState, batch_job_work
from integrations.batch import services as batch_services
from integrations.breaker import breaker_mode_set
from integrations.clock import database_now
from integrations.models import BatchJob, BatchRowStatus
from integrations.models.accounts import BreakerMode
from notifications.models import BulkRecipient, EmailMessage, EmailStatus
from notifications.providers.outcomes import unsupported_message
from notifications.providers.sandbox import SandboxEmailAdapter
from notifications.services.bulk import bulk_send_counts
from tests.notifications.bulk_work import newsletter_bulk

pytestmark = pytest.mark.django_db

RECIPIENTS = [f"r{n}@example.com" for n in range(6)]


def _bulk():
    return newsletter_bulk([{"email": e} for e in RECIPIENTS])


def _pass(job_id: int):
    """One pass over every row: the time to their next try has come."""
    BulkRecipient.objects.filter(job_id=job_id).update(next_attempt_at=database_now())
    BatchJob.objects.filter(pk=job_id).update(paced_until=None)
    return batch_job_work(job_id=job_id, budget_seconds=0)


def _waits(job_id: int, before) -> list[float]:
    due = BulkRecipient.objects.filter(job_id=job_id).values_list(
        "next_attempt_at", flat=True
    )
    return sorted((at - before).total_seconds() for at in due)


def test_each_further_wait_of_a_row_doubles_up_to_the_cap(all_wait, settings) -> None:
    settings.BATCH_DEFER_MAX_SECONDS = 1800
    bulk = _bulk()
    expected = [60, 120, 240, 480, 960, 1800, 1800]
    seen = []
    for wait in expected:
        before = database_now()
        result = _pass(bulk.job_id)
        waits = _waits(bulk.job_id, before)
        seen.append(round(min(waits)))
        # Every row waits the same, by the database's clock.
        assert max(waits) - min(waits) < 5
        assert result.state == WorkState.WAITING
        # The job's next run: its earliest due row.
        assert result.wait == pytest.approx(wait, abs=5)
    assert [round(w, -1) for w in seen] == [round(w, -1) for w in expected]
    rows = BulkRecipient.objects.filter(job_id=bulk.job_id)
    # Each wait gave its attempt back: none spent, none failed.
    assert {(r.status, r.attempts, r.defers) for r in rows} == {
        (BatchRowStatus.PENDING, 0, len(expected))
    }
    assert bulk_send_counts(bulk) == {"waiting": len(RECIPIENTS)}


def test_rows_a_worker_touches_in_an_hour_of_pause(all_wait) -> None:
    """An hour's pause, worked each time rows fall due: before, every row
    was tried every minute (60 passes); now a handful."""
    bulk = _bulk()
    start = database_now()
    passes = 0
    elapsed = 0.0
    while True:
        due = BulkRecipient.objects.filter(job_id=bulk.job_id).values_list(
            "next_attempt_at", flat=True
        )
        # The pause's clock moves on to the earliest due row.
        step = 0.0 if passes == 0 else min((at - start).total_seconds() for at in due)
        elapsed += step
        if elapsed > 3600:
            break
        start = database_now()
        _pass(bulk.job_id)
        passes += 1
    # 60 + 120 + 240 + 480 + 960 + 1800 > 3600: six passes, not sixty.
    assert passes <= 6


def test_staff_see_the_rows_waiting_with_their_next_try(all_wait, admin_client) -> None:
    bulk = _bulk()
    _pass(bulk.job_id)
    _pass(bulk.job_id)
    row = BulkRecipient.objects.filter(job_id=bulk.job_id).first()
    message = EmailMessage.objects.get(bulk_send=bulk, to_email=row.email)
    assert message.status == EmailStatus.QUEUED
    assert row.next_attempt_at > database_now() + timedelta(seconds=100)

    page = admin_client.get(f"/admin/notifications/bulksend/{bulk.pk}/change/")
    assert page.status_code == 200
    assert f"waiting: {len(RECIPIENTS)}".encode() in page.content
    assert b"(pending, 0 attempt(s)): waiting for a paused" in page.content
    assert b"next try at " in page.content


def test_the_sweeper_lets_a_waiting_job_rest_until_its_wake_up(
    email_accounts, monkeypatch
) -> None:
    """Every row waiting: the job's one wake-up is its earliest due row, and
    the sweeper, which wakes a job left alone for minutes, leaves it be
    until then (before, it woke the job every BATCH_SWEEP_AFTER_MINUTES);
    past its wake-up, a lost one, it is swept as any job left alone."""
    enqueued: list[int] = []
    monkeypatch.setattr(
        batch_services,
        "async_task",
        lambda func, job_id, *a, **kw: enqueued.append(job_id),
    )
    monkeypatch.setattr(
        SandboxEmailAdapter,
        "deliver",
        lambda self, message, **kw: (_ for _ in ()).throw(
            unsupported_message("relay A lacks SMTPUTF8")
        ),
    )
    breaker_mode_set(account=email_accounts[1], mode=BreakerMode.FORCED_OPEN)
    bulk = _bulk()
    for _ in range(4):  # waits of 60, 120, 240 and now 480 s
        BulkRecipient.objects.filter(job_id=bulk.job_id).update(
            next_attempt_at=database_now()
        )
        result = batch_services.batch_job_run(job_id=bulk.job_id)
    assert result.state == WorkState.WAITING
    assert result.wait == pytest.approx(480, abs=5)
    enqueued.clear()

    now = database_now()
    assert batch_services.batch_jobs_sweep(now=now + timedelta(minutes=5)) == 0
    assert enqueued == []
    assert batch_services.batch_jobs_sweep(now=now + timedelta(minutes=9)) == 1
    assert enqueued == [bulk.job_id]


def test_the_api_shows_the_waiting_rows_next_try(all_wait, email_reader) -> None:
    """The storefront's view of the send (r-mail43): ``waiting`` recipients
    and when the first of them is tried again; none once nothing waits."""
    bulk = _bulk()
    api = email_reader
    url = f"/api/v1/notifications/bulk-sends/{bulk.public_id}/"
    assert api.get(url).json()["next_try_at"] is None

    _pass(bulk.job_id)
    _pass(bulk.job_id)
    body = api.get(url).json()
    assert body["outcomes"] == {"waiting": len(RECIPIENTS)}
    first = BulkRecipient.objects.filter(job_id=bulk.job_id).order_by(
        "next_attempt_at"
    )[0]
    assert body["next_try_at"] is not None
    assert body["next_try_at"].startswith(
        first.next_attempt_at.strftime("%Y-%m-%dT%H:%M:%S")
    )
