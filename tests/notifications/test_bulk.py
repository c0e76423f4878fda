"""Bulk sends through the public services: creation (streamed rows, per
recipient data, duplicates, invalid addresses, template errors up front),
the batch job sending each recipient once, suppressions, refusals, a worker
lost mid-send (unknown, never resent), pacing on a 429 without failover, the
account's rate limit, and cancel."""

import importlib
import json
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.apps import apps as django_apps
from django.db import connection
from django.utils import timezone

from integrations.batch import (
    WorkState,
    batch_job_start,
    batch_job_work,
    batch_jobs_sweep,
)
from integrations.batch import services as batch_services
from integrations.models import BatchJob, BatchRowStatus, ProviderAccount
from integrations.testing.faultserver import fault_server, respond
from notifications.models import (
    BulkRecipient,
    BulkSend,
    EmailMessage,
    EmailStatus,
    SandboxEmail,
    normalise_address,
)
from notifications.providers.postmark import PostmarkAdapter
from notifications.providers.sandbox import SandboxEmailAdapter
from notifications.services import (
    EmailInvalid,
    EmailRenderError,
    email_message_create,
    suppression_add,
)
from notifications.services.bulk import (
    Recipient,
    bulk_send_cancel,
    bulk_send_counts,
    bulk_send_create,
    bulk_send_progress,
    bulk_send_status,
)
from notifications.services.sending import email_messages_sweep
from tests.factories import ProviderAccountFactory
from tests.notifications.providers.conftest import fast

pytestmark = pytest.mark.django_db

_migration_0004 = importlib.import_module(
    "notifications.migrations.0004_idna_2003_addresses"
)
NEWS = {"headline": "Spring sale", "body": "Everything is 10% off."}
POSTMARK_OK = json.loads(
    (Path(__file__).parents[1] / "fixtures/postmark/api.json").read_text()
)["send_ok"]


@pytest.fixture(autouse=True)
def _no_tasks(monkeypatch) -> list[tuple]:
    """The tests work the job themselves: enqueued tasks are only noted."""
    calls: list[tuple] = []
    monkeypatch.setattr(
        batch_services, "async_task", lambda func, *a, **kw: calls.append(a)
    )
    monkeypatch.setattr(batch_services, "schedule", lambda func, *a, **kw: None)
    return calls


class _Editor:
    connection = connection


def _create(recipients, **kwargs):
    kwargs.setdefault("template", "newsletter")
    kwargs.setdefault("context", NEWS)
    return bulk_send_create(recipients=recipients, **kwargs)


def _work_all(bulk: BulkSend, rounds: int = 50) -> None:
    for _ in range(rounds):
        result = batch_job_work(job_id=bulk.job_id, budget_seconds=0)
        if result.state != WorkState.MORE:
            break
    bulk.refresh_from_db()


def _row_statuses(bulk: BulkSend) -> dict[str, int]:
    out: dict[str, int] = {}
    for status in BulkRecipient.objects.filter(bulk_send=bulk).values_list(
        "status", flat=True
    ):
        out[status] = out.get(status, 0) + 1
    return out


def test_each_recipient_gets_its_own_message_once(email_accounts) -> None:
    primary, _ = email_accounts
    suppression_add(address="gone@example.com", reason="hard_bounce")
    created = _create(
        [
            {"email": "Ada@Example.com", "first_name": "Ada"},
            Recipient("bob@example.com", {"first_name": "Bob"}),
            {"email": "ada@example.com", "first_name": "Again"},
            {"email": "not an address"},
            {"email": "gone@example.com"},
        ],
        chunk_size=2,
    )
    bulk = created.bulk_send
    assert (created.added, created.invalid, created.duplicates) == (3, 1, 1)
    assert bulk_send_status(bulk) == "running"

    _work_all(bulk)

    bulk.refresh_from_db()
    assert bulk_send_status(bulk) == "done"
    assert _row_statuses(bulk) == {BatchRowStatus.DONE: 3}
    assert bulk_send_counts(bulk) == {"sent": 2, "suppressed": 1}
    mailbox = {m.to_email: m for m in SandboxEmail.objects.all()}
    assert sorted(mailbox) == ["ada@example.com", "bob@example.com"]
    assert mailbox["ada@example.com"].subject == "Spring sale"
    assert "Hello Ada," in mailbox["ada@example.com"].text_body
    assert "Hello Bob," in mailbox["bob@example.com"].text_body
    assert "List-Unsubscribe" in mailbox["bob@example.com"].headers
    assert {m.account for m in mailbox.values()} == {primary}
    progress = bulk_send_progress(bulk)
    assert (progress.done, progress.failed, progress.total) == (3, 0, 3)


