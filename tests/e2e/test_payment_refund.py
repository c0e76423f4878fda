"""Staff refund part of a captured sandbox payment from its admin page."""

import re
import time
import uuid

import pytest
from django.http import StreamingHttpResponse

from payments.admin.payments import PaymentAdmin
from payments.models import Payment, PaymentStatus
from payments.services import payment_create
from tests.factories import ProviderAccountFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _no_subscribers(settings) -> None:
    settings.SWITCHYARD_EVENT_SUBSCRIBERS = {}


@pytest.fixture
def timeline_arrives_late(monkeypatch) -> None:
    """The payment's page arrives in two parts, the second (its timeline's
    rows) a moment later, as on a loaded machine: a timeline read before the
    page has loaded counts too few rows."""
    change_view = PaymentAdmin.change_view

    def in_two_parts(self, request, object_id, form_url="", extra_context=None):
        response = change_view(self, request, object_id, form_url, extra_context)
        if request.method != "GET" or response.status_code != 200:
            return response
        body = response.render().content
        cut = body.index(b'<tr class="timeline-')

        def parts():
            yield body[:cut]
            time.sleep(0.5)
            yield body[cut:]

        return StreamingHttpResponse(parts(), content_type=response["Content-Type"])

    monkeypatch.setattr(PaymentAdmin, "change_view", in_two_parts)


def test_staff_refund_part_of_a_captured_payment(
    admin_login, live_server, timeline_arrives_late
):
    ProviderAccountFactory(slug="sandbox-payments", display_name="Sandbox payments")
    payment = payment_create(
        order_id="ORD-1001",
        amount=12_500,
        currency="EUR",
        source_token="tok_success",
        capture=True,
        idempotency_key=uuid.uuid4().hex,
        customer_email="ada@example.com",
    )
    assert payment.status == PaymentStatus.CAPTURED
    page = admin_login()

    # Find it the way staff would: search the list by order id.
    page.goto(f"{live_server.url}/admin/payments/payment/?q=ORD-1001")
    # Each page is read once it has loaded: a click only starts the navigation.
    with page.expect_navigation():
        page.get_by_role("link", name=payment.public_id).click()
    fields = page.locator(".field-refundable_display .readonly")
    assert fields.inner_text() == "€125.00"
    assert page.locator(".field-status .readonly").inner_text() == "Captured"
    timeline = page.locator("#payment-timeline tbody tr")
    rows_before = timeline.count()
    assert page.locator("#payment-timeline tr.timeline-refund").count() == 0

    with page.expect_navigation():
        page.click("#refund-link")
    assert page.locator("#summary-refundable").inner_text() == "€125.00"
    amount = page.locator("#id_amount")
    assert amount.input_value() == "125.00"  # the whole remainder by default
    amount.fill("40.25")
    page.fill("#id_reason", "one item returned")
    with page.expect_navigation():
        page.click("input[name='_refund']")
    # Unconfirmed: the form comes back with the error, nothing refunded.
    assert "Tick the box" in page.locator(".errorlist").inner_text()
    payment.refresh_from_db()
    assert payment.amount_refunded == 0

    page.check("#id_confirm")
    with page.expect_navigation():
        page.click("input[name='_refund']")
    page.locator(".messagelist .success").wait_for()
    assert re.search(
        r"of €40\.25: succeeded", page.locator(".messagelist").inner_text()
    )

    assert page.locator(".field-status .readonly").inner_text() == "Partially refunded"
    assert fields.inner_text() == "€84.75"
    assert page.locator(".field-refunded_display .readonly").inner_text() == "€40.25"
    refund_rows = page.locator("#payment-timeline tr.timeline-refund")
    assert refund_rows.count() == 1
    assert "Refund €40.25: Succeeded" in refund_rows.inner_text()
    assert "one item returned" in refund_rows.inner_text()
    # The gateway call and the domain event joined the timeline too.
    assert timeline.count() == rows_before + 3
    text = page.locator("#payment-timeline").inner_text()
    assert "refund at Sandbox payments: Succeeded" in text
    assert "Event payment.refunded" in text
    payment.refresh_from_db()
    assert (payment.status, payment.amount_refunded) == ("partially_refunded", 4_025)

    # The form now offers what is left.
    with page.expect_navigation():
        page.click("#refund-link")
    assert page.locator("#id_amount").input_value() == "84.75"
    assert Payment.objects.count() == 1
