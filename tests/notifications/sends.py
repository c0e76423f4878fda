"""Set-up the single-send tests share: an order confirmation stored
unsent, and sandbox accounts answering each send as a test says."""

from collections.abc import Callable

import pytest

from notifications.models import EmailMessage
from notifications.providers.sandbox import SandboxEmailAdapter
from notifications.services import email_message_create

ORDER_CONTEXT = {"order_id": "1001", "amount_display": "€10.50"}


def order_mail(to: str = "ada@example.com") -> EmailMessage:
    """An order confirmation to ``to``, stored queued, its send left to the
    test (``email_message_deliver``)."""
    return email_message_create(
        to=to,
        template="order_confirmation",
        context=ORDER_CONTEXT,
        enqueue=False,
    )


def accounts_answer(
    monkeypatch: pytest.MonkeyPatch, answers: dict[str, Callable[[], Exception]]
) -> None:
    """Each sandbox account, by slug, raises what its entry in ``answers``
    makes, on every send."""

    def deliver(self, message, **kwargs):
        raise answers[self.account.slug]()

    monkeypatch.setattr(SandboxEmailAdapter, "deliver", deliver)
