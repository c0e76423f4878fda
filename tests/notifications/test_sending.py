"""Sending one message through the public services: validation, rendering,
suppressions, failover across the sandbox accounts, unknown outcomes and the
sweeper."""

from datetime import timedelta

import pytest
from django.utils import timezone

from notifications.models import EmailMessage, EmailStatus, SandboxEmail
from notifications.services import (
    EmailInvalid,
    EmailRenderError,
    email_message_create,
    email_message_deliver,
    email_message_resend,
    email_messages_sweep,
    suppression_add,
)

pytestmark = pytest.mark.django_db

ORDER = {"order_id": "1001", "amount_display": "€10.50"}


def _send(capture, to="ada@example.com", **kwargs) -> EmailMessage:
    kwargs.setdefault("template", "order_confirmation")
    kwargs.setdefault("context", ORDER)
    with capture(execute=True):
        message = email_message_create(to=to, **kwargs)
    message.refresh_from_db()
    return message


def test_message_is_rendered_stored_and_sent_by_the_primary(
    email_accounts, django_capture_on_commit_callbacks
) -> None:
    primary, _ = email_accounts
    message = _send(django_capture_on_commit_callbacks)
    assert message.status == EmailStatus.SENT
    assert message.account == primary
    assert message.subject == "Your order 1001 is confirmed"
    assert "€10.50" in message.text_body
    assert "<strong>1001</strong>" in message.html_body
    mailbox = SandboxEmail.objects.get()
    assert mailbox.provider_message_id == message.provider_message_id
    assert mailbox.account == primary
    assert [e.type for e in message.events.all()] == ["queued", "sent"]


def test_primary_down_sends_once_through_the_secondary(
    email_accounts, django_capture_on_commit_callbacks
) -> None:
    primary, secondary = email_accounts
    primary.settings = {"outage": True}
    primary.save()
    message = _send(django_capture_on_commit_callbacks)
    assert message.status == EmailStatus.SENT
    assert message.account == secondary
    assert SandboxEmail.objects.filter(account=secondary).count() == 1
    assert not SandboxEmail.objects.filter(account=primary).exists()


def test_primary_5xx_fails_over(
    email_accounts, django_capture_on_commit_callbacks
) -> None:
    primary, secondary = email_accounts
    primary.settings = {"error_rate": 1.0}
    primary.save()
    message = _send(django_capture_on_commit_callbacks)
    assert (message.status, message.account) == (EmailStatus.SENT, secondary)


def test_unknown_outcome_is_never_sent_twice(
    email_accounts, django_capture_on_commit_callbacks
) -> None:
    primary, secondary = email_accounts
    message = _send(django_capture_on_commit_callbacks, to="timeout@example.com")
    assert message.status == EmailStatus.UNKNOWN
    assert message.account == primary
    assert email_message_deliver(message_pk=message.pk) == EmailStatus.UNKNOWN
    email_messages_sweep(now=timezone.now() + timedelta(days=1))
    assert SandboxEmail.objects.count() == 1
    assert not SandboxEmail.objects.filter(account=secondary).exists()


def test_an_unexpected_error_is_kept_on_the_message_and_never_resent(
    email_accounts, monkeypatch
) -> None:
    from notifications.providers.sandbox import SandboxEmailAdapter

    def broken(self, outbound, **kwargs):
        raise TypeError("the adapter broke")

    monkeypatch.setattr(SandboxEmailAdapter, "send", broken)
    message = email_message_create(
        to="ada@example.com",
        template="order_confirmation",
        context=ORDER,
        enqueue=False,
    )
    with pytest.raises(TypeError):
        email_message_deliver(message_pk=message.pk)
    message.refresh_from_db()
    # Not left `sending` for the sweeper to guess at: unknown, with its cause.
    assert message.status == EmailStatus.UNKNOWN
    assert message.last_error == "TypeError: the adapter broke"
    email_messages_sweep(now=timezone.now() + timedelta(days=1))
    message.refresh_from_db()
    assert message.status == EmailStatus.UNKNOWN
    assert not SandboxEmail.objects.exists()


