"""Every account refusing a message for good, but for different reasons
(A: its empty subject, B: something it cannot carry): the message fails at
once with a code true for the mix, ``refused_everywhere`` (before:
``unsupported_message``, which says the message cannot be carried, false for
A), and each account's own reason is kept for staff. One reason shared by
every account keeps its own code (tests/notifications/test_mail41_*)."""

import pytest

from integrations.batch import batch_job_work
from integrations.batch import services as batch_services
from integrations.models import BatchRowStatus
from notifications.models import BulkRecipient, EmailMessage, EmailStatus
from notifications.providers.outcomes import subject_missing, unsupported_message
from notifications.services.bulk import bulk_send_create
from notifications.services.failures import MESSAGES, public_error
from notifications.services.sending import email_message_deliver
from tests.notifications.sends import accounts_answer, order_mail

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_secrets_left_over")]


@pytest.fixture(autouse=True)
def mixed(no_secrets_left_over, email_accounts, monkeypatch) -> None:
    primary, secondary = email_accounts
    answers = {
        primary.slug: subject_missing,
        secondary.slug: lambda: unsupported_message("relay B lacks SMTPUTF8"),
    }
    accounts_answer(monkeypatch, answers)
    monkeypatch.setattr(batch_services, "async_task", lambda *a, **kw: None)
    monkeypatch.setattr(batch_services, "schedule", lambda *a, **kw: None)


def _assert_refused_everywhere(message: EmailMessage, email_accounts) -> None:
    message.refresh_from_db()
    assert message.status == EmailStatus.FAILED
    assert message.error_code == "refused_everywhere"
    primary, secondary = email_accounts
    # Each account named with its own reason, for staff.
    assert f"{primary.slug} (subject_empty): the rendered subject" in message.last_error
    assert f"{secondary.slug} (unsupported_message): relay B" in message.last_error
    text = public_error(message)
    # Not the sentence of either reason alone.
    assert text != MESSAGES["unsupported_message"]
    assert text != MESSAGES["subject_empty"]
    assert text.startswith("Every enabled email provider refused the message")
    (failed,) = message.events.filter(type=EmailStatus.FAILED)
    assert failed.details["code"] == "refused_everywhere"


def test_a_single_send_refused_for_mixed_reasons(email_accounts) -> None:
    message = order_mail()

    assert email_message_deliver(message_pk=message.pk) == EmailStatus.FAILED

    _assert_refused_everywhere(message, email_accounts)
    assert message.attempts == 1


def test_a_bulk_row_refused_for_mixed_reasons(email_accounts) -> None:
    bulk = bulk_send_create(
        template="newsletter",
        context={"headline": "Hi", "body": "News."},
        recipients=[{"email": "ada@example.com"}],
    ).bulk_send

    batch_job_work(job_id=bulk.job_id, budget_seconds=0)

    _assert_refused_everywhere(EmailMessage.objects.get(bulk_send=bulk), email_accounts)
    row = BulkRecipient.objects.get(bulk_send=bulk)
    assert row.status == BatchRowStatus.FAILED
