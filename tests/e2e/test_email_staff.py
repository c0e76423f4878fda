"""Staff preview an email template, read a bounced message's timeline and
find the bounced address on the suppression list."""

import pytest
from django.utils import timezone

from notifications.models import EmailStatus
from notifications.providers.base import BounceType, EmailEventRecord, EmailEventType
from notifications.services import (
    email_event_apply,
    email_message_create,
    email_message_deliver,
)
from tests.factories import ProviderAccountFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _no_subscribers(settings) -> None:
    settings.SWITCHYARD_EVENT_SUBSCRIBERS = {}


def _bounced_message():
    ProviderAccountFactory(kind="email", slug="sandbox-email")
    message = email_message_create(
        to="gone@example.com",
        template="order_confirmation",
        context={"order_id": "ORD-2002", "amount_display": "€18.00"},
        order_id="ORD-2002",
        enqueue=False,
    )
    assert email_message_deliver(message_pk=message.pk) == EmailStatus.SENT
    # What the provider's bounce webhook applies.
    email_event_apply(
        message=message,
        record=EmailEventRecord(
            type=EmailEventType.BOUNCED,
            occurred_at=timezone.now(),
            recipient=message.to_email,
            provider_message_id="",
            message_id=message.public_id,
            bounce_type=BounceType.HARD,
            details={"reason": "550 5.1.1 no such mailbox"},
        ),
    )
    return message


def test_staff_preview_timeline_and_suppression(admin_login, live_server):
    message = _bounced_message()
    page = admin_login()

    page.goto(f"{live_server.url}/admin/notifications/emailmessage/")
    page.click("#template-preview-link")
    section = page.locator("#preview-shipping_notice")
    assert (
        section.locator(".preview-subject").inner_text()
        == "Your order o-1001 is on its way"
    )
    assert "FedEx" in section.locator(".preview-text").inner_text()
    html = page.frame_locator("#preview-shipping_notice iframe.preview-html")
    link = html.get_by_role("link", name="Follow your parcel")
    assert "trknbr=794600000000" in link.get_attribute("href")

    page.goto(f"{live_server.url}/admin/notifications/emailmessage/?status=bounced")
    page.get_by_role("link", name=message.public_id).click()
    timeline = page.locator("#emailmessage-timeline")
    text = timeline.inner_text()
    assert text.index("queued") < text.index("sent") < text.index("bounced (hard)")
    assert "550 5.1.1 no such mailbox" in text
    assert "email.bounced" in text

    page.goto(f"{live_server.url}/admin/notifications/suppression/")
    page.fill("#searchbar", "gone@example.com")
    with page.expect_navigation():
        page.press("#searchbar", "Enter")
    assert "q=gone%40example.com" in page.url
    rows = page.locator("#result_list tbody tr")
    assert rows.count() == 1
    assert "Hard bounce" in rows.inner_text()
    assert message.public_id in rows.inner_text()
