"""Outside review (task "mail"): staff force an email account's breaker open
(maintenance at the provider). A message met only by open breakers was never
given to any provider: it uses none of its attempts and waits, as a
storefront webhook delivery does, instead of failing for good after
EMAIL_MAX_ATTEMPTS sweeps that asked no one."""

from datetime import timedelta

import pytest
from django.utils import timezone

from integrations.breaker import breaker_mode_set
from integrations.models.accounts import BreakerMode
from notifications.models import EmailStatus, SandboxEmail
from notifications.services import email_message_create, email_messages_sweep
from tests.factories import ProviderAccountFactory

pytestmark = pytest.mark.django_db
ORDER = {"order_id": "o-1", "amount_display": "€1.00"}


def test_a_message_met_only_by_a_forced_open_breaker_waits_for_it(
    settings, django_capture_on_commit_callbacks
) -> None:
    account = ProviderAccountFactory(kind="email", slug="mail-only", priority=1)
    breaker_mode_set(account=account, mode=BreakerMode.FORCED_OPEN, actor="ops")
    with django_capture_on_commit_callbacks(execute=True):
        message = email_message_create(
            to="ada@example.com", template="order_confirmation", context=ORDER
        )
    message.refresh_from_db()
    assert (message.status, message.attempts) == (EmailStatus.QUEUED, 0)
    start = timezone.now()
    for minutes in range(2, 2 + 2 * settings.EMAIL_MAX_ATTEMPTS, 2):
        email_messages_sweep(now=start + timedelta(minutes=minutes))
    message.refresh_from_db()
    assert (message.status, message.attempts) == (EmailStatus.QUEUED, 0)
    assert message.error_code == "no_provider_available"

    breaker_mode_set(account=account, mode=BreakerMode.AUTO, actor="ops")
    email_messages_sweep(now=start + timedelta(hours=1))
    message.refresh_from_db()
    assert (message.status, message.attempts) == (EmailStatus.SENT, 1)
    assert SandboxEmail.objects.count() == 1
