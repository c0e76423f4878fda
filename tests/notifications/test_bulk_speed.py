"""The bulk send's per-chunk reads and per-message writes: what each
message costs the database, suppressions read when a chunk is worked (not
when the send was created), and a worker stopped before its chunk's end
(messages stored, not yet linked to their rows): counts stay right and
nothing is sent twice."""

from collections import Counter

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from integrations.batch import WorkState, batch_job_work
from integrations.batch import services as batch_services
from integrations.models import BatchJob, BatchRowStatus, ProviderAccount
from notifications.models import (
    BulkRecipient,
    BulkSend,
    EmailEvent,
    EmailMessage,
    EmailStatus,
    SandboxEmail,
)
from notifications.providers.sandbox import SandboxEmailAdapter
from notifications.services import suppression_add
from notifications.services.bulk import bulk_send_counts, bulk_send_create
from notifications.services.bulk_chunk import chunk_finish
from notifications.services.bulk_send import bulk_recipient_send

pytestmark = pytest.mark.django_db

NEWS = {"headline": "Spring sale", "body": "Everything is 10% off."}


@pytest.fixture(autouse=True)
def _no_tasks(monkeypatch) -> None:
    """The tests work the job themselves."""
    monkeypatch.setattr(batch_services, "async_task", lambda *a, **kw: None)
    monkeypatch.setattr(batch_services, "schedule", lambda *a, **kw: None)


def _create(n: int, chunk_size: int = 10) -> BulkSend:
    return bulk_send_create(
        template="newsletter",
        context=NEWS,
        recipients=[{"email": f"r{i}@example.com"} for i in range(n)],
        chunk_size=chunk_size,
    ).bulk_send


def _work_all(bulk: BulkSend) -> None:
    for _ in range(50):
        if batch_job_work(job_id=bulk.job_id, budget_seconds=0).state != (
            WorkState.MORE
        ):
            break


def _tables(queries: list[dict]) -> Counter:
    """Statements by (verb, table), for the notifications tables."""
    seen: Counter = Counter()
    for query in queries:
        sql = query["sql"]
        verb = sql.split(None, 1)[0]
        for table in ("suppression", "emailmessage", "emailevent", "bulkrecipient"):
            if f'"notifications_{table}"' in sql.split(" WHERE ")[0]:
                seen[(verb, table)] += 1
    return seen


def test_a_chunk_reads_once_and_each_message_writes_twice(
    email_accounts, monkeypatch
) -> None:
    # A chunk slower than FLAG_SECONDS marks its dones so far early (by
    # design); on a loaded machine that made a fourth row UPDATE.
    monkeypatch.setattr("integrations.batch.work.FLAG_SECONDS", 3600.0)
    bulk = _create(10)
    with CaptureQueriesContext(connection) as captured:
        result = batch_job_work(job_id=bulk.job_id, budget_seconds=0)
    assert (result.done, SandboxEmail.objects.count()) == (10, 10)
    seen = _tables(captured.captured_queries)
    # Read once for the chunk, not per recipient.
    assert seen[("SELECT", "suppression")] == 1
    assert seen[("SELECT", "emailmessage")] == 1
    # Per message: the marker INSERT, the outcome UPDATE, one events INSERT.
    assert seen[("INSERT", "emailmessage")] == 10
    assert seen[("UPDATE", "emailmessage")] == 10
    assert seen[("INSERT", "emailevent")] == 10
    # Rows: claimed together, marked done together at the chunk's end,
    # linked to their messages together.
    assert seen[("UPDATE", "bulkrecipient")] == 1 + 1 + 1
    assert set(BulkRecipient.objects.values_list("status", flat=True)) == {"done"}
    linked = BulkRecipient.objects.filter(bulk_send=bulk, message__isnull=False)
    assert linked.count() == 10
    events = Counter(EmailEvent.objects.values_list("type", flat=True))
    assert events == {EmailStatus.SENDING: 10, EmailStatus.SENT: 10}


def test_a_chunk_reads_the_email_accounts_once(email_accounts) -> None:
    bulk = _create(10)
    accounts = f'FROM "{ProviderAccount._meta.db_table}"'
    with CaptureQueriesContext(connection) as captured:
        batch_job_work(job_id=bulk.job_id, budget_seconds=0)
    reads = [q for q in captured.captured_queries if accounts in q["sql"]]
    assert SandboxEmail.objects.count() == 10
    # The failover candidates, once for the chunk, not once per message.
    assert len(reads) == 1, [q["sql"] for q in reads]


