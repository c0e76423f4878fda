"""A next try already passed (the sweep or the job not yet round to it) is
shown as due now, not as "next try at <a past time>", which reads as a try
already made (email admin, bulk admin; the API says ``next_try_due``). The
email list gives each message's ``next_try_at`` as the detail does, with no
query per message."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from integrations.clock import database_now
from integrations.models import BatchRowStatus
from notifications.models import BulkRecipient, EmailMessage, EmailStatus
from notifications.services.sending import email_message_deliver
from tests.notifications.bulk_work import newsletter_bulk, work_bulk_job
from tests.notifications.sends import order_mail

pytestmark = pytest.mark.django_db
LIST = "/api/v1/notifications/emails/"


def _shown(at) -> str:
    return f"{timezone.localtime(at):%Y-%m-%d %H:%M:%S %Z}"


def _waiting(to: str = "ada@example.com") -> EmailMessage:
    message = order_mail(to)
    email_message_deliver(message_pk=message.pk)
    message.refresh_from_db()
    assert message.status == EmailStatus.QUEUED and message.retry_at is not None
    return message


def _overdue(message: EmailMessage) -> EmailMessage:
    EmailMessage.objects.filter(pk=message.pk).update(
        retry_at=database_now() - timedelta(minutes=3)
    )
    message.refresh_from_db()
    return message


def test_the_email_admin_says_an_overdue_next_try_is_due_now(
    paused, admin_client
) -> None:
    message = _waiting()
    url = f"/admin/notifications/emailmessage/{message.pk}/change/"
    assert b"waiting, next try at " in admin_client.get(url).content
    message = _overdue(message)
    page = admin_client.get(url).content.decode()
    assert f"waiting, next try due now (overdue since {_shown(message.retry_at)})" in (
        page
    )
    assert "next try at" not in page


def test_the_api_says_whether_the_next_try_is_due(paused, email_reader) -> None:
    message = _waiting()
    detail = f"{LIST}{message.public_id}/"
    assert email_reader.get(detail).json()["next_try_due"] is False
    _overdue(message)
    body = email_reader.get(detail).json()
    assert body["next_try_at"] is not None
    assert body["next_try_due"] is True
    listed = email_reader.get(LIST).json()["results"][0]
    assert (listed["next_try_at"], listed["next_try_due"]) == (
        body["next_try_at"],
        True,
    )


def test_the_list_gives_each_message_its_next_try(email_reader, all_wait) -> None:
    single = _waiting("bea@example.com")
    bulk = newsletter_bulk([{"email": "ada@example.com"}])
    work_bulk_job(bulk.job_id)
    row = BulkRecipient.objects.get(job_id=bulk.job_id)
    assert row.status == BatchRowStatus.PENDING
    sent = order_mail("cy@example.com")  # not waiting
    results = {r["id"]: r for r in email_reader.get(LIST).json()["results"]}
    stamp = "%Y-%m-%dT%H:%M:%S"
    assert results[single.public_id]["next_try_at"].startswith(
        single.retry_at.strftime(stamp)
    )
    assert results[row.message.public_id]["next_try_at"].startswith(
        row.next_attempt_at.strftime(stamp)
    )
    assert results[sent.public_id]["next_try_at"] is None


def test_the_list_reads_no_query_per_message(email_reader, all_wait) -> None:
    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert email_reader.get(LIST).status_code == 200
        return len(captured)

    newsletter = newsletter_bulk([{"email": "ada@example.com"}])
    work_bulk_job(newsletter.job_id)
    _waiting("bea@example.com")
    queries()  # the key's first use is written once
    few = queries()
    more = newsletter_bulk([{"email": f"r{i}@example.com"} for i in range(5)])
    work_bulk_job(more.job_id)
    for i in range(3):
        _waiting(f"s{i}@example.com")
    assert queries() == few


def test_the_bulk_admin_says_an_overdue_rows_next_try_is_due_now(
    email_accounts, all_wait, admin_client
) -> None:
    bulk = newsletter_bulk([{"email": "ada@example.com"}])
    work_bulk_job(bulk.job_id)
    row = BulkRecipient.objects.get(job_id=bulk.job_id)
    at = database_now() - timedelta(minutes=3)
    BulkRecipient.objects.filter(pk=row.pk).update(next_attempt_at=at)
    page = admin_client.get(
        f"/admin/notifications/bulksend/{bulk.pk}/change/"
    ).content.decode()
    assert f"(next try due now (overdue since {_shown(at)}))" in page
    assert "next try at" not in page