def test_invalid_recipient_fails_without_failover(
    email_accounts, django_capture_on_commit_callbacks
) -> None:
    message = _send(django_capture_on_commit_callbacks, to="invalid@example.com")
    assert message.status == EmailStatus.FAILED
    assert "refuses" in message.last_error
    assert not SandboxEmail.objects.exists()


def test_no_provider_keeps_it_queued_then_gives_up(
    email_accounts, django_capture_on_commit_callbacks, settings
) -> None:
    settings.EMAIL_MAX_ATTEMPTS = 2
    for account in email_accounts:
        account.settings = {"outage": True}
        account.save()
    message = _send(django_capture_on_commit_callbacks)
    assert message.status == EmailStatus.QUEUED
    assert message.last_error
    assert email_message_deliver(message_pk=message.pk) == EmailStatus.FAILED


def test_suppressed_address_is_stored_not_sent(
    email_accounts, django_capture_on_commit_callbacks
) -> None:
    suppression_add(address="Ada@Example.com", reason="hard_bounce")
    message = _send(django_capture_on_commit_callbacks)
    assert message.status == EmailStatus.SUPPRESSED
    assert not SandboxEmail.objects.exists()
    with pytest.raises(EmailInvalid) as info:
        email_message_resend(message=message)
    assert info.value.code == "suppressed"


def test_queued_message_is_not_sent_after_the_address_bounced(
    email_accounts,
) -> None:
    # Stored and queued (no provider was available, or its task not run yet).
    message = email_message_create(
        to="ada@example.com", template="order_confirmation", context=ORDER
    )
    assert message.status == EmailStatus.QUEUED
    # Meanwhile another message to the address hard-bounced.
    suppression_add(address="ada@example.com", reason="hard_bounce", source="eml_x")
    assert email_message_deliver(message_pk=message.pk) == EmailStatus.SUPPRESSED
    assert not SandboxEmail.objects.exists()
    message.refresh_from_db()
    assert message.status == EmailStatus.SUPPRESSED
    assert message.attempts == 0
    assert list(message.events.values_list("type", flat=True)) == [
        EmailStatus.QUEUED,
        EmailStatus.SUPPRESSED,
    ]


def test_unsubscribe_stops_marketing_but_not_transactional(
    email_accounts, django_capture_on_commit_callbacks
) -> None:
    suppression_add(address="ada@example.com", reason="unsubscribe")
    order = _send(django_capture_on_commit_callbacks)
    news = _send(
        django_capture_on_commit_callbacks,
        template="newsletter",
        category="marketing",
        context={"headline": "Spring", "body": "New stock"},
    )
    assert order.status == EmailStatus.SENT
    assert news.status == EmailStatus.SUPPRESSED


def test_marketing_mail_carries_one_click_unsubscribe(
    email_accounts, django_capture_on_commit_callbacks
) -> None:
    message = _send(
        django_capture_on_commit_callbacks,
        template="newsletter",
        category="marketing",
        context={"headline": "Spring", "body": "New stock"},
    )
    headers = SandboxEmail.objects.get().headers
    assert headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    link = headers["List-Unsubscribe"].strip("<>")
    assert "/email/unsubscribe/" in link
    assert link in message.text_body


@pytest.mark.parametrize(
    ("template", "context", "code", "param"),
    [
        ("no_such_template", ORDER, "template_not_found", ""),
        ("order_confirmation", {"order_id": "1"}, "missing_variable", "amount_display"),
        ("../secrets", ORDER, "template_not_found", ""),
    ],
)
def test_render_errors_are_clear_and_store_nothing(
    email_accounts, template, context, code, param
) -> None:
    with pytest.raises(EmailRenderError) as info:
        email_message_create(to="ada@example.com", template=template, context=context)
    assert info.value.code == code
    assert info.value.param == param
    assert not EmailMessage.objects.exists()


