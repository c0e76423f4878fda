"""Staff preview an email template, read a bounced message's timeline and
find the bounced address on the suppression list."""

import time

import pytest
from django.http import StreamingHttpResponse
from django.utils import timezone

from notifications.admin import EmailMessageAdmin
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


@pytest.fixture
def timeline_arrives_late(monkeypatch) -> None:
    """The message's page arrives in two parts, the second (from its last
    timeline entry on) a moment later, as on a loaded machine: a timeline
    read before the page has loaded misses that entry."""
    change_view = EmailMessageAdmin.change_view

    def in_two_parts(self, request, object_id, form_url="", extra_context=None):
        response = change_view(self, request, object_id, form_url, extra_context)
        body = response.render().content
        cut = body.index(b"bounced (hard)")

        def parts():
            yield body[:cut]
            time.sleep(0.5)
            yield body[cut:]

        return StreamingHttpResponse(parts(), content_type=response["Content-Type"])

    monkeypatch.setattr(EmailMessageAdmin, "change_view", in_two_parts)


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


def test_staff_preview_timeline_and_suppression(
    admin_login, live_server, timeline_arrives_late
):
    message = _bounced_message()
    page = admin_login()

    page.goto(f"{live_server.url}/admin/notifications/emailmessage/")
    # Each page is read once it has loaded: a click only starts the navigation.
    with page.expect_navigation():
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
    with page.expect_navigation():
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
