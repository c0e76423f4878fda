"""Review of mail43: a misconfigured email account (its adapter cannot be
built, its credentials missing or unreadable) failed a message at once, so
an order confirmation was lost while staff mended a rotated secret. Now it
is a failed attempt: the attempt is spent and the message is tried again
on the usual schedule, ``failed`` only once EMAIL_MAX_ATTEMPTS are spent;
staff see ``misconfigured`` with the account named, never a secret. Single
and bulk sends alike."""

import pytest

from integrations.batch import batch_job_work
from integrations.models import BatchRowStatus, ProviderAccount
from notifications.models import BulkRecipient, EmailMessage, EmailStatus
from notifications.providers.outcomes import unsupported_message
from notifications.providers.sandbox import SandboxEmailAdapter
from notifications.services.failures import public_error
from notifications.services.sending import email_message_deliver
from tests.notifications.bulk_work import newsletter_bulk
from tests.notifications.sends import order_mail

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_secrets_left_over")]


def _retired(account: ProviderAccount) -> dict:
    ProviderAccount.objects.filter(pk=account.pk).update(provider="retired")
    return {"provider": account.provider}


def _undecryptable(account: ProviderAccount) -> dict:
    ProviderAccount.objects.filter(pk=account.pk).update(
        credentials_encrypted="not-a-fernet-token"
    )
    return {"credentials_encrypted": account.credentials_encrypted}


def _no_credentials(account: ProviderAccount) -> dict:
    kept = {"credentials_encrypted": account.credentials_encrypted}
    ProviderAccount.objects.filter(pk=account.pk).update(credentials_encrypted="")
    return kept


BROKEN = [_retired, _undecryptable, _no_credentials]


@pytest.fixture
def lone(email_accounts) -> ProviderAccount:
    primary, secondary = email_accounts
    ProviderAccount.objects.filter(pk=secondary.pk).update(enabled=False)
    return primary


def _mend(account: ProviderAccount, kept: dict) -> None:
    ProviderAccount.objects.filter(pk=account.pk).update(**kept)


@pytest.mark.parametrize("broken", BROKEN)
def test_a_lone_misconfigured_account_mended_in_time_delivers(
    lone, broken, settings
) -> None:
    settings.EMAIL_MAX_ATTEMPTS = 3
    kept = broken(lone)
    message = order_mail()

    for attempt in (1, 2):
        assert email_message_deliver(message_pk=message.pk) == EmailStatus.QUEUED
        message.refresh_from_db()
        assert message.attempts == attempt
        assert message.error_code == "misconfigured"
        assert message.last_error.startswith(f"{lone.slug}: account misconfigured")
        assert "sbx_test_key" not in message.last_error
        assert "tried again" in public_error(message)

    _mend(lone, kept)
    assert email_message_deliver(message_pk=message.pk) == EmailStatus.SENT


@pytest.mark.parametrize("broken", BROKEN)
def test_a_lone_misconfigured_account_never_mended_fails_after_max_attempts(
    lone, broken, settings
) -> None:
    settings.EMAIL_MAX_ATTEMPTS = 3
    broken(lone)
    message = order_mail()

    statuses = [email_message_deliver(message_pk=message.pk) for _ in range(3)]

    assert statuses == [EmailStatus.QUEUED, EmailStatus.QUEUED, EmailStatus.FAILED]
    message.refresh_from_db()
    assert message.error_code == "misconfigured"
    assert f"{lone.slug}: account misconfigured" in message.last_error
    assert "not set up correctly" in public_error(message)
    # Not queued for ever: nothing more happens to it.
    assert email_message_deliver(message_pk=message.pk) == EmailStatus.FAILED


def test_beside_a_refusal_for_good_it_waits_its_attempts_then_names_both(
    email_accounts, settings, monkeypatch
) -> None:
    settings.EMAIL_MAX_ATTEMPTS = 2
    primary, secondary = email_accounts
    monkeypatch.setattr(
        SandboxEmailAdapter,
        "deliver",
        lambda self, message, **kw: (_ for _ in ()).throw(
            unsupported_message("relay A lacks SMTPUTF8")
        ),
    )
    _retired(secondary)
    message = order_mail()

    assert email_message_deliver(message_pk=message.pk) == EmailStatus.QUEUED
    assert email_message_deliver(message_pk=message.pk) == EmailStatus.FAILED
    message.refresh_from_db()
    assert message.error_code == "misconfigured"
    assert f"{secondary.slug} (misconfigured)" in message.last_error
    assert f"{primary.slug} (unsupported_message)" in message.last_error


@pytest.mark.parametrize("broken", [_retired, _undecryptable])
def test_a_bulk_row_is_retried_and_sent_once_the_account_is_mended(
    lone, broken, no_batch_tasks
) -> None:
    kept = broken(lone)
    bulk = newsletter_bulk([{"email": "ada@example.com"}])

    batch_job_work(job_id=bulk.job_id, budget_seconds=0)
    row = BulkRecipient.objects.get(bulk_send=bulk)
    message = EmailMessage.objects.get(bulk_send=bulk)
    assert row.status == BatchRowStatus.PENDING
    assert (row.attempts, message.attempts) == (1, 1)
    assert message.status == EmailStatus.QUEUED
    assert message.error_code == "misconfigured"

    _mend(lone, kept)
    BulkRecipient.objects.filter(pk=row.pk).update(next_attempt_at=None)
    batch_job_work(job_id=bulk.job_id, budget_seconds=0)
    row.refresh_from_db()
    message.refresh_from_db()
    assert row.status == BatchRowStatus.DONE
    assert message.status == EmailStatus.SENT


def test_a_bulk_row_never_mended_fails_after_max_attempts(
    lone, no_batch_tasks, settings
) -> None:
    settings.EMAIL_MAX_ATTEMPTS = 3
    _retired(lone)
    bulk = newsletter_bulk([{"email": "ada@example.com"}])

    for _ in range(6):
        BulkRecipient.objects.filter(bulk_send=bulk).update(next_attempt_at=None)
        batch_job_work(job_id=bulk.job_id, budget_seconds=0)

    row = BulkRecipient.objects.get(bulk_send=bulk)
    message = EmailMessage.objects.get(bulk_send=bulk)
    assert row.status == BatchRowStatus.FAILED
    assert (message.status, message.attempts) == (EmailStatus.FAILED, 3)
    assert message.error_code == "misconfigured"
    assert f"{lone.slug}: account misconfigured" in message.last_error
