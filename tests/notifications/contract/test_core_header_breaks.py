"""A CR, LF or NUL in anything that becomes a header, or a provider field one
is made of (subject, To, custom header names and values, tags, metadata keys
and values), is refused by every adapter before the provider is called: the
line would become a header of its own (a Bcc), whichever provider carried it."""

from types import ModuleType

import pytest
import responses

from integrations.errors import Rejected
from integrations.registry import get_adapter as registry_adapter
from tests.notifications.contract.harness import sample_email
from tests.notifications.contract.test_contract import CONTRACT

pytestmark = pytest.mark.django_db

INJECTED = "\r\nBcc: x@evil.example"
BAD_HEADERS = {
    "subject_crlf": {"subject": f"Your order 1001{INJECTED}"},
    "subject_lf": {"subject": "Your order\nBcc: x@evil.example"},
    "subject_nul": {"subject": "Your order\x001001"},
    "to": {"to": f"ada@example.com{INJECTED}"},
    "header_value": {"headers": {"X-Note": f"a{INJECTED}"}},
    "header_value_cr": {"headers": {"X-Note": "a\rBcc: x@evil.example"}},
    "header_name": {"headers": {f"X-Note{INJECTED}": "a"}},
    "header_nul": {"headers": {"X-Note": "a\x00b"}},
    "tag": {"tags": (f"order_confirmation{INJECTED}",)},
    "metadata_value": {"metadata": {"order_id": f"1001{INJECTED}"}},
    "metadata_key": {"metadata": {f"order{INJECTED}": "1001"}},
    "metadata_nul": {"metadata": {"order_id": "10\x0001"}},
}


@pytest.mark.parametrize("harness", CONTRACT.harnesses(), ids=lambda h: h.PROVIDER)
@pytest.mark.parametrize("bad", BAD_HEADERS.values(), ids=BAD_HEADERS.keys())
def test_a_header_with_a_line_break_or_nul_is_never_sent(
    harness: ModuleType, bad: dict, rsps: responses.RequestsMock
) -> None:
    account = harness.make_account()
    good = harness.accepted(rsps, account)
    adapter = registry_adapter(account)

    with pytest.raises(Rejected) as info:
        adapter.send(sample_email(**bad))

    assert info.value.code == "invalid_header"
    assert "x@evil" not in info.value.message  # named, never echoed
    assert len(rsps.calls) == 0
    assert adapter.send(good).provider_message_id


@pytest.mark.parametrize("harness", CONTRACT.harnesses(), ids=lambda h: h.PROVIDER)
@pytest.mark.parametrize(
    "bad",
    [{"from_email": "shop@example.com\x00"}, {"reply_to": "help@example.com\x00"}],
    ids=["from", "reply_to"],
)
def test_a_sender_with_a_nul_is_never_sent(
    harness: ModuleType, bad: dict, rsps: responses.RequestsMock
) -> None:
    account = harness.make_account()
    harness.accepted(rsps, account)

    with pytest.raises(Rejected) as info:
        registry_adapter(account).send(sample_email(**bad))

    assert info.value.code == "invalid_sender"
    assert len(rsps.calls) == 0