def test_a_job_worked_again_sends_nothing_twice(email_accounts) -> None:
    bulk = _create([{"email": f"r{i}@example.com"} for i in range(4)]).bulk_send
    _work_all(bulk)
    BulkRecipient.objects.filter(bulk_send=bulk).update(status=BatchRowStatus.PENDING)
    BatchJob.objects.filter(pk=bulk.job_id).update(status="running")
    _work_all(bulk)
    assert SandboxEmail.objects.count() == 4
    assert EmailMessage.objects.filter(bulk_send=bulk).count() == 4


def test_a_missing_variable_fails_the_creation_not_the_rows(email_accounts) -> None:
    with pytest.raises(EmailRenderError) as caught:
        _create([{"email": "ada@example.com"}], context={"headline": "Hi"})
    assert caught.value.code == "missing_variable"
    assert caught.value.param == "body"
    assert not BulkSend.objects.exists()


def test_no_valid_recipient_is_refused(email_accounts) -> None:
    with pytest.raises(EmailInvalid) as caught:
        _create([{"email": "nope"}, {"email": ""}])
    assert caught.value.code == "no_recipients"
    assert not BulkSend.objects.exists()


@pytest.mark.parametrize(
    ("sizes", "param"),
    [
        ({"chunk_size": 0}, "chunk_size"),
        ({"chunk_size": 2**31}, "chunk_size"),
        ({"workers": 65}, "workers"),
    ],
)
def test_a_chunk_size_or_worker_count_out_of_range_is_refused(
    email_accounts, sizes, param
) -> None:
    with pytest.raises(EmailInvalid) as caught:
        _create([{"email": "ada@example.com"}], **sizes)
    assert (caught.value.code, caught.value.param) == ("out_of_range", param)
    assert not BulkSend.objects.exists()


def test_a_refused_recipient_fails_its_row_only(email_accounts) -> None:
    bulk = _create(
        [{"email": "invalid@example.com"}, {"email": "ok@example.com"}]
    ).bulk_send
    _work_all(bulk)
    failed = BulkRecipient.objects.get(bulk_send=bulk, email="invalid@example.com")
    assert failed.status == BatchRowStatus.FAILED
    assert failed.last_error.startswith("Rejected: message failed: sandbox refuses")
    assert failed.attempts == 1
    assert bulk_send_counts(bulk) == {"failed": 1, "sent": 1}
    assert bulk_send_status(bulk) == "done"


def test_a_worker_lost_mid_send_leaves_the_message_unknown_never_resent(
    email_accounts, monkeypatch
) -> None:
    bulk = _create([{"email": "ada@example.com"}]).bulk_send
    original = SandboxEmailAdapter.send

    def dies(self, message, **kwargs):
        original(self, message, **kwargs)  # the provider has it...
        raise KeyboardInterrupt  # ...and the worker is gone before recording

    monkeypatch.setattr(SandboxEmailAdapter, "send", dies)
    with pytest.raises(KeyboardInterrupt):
        batch_job_work(job_id=bulk.job_id, budget_seconds=0)
    message = EmailMessage.objects.get(bulk_send=bulk)
    assert message.status == EmailStatus.SENDING  # the marker was committed
    monkeypatch.setattr(SandboxEmailAdapter, "send", original)

    BulkRecipient.objects.filter(bulk_send=bulk).update(
        claimed_at=timezone.now() - timedelta(hours=1)
    )
    batch_jobs_sweep()
    _work_all(bulk)

    message.refresh_from_db()
    assert message.status == EmailStatus.UNKNOWN
    row = BulkRecipient.objects.get(bulk_send=bulk)
    assert row.status == BatchRowStatus.FAILED
    assert row.last_error.startswith("Rejected: message unknown: the worker stopped")
    assert SandboxEmail.objects.count() == 1