def test_a_suppression_added_after_creation_stops_the_recipient(
    email_accounts,
) -> None:
    bulk = _create(3)
    suppression_add(address="r1@example.com", reason="complaint")
    _work_all(bulk)
    assert sorted(SandboxEmail.objects.values_list("to_email", flat=True)) == [
        "r0@example.com",
        "r2@example.com",
    ]
    assert bulk_send_counts(bulk) == {"sent": 2, "suppressed": 1}
    message = EmailMessage.objects.get(to_email="r1@example.com")
    assert list(message.events.values_list("type", "details")) == [
        (EmailStatus.SUPPRESSED, {"suppression": "Complaint"})
    ]


def test_an_unsubscribe_does_not_stop_transactional_bulk_mail(email_accounts):
    suppression_add(address="r0@example.com", reason="unsubscribe")
    bulk = bulk_send_create(
        template="newsletter",
        context={**NEWS, "unsubscribe_url": "https://example.com/u"},
        recipients=[{"email": "r0@example.com"}],
        category="transactional",
    ).bulk_send
    _work_all(bulk)
    assert bulk_send_counts(bulk) == {"sent": 1}


def test_a_chunk_stopped_before_its_end_counts_right_and_sends_once(
    email_accounts, monkeypatch
) -> None:
    bulk = _create(6, chunk_size=3)
    # The worker stops after its rows, before linking them (killed there).
    monkeypatch.setattr(bulk_recipient_send, "finish_chunk", lambda rows: None)
    batch_job_work(job_id=bulk.job_id, budget_seconds=0)

    unlinked = BulkRecipient.objects.filter(bulk_send=bulk, message__isnull=True)
    assert unlinked.count() == 6
    assert bulk_send_counts(bulk) == {"sent": 3, "pending": 3}

    monkeypatch.setattr(bulk_recipient_send, "finish_chunk", chunk_finish)
    # Everything worked again, as after a crash: found by key, not resent.
    BulkRecipient.objects.filter(bulk_send=bulk).update(status=BatchRowStatus.PENDING)
    BatchJob.objects.filter(pk=bulk.job_id).update(status="running")
    _work_all(bulk)

    assert SandboxEmail.objects.count() == 6
    assert EmailMessage.objects.filter(bulk_send=bulk).count() == 6
    assert bulk_send_counts(bulk) == {"sent": 6}
    statuses = BulkRecipient.objects.filter(bulk_send=bulk).values_list(
        "status", flat=True
    )
    assert set(statuses) == {BatchRowStatus.DONE}
    linked = BulkRecipient.objects.filter(bulk_send=bulk, message__isnull=False)
    assert linked.count() == 6


@pytest.mark.django_db(transaction=True)
def test_on_postgresql_the_outcome_is_one_statement_and_a_webhook_outranks_it(
    email_accounts, monkeypatch
) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("the one-statement outcome is PostgreSQL's")
    primary, _ = email_accounts
    bulk = _create(3)
    original = SandboxEmailAdapter.send

    def bounced_meanwhile(self, message, **kwargs):
        result = original(self, message, **kwargs)
        if message.to == "r2@example.com":  # a fast bounce webhook, first
            EmailMessage.objects.filter(public_id=message.message_id).update(
                status=EmailStatus.BOUNCED
            )
        return result

    monkeypatch.setattr(SandboxEmailAdapter, "send", bounced_meanwhile)
    with CaptureQueriesContext(connection) as captured:
        _work_all(bulk)

    outcomes = [q["sql"] for q in captured.captured_queries if "moved AS" in q["sql"]]
    assert len(outcomes) == 3
    assert all("set_config('synchronous_commit', 'off', true)" in q for q in outcomes)
    sent = EmailMessage.objects.get(to_email="r0@example.com")
    assert (sent.status, sent.account, sent.sent_at is not None) == (
        EmailStatus.SENT,
        primary,
        True,
    )
    assert sent.provider_message_id
    assert list(sent.events.values_list("type", "details")) == [
        (EmailStatus.SENDING, {}),
        (EmailStatus.SENT, {"account": primary.slug}),
    ]
    bounced = EmailMessage.objects.get(to_email="r2@example.com")
    assert bounced.status == EmailStatus.BOUNCED  # kept: it ranks higher
    assert bounced.account == primary
    assert bulk_send_counts(bulk) == {"sent": 2, "bounced": 1}
