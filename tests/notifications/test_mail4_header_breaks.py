"""Characters other than CR, LF and NUL that mail parsers take as line ends
(VT, FF, the file/group/record separators, NEL, LINE and PARAGRAPH
SEPARATOR: Python's ``str.splitlines``, which the email package uses) are
refused in headers like CR/LF: ``invalid_header`` (``invalid_sender`` in an
address header) before any provider is called, and a 400 from the API."""

import pytest
from rest_framework.test import APIClient

from integrations.errors import Rejected
from integrations.models import ProviderCall
from integrations.registry import get_adapter
from notifications.api_examples import SEND_REQUEST
from notifications.models import EmailMessage, SandboxEmail
from notifications.services import EmailInvalid, email_message_create
from tests.factories import ApiKeyFactory
from tests.notifications.contract.harness import sample_email

pytestmark = pytest.mark.django_db

BREAKS = ["\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029"]
IDS = ["vt", "ff", "fs", "gs", "rs", "nel", "ls", "ps"]
EMAILS = "/api/v1/notifications/emails/"


@pytest.mark.parametrize("char", BREAKS, ids=IDS)
def test_every_one_ends_a_line_for_python(char) -> None:
    # The premise: the email package splits header lines this way.
    assert len(f"a{char}b".splitlines()) == 2


@pytest.mark.parametrize("char", BREAKS, ids=IDS)
@pytest.mark.parametrize(
    ("changes", "where"),
    [
        (lambda c: {"subject": f"Hi{c}Bcc: x@evil.example"}, "the subject"),
        (lambda c: {"headers": {"X-Note": f"a{c}Bcc: x@evil.example"}}, "X-Note"),
        (lambda c: {"tags": (f"t{c}x",)}, "a tag"),
        (lambda c: {"metadata": {"order_id": f"1{c}x"}}, "metadata order_id"),
    ],
    ids=["subject", "header", "tag", "metadata"],
)
def test_a_header_holding_one_is_refused_before_any_call(
    email_accounts, char, changes, where
) -> None:
    adapter = get_adapter(email_accounts[0])
    with pytest.raises(Rejected) as info:
        adapter.send(sample_email(**changes(char)))
    assert info.value.code == "invalid_header"
    assert where in info.value.message
    assert "evil" not in info.value.message
    assert not ProviderCall.objects.exists()


@pytest.mark.parametrize("char", BREAKS, ids=IDS)
def test_a_sender_holding_one_is_refused(email_accounts, char) -> None:
    adapter = get_adapter(email_accounts[0])
    with pytest.raises(Rejected) as info:
        adapter.send(sample_email(reply_to=f"shop@example.com{char}Bcc: x@e.example"))
    assert info.value.code == "invalid_sender"


@pytest.mark.parametrize("char", BREAKS, ids=IDS)
def test_the_api_refuses_an_order_id_holding_one(
    email_accounts, char, django_capture_on_commit_callbacks
) -> None:
    key = ApiKeyFactory(scopes=["email:send", "email:read"])
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {key.raw_key}")
    with django_capture_on_commit_callbacks(execute=True):
        answer = api.post(
            EMAILS,
            {**SEND_REQUEST, "order_id": f"o-1{char}Bcc: x@evil.example"},
            format="json",
            HTTP_IDEMPOTENCY_KEY="k-1",
        )
    assert answer.status_code == 400, answer.content
    error = answer.json()["error"]
    # The API's parser refuses C0/C1 controls first, as it does a NUL
    # (integrations/api/parsers.py); LS and PS are not controls and reach ours.
    code = "invalid_header" if char in "\u2028\u2029" else "invalid_characters"
    assert (error["code"], error["param"]) == (code, "order_id")
    assert not EmailMessage.objects.exists()
    assert not SandboxEmail.objects.exists()


def test_the_service_refuses_one_in_an_order_id() -> None:
    with pytest.raises(EmailInvalid) as info:
        email_message_create(
            to="ada@example.com",
            template=SEND_REQUEST["template"],
            context=SEND_REQUEST["context"],
            order_id="o-1\u2028x",
        )
    assert info.value.code == "invalid_header"
