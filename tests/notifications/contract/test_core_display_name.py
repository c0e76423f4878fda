"""A sender's display name holding an address (``"support@bank.com"
<shop@ours>``) is refused by every adapter before the provider is called:
the reader sees the name, so it would pass for another sender (the spoof
spam filters score, SpamAssassin's FROMNAME_EMAIL). A name that is the
mailbox's own address, and any name without one, still goes out."""

from types import ModuleType

import pytest
import responses

from integrations.errors import Rejected
from integrations.registry import get_adapter as registry_adapter
from tests.notifications.contract.harness import sample_email
from tests.notifications.contract.test_contract import CONTRACT

pytestmark = pytest.mark.django_db

SPOOFS = {
    "quoted": {"from_email": '"support@bank.example" <shop@example.com>'},
    "comment": {"from_email": "Shop (support@bank.example) <shop@example.com>"},
    "spaced": {"from_email": '"support @ bank.example" <shop@example.com>'},
    "fullwidth_at": {"from_email": '"support\uff20bank.example" <shop@example.com>'},
    "encoded_word": {
        "from_email": "=?utf-8?q?support=40bank.example?= <shop@example.com>"
    },
    "reply_to": {"reply_to": '"billing@bank.example" <help@example.com>'},
    "sender_header": {"headers": {"Sender": '"a@bank.example" <shop@example.com>'}},
}
FINE = [
    '"Shop" <shop@example.com>',
    '"shop@example.com" <shop@example.com>',
    "Bücher & Co <shop@example.com>",
]


@pytest.mark.parametrize("harness", CONTRACT.harnesses(), ids=lambda h: h.PROVIDER)
@pytest.mark.parametrize("bad", SPOOFS.values(), ids=SPOOFS.keys())
def test_a_display_name_holding_an_address_is_never_sent(
    harness: ModuleType, bad: dict, rsps: responses.RequestsMock
) -> None:
    account = harness.make_account()
    good = harness.accepted(rsps, account)
    adapter = registry_adapter(account)

    with pytest.raises(Rejected) as info:
        adapter.send(sample_email(**bad))

    assert info.value.code == "invalid_sender"
    assert "display name" in info.value.message
    assert len(rsps.calls) == 0
    assert adapter.send(good).provider_message_id


@pytest.mark.parametrize("harness", CONTRACT.harnesses(), ids=lambda h: h.PROVIDER)
@pytest.mark.parametrize("sender", FINE)
def test_a_plain_display_name_is_sent(
    harness: ModuleType, sender: str, rsps: responses.RequestsMock
) -> None:
    account = harness.make_account()
    good = harness.accepted(rsps, account)
    message = good.__class__(**{**good.__dict__, "from_email": sender})

    assert registry_adapter(account).send(message).provider_message_id
