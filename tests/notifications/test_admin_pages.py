"""The email admin's template previews and delivery analytics."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client
from django.utils import timezone

from notifications.models import EmailEvent, EmailMessage
from notifications.selectors import email_stats
from notifications.services import email_message_create
from tests.factories import ProviderAccountFactory

pytestmark = pytest.mark.django_db
PREVIEW = "/admin/notifications/emailmessage/preview/"
ANALYTICS = "/admin/notifications/emailmessage/analytics/"
ORDER = {"order_id": "1001", "amount_display": "€10.50"}


@pytest.fixture
def staff() -> Client:
    user = User.objects.create_superuser("boss", "boss@example.com", "pw")
    client = Client()
    client.force_login(user)
    return client


def test_preview_renders_every_template_side_by_side(staff) -> None:
    page = staff.get(PREVIEW)
    assert page.status_code == 200
    html = page.content.decode()
    for name in ("order_confirmation", "shipping_notice", "delivery_notice"):
        assert f'id="preview-{name}"' in html
    assert "Your order o-1001 is confirmed" in html
    assert 'class="preview-text"' in html
    # The HTML part sits escaped in a sandboxed iframe's srcdoc.
    assert '<iframe class="preview-html" sandbox' in html
    assert "&lt;strong&gt;o-1001&lt;/strong&gt;" in html
    assert "preview-error" not in html
    changelist = staff.get("/admin/notifications/emailmessage/").content.decode()
    assert PREVIEW in changelist and ANALYTICS in changelist


def test_pages_need_view_permission_on_the_email_log() -> None:
    clerk = User.objects.create_user("clerk", password="pw", is_staff=True)
    client = Client()
    client.force_login(clerk)
    assert client.get(PREVIEW).status_code == 403
    assert client.get(ANALYTICS).status_code == 403
    clerk.user_permissions.add(Permission.objects.get(codename="view_emailmessage"))
    assert client.get(ANALYTICS).status_code == 200
    assert Client().get(PREVIEW).status_code == 302  # to the login page


def _message(account, template="order_confirmation", *events, sent=True, days=0):
    message = email_message_create(
        to="ada@example.com", template=template, context=ORDER, enqueue=False
    )
    created = timezone.now() - timedelta(days=days)
    EmailMessage.objects.filter(pk=message.pk).update(
        account=account, sent_at=created if sent else None, created_at=created
    )
    for kind in events:
        kind, _, bounce = kind.partition(":")
        EmailEvent.objects.create(message=message, type=kind, bounce_type=bounce)
    return message


def _fixture_messages() -> None:
    sendgrid = ProviderAccountFactory(kind="email", provider="sendgrid", slug="sg")
    sandbox = ProviderAccountFactory(kind="email", slug="sbx")
    _message(sendgrid, "order_confirmation", "delivered", "opened", "clicked")
    _message(sendgrid, "order_confirmation", "delivered")
    _message(sendgrid, "order_confirmation", "bounced:hard")
    _message(sandbox, "order_confirmation", "bounced:soft", "delivered", "complained")
    _message(sandbox, "order_confirmation", sent=False)
    _message(sandbox, "order_confirmation", "delivered", days=1)
    _message(sandbox, "order_confirmation", "delivered", days=40)


def test_stats_per_provider_template_and_day() -> None:
    _fixture_messages()
    by_provider = {row.label: row for row in email_stats(group="provider")}
    sg = by_provider["sendgrid"]
    assert (sg.sent, sg.delivered, sg.bounced, sg.opened, sg.clicked) == (3, 2, 1, 1, 1)
    assert (sg.delivered_rate, sg.bounce_rate, sg.open_rate) == (66.7, 33.3, 50.0)
    sbx = by_provider["sandbox"]
    # A soft bounce is no bounce; a complaint proves delivery; the 40-day-old
    # message is outside the window; the unsent one counts in no rate.
    assert (sbx.sent, sbx.delivered, sbx.bounced, sbx.complained) == (2, 2, 0, 1)
    assert sbx.complaint_rate == 50.0
    (template,) = email_stats(group="template")
    assert (template.label, template.sent) == ("order_confirmation", 5)
    days = email_stats(group="day")
    assert [row.sent for row in days] == [1, 4]
    assert email_stats(group="day", days=90)[0].sent == 1


def test_a_filtered_message_counts_as_delivered_and_as_filtered() -> None:
    # Postmark's SpamNotification: "The message was delivered, but was either
    # blocked by the user, or classified as spam" (its Bounce API's table).
    # Delivered with no Delivery webhook, or after one: delivered once each;
    # the filtered figure says how many of the delivered were filtered.
    postmark = ProviderAccountFactory(kind="email", provider="postmark", slug="pm")
    _message(postmark, "order_confirmation", "filtered")
    _message(postmark, "order_confirmation", "delivered", "filtered")
    _message(postmark, "order_confirmation", "delivered", "opened")
    _message(postmark, "order_confirmation")
    (row,) = email_stats(group="provider")
    assert (row.sent, row.delivered, row.filtered, row.bounced) == (4, 3, 2, 0)
    assert (row.delivered_rate, row.open_rate) == (75.0, 33.3)


def test_a_message_that_ended_bounced_counts_as_bounced_not_delivered() -> None:
    postmark = ProviderAccountFactory(kind="email", provider="postmark", slug="pm")
    _message(postmark, "order_confirmation", "filtered", "bounced:hard")
    _message(postmark, "order_confirmation", "delivered", "opened", "bounced:hard")
    _message(postmark, "order_confirmation", "delivered", "bounced:soft")
    (row,) = email_stats(group="provider")
    assert (row.sent, row.delivered, row.bounced) == (3, 1, 2)
    assert (row.filtered, row.opened) == (0, 0)
    assert row.delivered + row.bounced <= row.sent


def test_analytics_page_shows_rates_and_bars(staff) -> None:
    _fixture_messages()
    page = staff.get(ANALYTICS)
    assert page.status_code == 200
    html = page.content.decode()
    assert 'id="analytics-day"' in html
    assert "66.7%" in html and "sendgrid" in html
    # The busiest day fills the bar: 3 of its 4 delivered, 1 bounced; the
    # day before (1 sent, delivered) is a quarter of its length.
    assert 'class="delivered" style="width: 75.0%"' in html
    assert 'class="bounced" style="width: 25.0%"' in html
    assert 'class="other" style="width: 0.0%"' in html
    assert 'class="delivered" style="width: 25.0%"' in html
    assert staff.get(ANALYTICS, {"days": "7"}).status_code == 200
    assert staff.get(ANALYTICS, {"days": "x"}).status_code == 200


def test_dashboard_lists_the_email_accounts(staff) -> None:
    ProviderAccountFactory(kind="email", provider="sendgrid", slug="sg-main")
    page = staff.get("/admin/integrations/dashboard/").content.decode()
    assert "sg-main" in page
    assert "email / sendgrid" in page
