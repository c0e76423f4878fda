"""Review of mail41: a message one account refused for good (it cannot carry
it) while the only other one is skipped (its breaker open, or forced open by
staff for maintenance) waits for that other account, as it would with that
account alone: no provider that could send it was given it, so its attempt
is given back. Before, every sweep's try spent an attempt on the account that
had already refused for good, and the message ended ``failed`` after
``EMAIL_MAX_ATTEMPTS`` tries while the other account was merely paused."""

import pytest
from django.test import override_settings

from integrations.breaker import breaker_for
from integrations.errors import NotProcessed
from integrations.models.accounts import BreakerMode
from notifications.models import EmailStatus
from notifications.providers.outcomes import unsupported_message
from notifications.providers.sandbox import SandboxEmailAdapter
from notifications.services.sending import email_message_deliver
from tests.notifications.sends import order_mail

pytestmark = pytest.mark.django_db


@pytest.fixture
def answers(email_accounts, monkeypatch) -> dict[str, Exception]:
    found: dict[str, Exception] = {
        email_accounts[0].slug: unsupported_message("relay A lacks SMTPUTF8"),
    }

    original = SandboxEmailAdapter.deliver

    def deliver(self, message, **kwargs):
        if self.account.slug in found:
            raise found[self.account.slug]
        return original(self, message, **kwargs)

    monkeypatch.setattr(SandboxEmailAdapter, "deliver", deliver)
    return found


def _maintenance(account, mode: str) -> None:
    account.breaker_mode = mode
    account.save()
    breaker_for(account).publish_mode()


@override_settings(EMAIL_MAX_ATTEMPTS=2)
def test_it_waits_for_an_account_in_maintenance(answers, email_accounts) -> None:
    secondary = email_accounts[1]
    _maintenance(secondary, BreakerMode.FORCED_OPEN)
    message = order_mail()

    statuses = [email_message_deliver(message_pk=message.pk) for _ in range(4)]

    assert statuses == [EmailStatus.QUEUED] * 4
    message.refresh_from_db()
    assert message.attempts == 0  # given back: nothing that could send it was asked
    assert message.events.filter(type="retry").count() == 1  # one per pause

    # Maintenance over: the other account sends it.
    _maintenance(secondary, BreakerMode.AUTO)
    assert email_message_deliver(message_pk=message.pk) == EmailStatus.SENT
    message.refresh_from_db()
    assert message.account == secondary


@override_settings(EMAIL_MAX_ATTEMPTS=2)
def test_a_transient_failure_elsewhere_still_spends_its_attempts(
    answers, email_accounts
) -> None:
    answers[email_accounts[1].slug] = NotProcessed("busy", code="provider_busy")
    message = order_mail()

    statuses = [email_message_deliver(message_pk=message.pk) for _ in range(2)]

    assert statuses == [EmailStatus.QUEUED, EmailStatus.FAILED]
    message.refresh_from_db()
    assert message.attempts == 2


def test_refused_everywhere_still_fails_at_once_with_one_attempt(
    answers, email_accounts
) -> None:
    answers[email_accounts[1].slug] = unsupported_message("relay B lacks it")
    message = order_mail()

    assert email_message_deliver(message_pk=message.pk) == EmailStatus.FAILED
    message.refresh_from_db()
    assert (message.attempts, message.error_code) == (1, "unsupported_message")