def test_a_429_paces_the_job_and_never_fails_over(email_accounts, monkeypatch):
    with fault_server(hang_limit=3) as server:
        url = server.url + "/"
        monkeypatch.setattr(PostmarkAdapter, "api_urls", {"test": url, "live": url})
        ProviderAccountFactory(
            kind="email",
            provider="postmark",
            priority=0,
            credentials={"server_token": "tok"},
            settings=fast(),
        )
        server.route("POST", "/email", respond(429, headers={"Retry-After": "60"}))
        bulk = _create([{"email": "ada@example.com"}]).bulk_send

        batch_job_work(job_id=bulk.job_id, budget_seconds=0)
        result = batch_job_work(job_id=bulk.job_id, budget_seconds=0)

        assert result.state == WorkState.WAITING
        assert 50 < result.wait <= 60
        assert not SandboxEmail.objects.exists()  # the secondaries: untouched
        message = EmailMessage.objects.get(bulk_send=bulk)
        assert (message.status, message.attempts) == (EmailStatus.QUEUED, 0)
        row = BulkRecipient.objects.get(bulk_send=bulk)
        assert (row.status, row.attempts) == (BatchRowStatus.PENDING, 0)

        server.route("POST", "/email", respond(200, json=POSTMARK_OK))
        BatchJob.objects.filter(pk=bulk.job_id).update(paced_until=None)
        _work_all(bulk)
        assert len(server.requests_for("POST", "/email")) == 2
    message.refresh_from_db()
    assert message.status == EmailStatus.SENT
    assert message.provider_message_id == POSTMARK_OK["MessageID"]


def test_a_row_handed_back_by_pacing_is_not_sent_once_suppressed(
    email_accounts, monkeypatch
):
    with fault_server(hang_limit=3) as server:
        url = server.url + "/"
        monkeypatch.setattr(PostmarkAdapter, "api_urls", {"test": url, "live": url})
        ProviderAccountFactory(
            kind="email",
            provider="postmark",
            priority=0,
            credentials={"server_token": "tok"},
            settings=fast(),
        )
        server.route("POST", "/email", respond(429, headers={"Retry-After": "60"}))
        bulk = _create([{"email": "ada@example.com"}]).bulk_send
        batch_job_work(job_id=bulk.job_id, budget_seconds=0)
        message = EmailMessage.objects.get(bulk_send=bulk)
        assert message.status == EmailStatus.QUEUED
        # While the job waits, another message to the address hard-bounces.
        suppression_add(address="ada@example.com", reason="hard_bounce")
        server.route("POST", "/email", respond(200, json=POSTMARK_OK))
        BatchJob.objects.filter(pk=bulk.job_id).update(paced_until=None)
        _work_all(bulk)
        assert len(server.requests_for("POST", "/email")) == 1  # the 429 alone
    message.refresh_from_db()
    assert (message.status, message.attempts) == (EmailStatus.SUPPRESSED, 0)
    assert _row_statuses(bulk) == {BatchRowStatus.DONE: 1}
    assert bulk_send_counts(bulk) == {"suppressed": 1}


def test_the_accounts_rate_limit_paces_the_sends(email_accounts) -> None:
    primary, _ = email_accounts
    primary.settings = {"rate_limit_per_second": 40, "rate_limit_burst": 1}
    primary.save()
    bulk = _create([{"email": f"r{i}@example.com"} for i in range(9)]).bulk_send
    started = time.monotonic()
    _work_all(bulk)
    elapsed = time.monotonic() - started
    assert SandboxEmail.objects.filter(account=primary).count() == 9
    assert elapsed >= 8 / 40 * 0.9


def test_cancel_stops_the_send(email_accounts) -> None:
    bulk = _create(
        [{"email": f"r{i}@example.com"} for i in range(30)], chunk_size=10
    ).bulk_send
    batch_job_work(job_id=bulk.job_id, budget_seconds=0)
    job = bulk_send_cancel(bulk_send=bulk)
    assert job.status == "cancelled"
    _work_all(bulk)
    bulk.refresh_from_db()
    assert bulk_send_status(bulk) == "cancelled"
    assert SandboxEmail.objects.count() == 10
    assert _row_statuses(bulk) == {
        BatchRowStatus.DONE: 10,
        BatchRowStatus.PENDING: 20,
    }


def test_the_single_message_sweeper_leaves_bulk_messages_to_their_job(
    email_accounts, monkeypatch
) -> None:
    from notifications.services import sending

    enqueued: list[int] = []
    monkeypatch.setattr(sending, "_enqueue", enqueued.append)
    bulk = _create([{"email": "ada@example.com"}]).bulk_send
    ProviderAccount.objects.filter(kind="email").update(enabled=False)
    batch_job_work(job_id=bulk.job_id, budget_seconds=0)
    message = EmailMessage.objects.get(bulk_send=bulk)
    assert message.status == EmailStatus.QUEUED
    email_messages_sweep(now=timezone.now() + timedelta(hours=1))
    assert enqueued == []
    row = BulkRecipient.objects.get(bulk_send=bulk)
    assert row.status == BatchRowStatus.PENDING
    # No account was asked: the job waits its pacing, the row keeps its
    # attempt (mail41b) and the message says why.
    assert row.attempts == 0
    message.refresh_from_db()
    assert message.error_code == "no_provider_available"
    assert message.last_error.startswith("no email account")


