"""README, "Management commands" / "Senders and headers": `send_bulk --from`
takes a bare address, and bad input is one line that says what is wrong. A
refused `--from` was reported as "The recipient is not a valid email address."
while every recipient was fine: the line must name the sender."""

import json

import pytest
from django.core.management import CommandError, call_command

from integrations.models import ProviderAccount
from notifications.models import BulkSend
from tests.factories import ProviderAccountFactory

pytestmark = pytest.mark.django_db(transaction=True)

NEWS = json.dumps({"headline": "Spring sale", "body": "Everything is 10% off."})


@pytest.fixture
def email_accounts(db: None) -> ProviderAccount:
    return ProviderAccountFactory(kind="email", slug="mail-primary", priority=1)


@pytest.mark.parametrize(
    "sender", ["Shop <shop@example.com>", "not-an-address", "shop@localhost"]
)
def test_a_bad_from_is_named_as_the_sender(email_accounts, tmp_path, sender):
    path = tmp_path / "people.csv"
    path.write_text("email\nada@example.com\n")
    with pytest.raises(CommandError) as raised:
        call_command(
            "send_bulk", "newsletter", str(path), "--context", NEWS,
            "--from", sender, "--no-wait",
        )  # fmt: skip
    message = str(raised.value)
    assert "\n" not in message
    assert "--from" in message and "recipient" not in message.lower(), message
    assert not BulkSend.objects.exists()


def test_a_bare_from_is_taken(email_accounts, tmp_path):
    path = tmp_path / "people.csv"
    path.write_text("email\nada@example.com\n")
    call_command(
        "send_bulk", "newsletter", str(path), "--context", NEWS,
        "--from", "news@example.com", "--no-wait",
    )  # fmt: skip
    assert BulkSend.objects.get().from_email == "news@example.com"
