"""A message every account refused for good for different reasons fails as
``refused_everywhere``; docs/notifications.md promises that each account's
own code and text stay for staff in ``last_error`` and the ``failed``
event. The text alone does not say which refusal it was (a relay's reply
"relay B lacks SMTPUTF8" never names ``unsupported_message``): each account
is named with its own code."""

import pytest

from notifications.models import EmailStatus
from notifications.providers.outcomes import subject_missing, unsupported_message
from notifications.services.sending import email_message_deliver
from tests.notifications.sends import accounts_answer, order_mail

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_secrets_left_over")]


def test_each_account_keeps_its_own_code(email_accounts, monkeypatch) -> None:
    primary, secondary = email_accounts
    answers = {
        primary.slug: subject_missing,
        secondary.slug: lambda: unsupported_message("relay B lacks SMTPUTF8"),
    }
    accounts_answer(monkeypatch, answers)
    message = order_mail()

    assert email_message_deliver(message_pk=message.pk) == EmailStatus.FAILED

    message.refresh_from_db()
    assert message.error_code == "refused_everywhere"
    (failed,) = message.events.filter(type=EmailStatus.FAILED)
    for kept in (message.last_error, failed.details["reason"]):
        assert f"{primary.slug} (subject_empty): the rendered subject" in kept
        assert f"{secondary.slug} (unsupported_message): relay B lacks" in kept
