"""A misconfigured account (its adapter cannot be built, or its stored
credentials cannot be read or are missing) beside one that refuses a
message for good: the misconfigured one is a failed attempt (r-mail43: staff
may mend it in time, so not a refusal for good), so the message is tried
again on the usual schedule and ends ``failed`` once its attempts are spent,
instead of waiting for ever as if the account were only paused; staff read
``misconfigured`` with each account named, never a secret. Single and bulk
sends alike."""

import pytest

from integrations.models import BatchRowStatus, ProviderAccount
from notifications.models import BulkRecipient, EmailMessage, EmailStatus
from notifications.providers.outcomes import unsupported_message
from notifications.providers.sandbox import SandboxEmailAdapter
from notifications.services.bulk import bulk_send_counts
from notifications.services.sending import email_message_deliver
from tests.notifications.bulk_work import newsletter_bulk, work_bulk_job
from tests.notifications.sends import order_mail

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_secrets_left_over")]

ODD = "odd@example.com"


def _unknown_provider(account: ProviderAccount) -> None:
    ProviderAccount.objects.filter(pk=account.pk).update(provider="retired")


def _undecryptable(account: ProviderAccount) -> None:
    ProviderAccount.objects.filter(pk=account.pk).update(
        credentials_encrypted="not-a-fernet-token"
    )


def _no_credentials(account: ProviderAccount) -> None:
    account.set_credentials({})
    account.save(update_fields=["credentials_encrypted"])


BROKEN = [_unknown_provider, _undecryptable, _no_credentials]


@pytest.fixture
def a_refuses_odd(email_accounts, monkeypatch) -> list[str]:
    primary, _ = email_accounts
    original = SandboxEmailAdapter.deliver
    taken: list[str] = []

    def deliver(self, message, **kwargs):
        if self.account.slug == primary.slug and ODD in message.to:
            raise unsupported_message("relay A lacks SMTPUTF8")
        result = original(self, message, **kwargs)
        taken.append(message.to)
        return result

    monkeypatch.setattr(SandboxEmailAdapter, "deliver", deliver)
    return taken


def _assert_refused(message: EmailMessage, email_accounts) -> None:
    message.refresh_from_db()
    primary, secondary = email_accounts
    assert message.status == EmailStatus.FAILED
    assert message.attempts == 2  # EMAIL_MAX_ATTEMPTS
    assert message.error_code == "misconfigured"
    assert f"{primary.slug} (unsupported_message)" in message.last_error
    assert f"{secondary.slug} (misconfigured)" in message.last_error
    assert "sbx_test_key" not in message.last_error


@pytest.mark.parametrize("broken", BROKEN)
def test_a_single_send_ends_failed_after_its_attempts(
    email_accounts, a_refuses_odd, broken, settings
) -> None:
    settings.EMAIL_MAX_ATTEMPTS = 2
    broken(email_accounts[1])
    message = order_mail(ODD)

    statuses = [email_message_deliver(message_pk=message.pk) for _ in range(2)]

    assert statuses == [EmailStatus.QUEUED, EmailStatus.FAILED]
    _assert_refused(message, email_accounts)
    assert a_refuses_odd == []


@pytest.mark.parametrize("broken", BROKEN)
def test_a_bulk_row_ends_failed_after_its_attempts(
    email_accounts, a_refuses_odd, no_batch_tasks, broken, settings
) -> None:
    settings.EMAIL_MAX_ATTEMPTS = 2
    broken(email_accounts[1])
    bulk = newsletter_bulk([{"email": ODD}, {"email": "ada@example.com"}])

    for _ in range(3):  # each time the row's backoff has passed
        BulkRecipient.objects.filter(bulk_send=bulk).update(next_attempt_at=None)
        work_bulk_job(bulk.job_id)

    row = BulkRecipient.objects.get(bulk_send=bulk, email=ODD)
    assert row.status == BatchRowStatus.FAILED
    message = EmailMessage.objects.get(bulk_send=bulk, to_email=ODD)
    _assert_refused(message, email_accounts)
    assert bulk_send_counts(bulk) == {"sent": 1, "failed": 1}
    assert a_refuses_odd == ["ada@example.com"]
