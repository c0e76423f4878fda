"""The email contract: every adapter, through the shared ProviderClient,
answers each scenario with the same typed result or outcome (README.md in
this directory). The kind-neutral scenarios are tests/contract/runner.py's;
the email rules (a 5xx fails over; invalid recipient is rejected) and the
event scenarios are added here."""

from pathlib import Path
from types import ModuleType

import pytest
import responses

from integrations.errors import Outcome, Rejected
from integrations.registry import get_adapter as registry_adapter
from integrations.webhooks.messages import WebhookMessage
from notifications.providers.base import (
    INVALID_RECIPIENT,
    EmailAdapter,
    EmailEventRecord,
    SendStatus,
)
from tests.contract.runner import Case, Contract, Expected, last_call_outcome
from tests.notifications.contract.harness import EmailWebhook, sample_email

pytestmark = pytest.mark.django_db


def _send(adapter: EmailAdapter, message: object) -> object:
    return adapter.send(message)  # type: ignore[arg-type]


def _accepted(case: Case) -> None:
    result = case.adapter.send(case.arranged)
    assert result.status in (SendStatus.ACCEPTED, SendStatus.QUEUED)
    assert result.provider_message_id
    assert last_call_outcome(case.account) == "success"


def _messages(case: Case, hook: EmailWebhook) -> list[WebhookMessage]:
    return case.adapter.webhook_messages(
        body=hook.body, headers=hook.headers, url=hook.url
    )


def _records(case: Case, messages: list[WebhookMessage]) -> list[EmailEventRecord]:
    records = [r for m in messages for r in case.adapter.parse_email_events(m)]
    for record in records:
        assert record.occurred_at.tzinfo is not None
        assert record.provider_message_id or record.message_id
        assert record.recipient
    return records


def _expect(hook: EmailWebhook, record: EmailEventRecord) -> None:
    if hook.event is not None:
        assert record.type == hook.event
    if hook.provider_message_id:
        assert record.provider_message_id == hook.provider_message_id
    if hook.recipient:
        assert record.recipient == hook.recipient
    if hook.bounce_type is not None:
        assert record.bounce_type == hook.bounce_type


def _webhook_records(case: Case, messages: list[WebhookMessage]) -> None:
    records = _records(case, messages)
    assert records, "a valid delivery webhook carries at least one event"
    _expect(case.arranged, records[0])


def _out_of_order(case: Case) -> None:
    late, early = case.arranged.first, case.arranged.second
    first = _records(case, _messages(case, late))
    second = _records(case, _messages(case, early))
    assert first and second
    _expect(late, first[0])
    _expect(early, second[0])
    # What lets the services apply them by precedence and time.
    assert first[0].occurred_at > second[0].occurred_at
    assert first[0].provider_message_id == second[0].provider_message_id


def _batch(case: Case) -> None:
    messages = _messages(case, case.arranged)
    assert len(messages) >= 2
    keys = [m.dedupe_key for m in messages]
    assert len(set(keys)) == len(keys), "each event is deduplicated on its own"
    assert len(_records(case, messages)) >= len(messages)


CONTRACT = Contract(
    kind="email",
    adapter_class=EmailAdapter,
    directory=Path(__file__).parent,
    package=__package__,
    operation=_send,
    errors={"invalid_recipient": Expected(Rejected, INVALID_RECIPIENT)},
    checks={
        "accepted": _accepted,
        "webhook_out_of_order": _out_of_order,
        "webhook_batch": _batch,
    },
    webhook_check=_webhook_records,
    server_error_outcome=Outcome.NOT_PROCESSED,
)


@pytest.mark.parametrize(("harness", "scenario", "variant"), CONTRACT.cases())
def test_contract(
    harness: ModuleType,
    scenario: str,
    variant: str | None,
    rsps: responses.RequestsMock,
) -> None:
    CONTRACT.run(harness, scenario, variant, rsps)


BAD_SENDERS = [
    {"from_email": "Shop\r\nBcc: x@evil.example <shop@example.com>"},
    {"from_email": "shop@example.com\r\nBcc: x@evil.example"},
    {"from_email": "shop@example.com, x@evil.example"},
    {"from_email": "Shop x@evil.example, <shop@example.com>"},
    {"reply_to": "help@example.com\nBcc: x@evil.example"},
    {"headers": {"Reply-To": "help@example.com\r\nBcc: x@evil.example"}},
    {"headers": {"Sender": "a@example.com, x@evil.example"}},
]


@pytest.mark.parametrize("harness", CONTRACT.harnesses(), ids=lambda h: h.PROVIDER)
@pytest.mark.parametrize("bad", BAD_SENDERS)
def test_a_sender_with_a_line_break_or_a_second_mailbox_is_never_sent(
    harness: ModuleType, bad: dict, rsps: responses.RequestsMock
) -> None:
    # Refused by every adapter before the provider is called, as the SMTP
    # relay refuses it: a definite failure, never a payload field or header.
    account = harness.make_account()
    good = harness.accepted(rsps, account)
    adapter = registry_adapter(account)
    with pytest.raises(Rejected) as info:
        adapter.send(sample_email(**bad))
    assert info.value.code == "invalid_sender"
    assert len(rsps.calls) == 0
    # The provider's answer is still there for the next message.
    assert adapter.send(good).provider_message_id