def test_a_quoted_local_part_in_a_recipients_file_is_skipped_as_invalid(
    email_accounts,
) -> None:
    created = _create(
        [{"email": '"victim@evil.com,"@example.com'}, {"email": "ada@example.com"}]
    )
    assert (created.added, created.invalid) == (1, 1)
    emails = set(
        BulkRecipient.objects.filter(bulk_send=created.bulk_send).values_list(
            "email", flat=True
        )
    )
    assert emails == {"ada@example.com"}


def _sent_to(address: str) -> list[str]:
    return [
        m.to_email
        for m in EmailMessage.objects.all()
        if normalise_address(m.to_email) == normalise_address(address)
    ]


def test_a_bulk_recipient_kept_as_given_by_migration_0004_gets_the_newsletter_once(
    email_accounts,
) -> None:
    bulk = _create([{"email": "bo@xn--i-7iq.ws"}], start=False).bulk_send
    # Stored by the old release, which kept the emoji spelling as given.
    kept = BulkRecipient.objects.create(bulk_send=bulk, job=bulk.job, email="bo@i❤.ws")
    _migration_0004.forwards(django_apps, _Editor())  # kept as given: a duplicate
    kept.refresh_from_db()
    assert (kept.email, kept.status) == ("bo@i❤.ws", BatchRowStatus.DONE)
    batch_job_start(job=bulk.job)
    _work_all(bulk)
    assert _sent_to("bo@xn--i-7iq.ws") == ["bo@xn--i-7iq.ws"]
    assert bulk_send_counts(bulk) == {"sent": 1, "duplicate": 1}
    assert (bulk.job.status, bulk.job.done, bulk.job.total) == ("done", 2, 2)


@pytest.mark.parametrize(
    "spellings",
    [
        ["bo@xn--i-7iq.ws", "bo@i❤.ws"],
        ["bo@i❤.ws", "bo@xn--i-7iq.ws"],
        ["bo@i❤。ws", "bo@i❤.ws"],
    ],
)
def test_a_send_holding_one_address_in_two_spellings_sends_it_once(
    email_accounts, spellings
) -> None:
    # Rows the release before wrote, not re-keyed yet (a worker had them, or
    # the re-key has not run): bulk sending itself sends one per address.
    bulk = _create([{"email": "one@example.com"}], start=False).bulk_send
    for email in spellings:
        BulkRecipient.objects.create(bulk_send=bulk, job=bulk.job, email=email)
    BatchJob.objects.filter(pk=bulk.job_id).update(total=3)
    batch_job_start(job=bulk.job)
    _work_all(bulk)
    assert len(_sent_to("bo@xn--i-7iq.ws")) == 1
    assert _row_statuses(bulk) == {"done": 3}
    assert bulk_send_counts(bulk) == {"sent": 2, "duplicate": 1}


def test_an_address_the_old_release_sent_to_is_not_sent_again(email_accounts) -> None:
    bulk = _create([{"email": "one@example.com"}], start=False).bulk_send
    old = BulkRecipient.objects.create(bulk_send=bulk, job=bulk.job, email="bo@i❤.ws")
    BulkRecipient.objects.create(bulk_send=bulk, job=bulk.job, email="bo@xn--i-7iq.ws")
    BatchJob.objects.filter(pk=bulk.job_id).update(total=3)
    # The old release's worker sent the emoji spelling's row (its message is
    # found by the row's key) and was stopped before the row was done.
    email_message_create(
        to="bo@i❤.ws",
        template="newsletter",
        context={**NEWS, "unsubscribe_url": "https://shop.example/u/1"},
        bulk_send=bulk,
        idempotency_key=f"bulk:{bulk.public_id}:{old.pk}",
        enqueue=False,
    )
    batch_job_start(job=bulk.job)
    _work_all(bulk)
    assert len(_sent_to("bo@i❤.ws")) == 1
    assert _row_statuses(bulk) == {"done": 3}