def test_bad_address_is_a_clear_error(email_accounts) -> None:
    with pytest.raises(EmailInvalid) as info:
        email_message_create(to="not an address", template="order_confirmation")
    assert (info.value.code, info.value.param) == ("invalid_email", "to")


@pytest.mark.parametrize(
    "address",
    [
        '"victim@evil.com,"@example.com',
        '"victim@evil.com"@example.com',
        '"ada"@example.com',
    ],
)
def test_a_quoted_local_part_is_refused(email_accounts, address) -> None:
    # Valid under RFC 5322, but Postmark and Mailgun read recipients as
    # comma-separated lists and document no quoting.
    with pytest.raises(EmailInvalid) as info:
        email_message_create(to=address, template="order_confirmation", context=ORDER)
    assert (info.value.code, info.value.param) == ("invalid_email", "to")
    assert "Quoted local parts" in str(info.value)
    assert not EmailMessage.objects.exists()


def test_idempotency_key_gives_the_same_message(
    email_accounts, django_capture_on_commit_callbacks
) -> None:
    first = _send(django_capture_on_commit_callbacks, idempotency_key="order:1001")
    again = _send(django_capture_on_commit_callbacks, idempotency_key="order:1001")
    assert first.pk == again.pk
    assert SandboxEmail.objects.count() == 1


def test_sweeper_requeues_lost_tasks_and_marks_dead_sends_unknown(
    email_accounts, django_capture_on_commit_callbacks
) -> None:
    lost = email_message_create(to="ada@example.com", template="order_confirmation",
                                context=ORDER)  # fmt: skip
    stuck = email_message_create(to="bob@example.com", template="order_confirmation",
                                 context=ORDER)  # fmt: skip
    EmailMessage.objects.filter(pk=stuck.pk).update(
        status=EmailStatus.SENDING, sending_at=timezone.now() - timedelta(hours=1)
    )
    result = email_messages_sweep(now=timezone.now() + timedelta(hours=1))
    assert result == {"requeued": 1, "unknown": 1, "cancelled": 0}
    lost.refresh_from_db()
    stuck.refresh_from_db()
    assert lost.status == EmailStatus.SENT
    assert stuck.status == EmailStatus.UNKNOWN
    assert SandboxEmail.objects.count() == 1


def test_a_refusal_quoting_a_credential_is_masked_for_staff(
    email_accounts, monkeypatch, django_capture_on_commit_callbacks
) -> None:
    from integrations import secrets_registry
    from integrations.errors import Rejected
    from notifications.providers.sandbox import SandboxEmailAdapter

    secret = "mail_canary_Zk81Qw0xT5"
    primary, _ = email_accounts
    primary.set_credentials({"api_key": secret})
    primary.save()
    secrets_registry.reload()  # the save's on-commit reload, in this test

    def refuse(self, message, **kwargs):
        error = Rejected("refused", code="invalid_recipient")
        error.message = f"bad recipient; api_key={secret}"  # as a provider quotes
        raise error

    monkeypatch.setattr(SandboxEmailAdapter, "send", refuse)
    message = _send(django_capture_on_commit_callbacks)
    assert message.status == EmailStatus.FAILED
    assert message.error_code == "invalid_recipient"
    assert secret not in message.last_error
    assert "[redacted]" in message.last_error
    (failed,) = message.events.filter(type="failed")
    assert secret not in failed.details["reason"]


@pytest.mark.parametrize(
    "from_email",
    [
        "Shop\r\nBcc: x@evil.example <shop@example.com>",
        "shop@example.com, x@evil.example",
    ],
)
def test_a_sender_with_a_line_break_or_two_mailboxes_fails_and_is_never_sent(
    email_accounts, django_capture_on_commit_callbacks, from_email
) -> None:
    # Refused for every provider as the SMTP relay refuses it: a definite
    # failure with its error, not a Bcc header or a second sender.
    message = _send(django_capture_on_commit_callbacks, from_email=from_email)
    assert message.status == EmailStatus.FAILED
    assert message.error_code == "invalid_sender"
    assert "address" in message.last_error
    assert not SandboxEmail.objects.exists()
