"""Sandbox payment webhooks through /webhooks/<slug>/: valid, duplicate, out
of order, forged."""

import uuid

import pytest
from django.test import Client

from integrations.models import Event, WebhookEvent
from payments import services
from payments.models import Payment, PaymentStatus
from tests.payments.conftest import webhook_body, webhook_headers

pytestmark = pytest.mark.django_db


def send(slug: str, event_type: str, webhook_id: str | None = None, **data):
    body = webhook_body(event_type, **data)
    return Client().post(
        f"/webhooks/{slug}/",
        data=body,
        content_type="application/json",
        **webhook_headers(body, webhook_id=webhook_id),
    )


@pytest.fixture
def authorized(primary, django_capture_on_commit_callbacks) -> Payment:
    return services.payment_create(
        order_id="o-1",
        amount=1000,
        currency="EUR",
        source_token="tok_success",
        capture=False,
        idempotency_key=uuid.uuid4().hex,
    )


def deliver(slug: str, event_type: str, callbacks, **kwargs):
    with callbacks(execute=True):
        response = send(slug, event_type, **kwargs)
    assert response.status_code < 300, response.content
    return response


def test_captured_then_late_authorized_stays_captured(
    authorized, django_capture_on_commit_callbacks
):
    ref = authorized.provider_reference
    cb = django_capture_on_commit_callbacks
    deliver("sbx-primary", "payment.captured", cb, reference=ref, amount=1000)
    authorized.refresh_from_db()
    assert authorized.status == PaymentStatus.CAPTURED
    assert authorized.amount_captured == 1000
    deliver("sbx-primary", "payment.authorized", cb, reference=ref, amount=1000)
    deliver("sbx-primary", "payment.failed", cb, reference=ref)
    authorized.refresh_from_db()
    assert authorized.status == PaymentStatus.CAPTURED
    assert (
        list(Event.objects.values_list("name", flat=True)).count("payment.captured")
        == 1
    )


def test_duplicate_refund_event_counts_once(
    authorized, django_capture_on_commit_callbacks
):
    ref = authorized.provider_reference
    cb = django_capture_on_commit_callbacks
    # Out of order: the refund arrives before the capture.
    deliver(
        "sbx-primary",
        "payment.refunded",
        cb,
        webhook_id="msg_refund_1",
        reference=ref,
        amount=300,
        refund_reference="re_x",
    )
    deliver(
        "sbx-primary",
        "payment.refunded",
        cb,
        webhook_id="msg_refund_1",
        reference=ref,
        amount=300,
        refund_reference="re_x",
    )
    deliver(
        "sbx-primary",
        "payment.refunded",
        cb,
        reference=ref,
        amount=300,
        refund_reference="re_x",
    )
    authorized.refresh_from_db()
    assert authorized.status == PaymentStatus.PARTIALLY_REFUNDED
    assert (authorized.amount_captured, authorized.amount_refunded) == (1000, 300)
    assert WebhookEvent.objects.count() == 2  # the exact duplicate was not stored


def test_dispute_opened_emits_disputed(authorized, django_capture_on_commit_callbacks):
    cb = django_capture_on_commit_callbacks
    ref = authorized.provider_reference
    deliver("sbx-primary", "payment.dispute.opened", cb, reference=ref)
    deliver("sbx-primary", "payment.dispute.opened", cb, reference=ref)
    authorized.refresh_from_db()
    assert authorized.dispute_status == "open"
    assert Event.objects.filter(name="payment.disputed").count() == 1


def test_forged_webhook_changes_nothing(authorized):
    body = webhook_body("payment.failed", reference=authorized.provider_reference)
    headers = webhook_headers(body)
    headers["HTTP_WEBHOOK_SIGNATURE"] = "v1,Zm9yZ2Vk"
    response = Client().post(
        "/webhooks/sbx-primary/", data=body, content_type="application/json", **headers
    )
    assert response.status_code == 401
    authorized.refresh_from_db()
    assert authorized.status == PaymentStatus.AUTHORIZED
    assert not WebhookEvent.objects.exists()


def test_event_for_an_unknown_payment_is_kept_for_retry(
    primary, django_capture_on_commit_callbacks
):
    deliver(
        "sbx-primary",
        "payment.captured",
        django_capture_on_commit_callbacks,
        reference="ch_sbx_missing",
    )
    event = WebhookEvent.objects.get()
    assert event.status == "failed"
    assert "PaymentNotFound" in event.last_error


def test_refund_event_waits_for_our_refund_still_awaiting_its_answer(
    primary, django_capture_on_commit_callbacks
):
    from integrations.webhooks.services import webhook_event_process
    from payments.models import Refund, RefundStatus

    cb = django_capture_on_commit_callbacks
    with cb(execute=True):
        payment = services.payment_create(
            order_id="o-2",
            amount=1000,
            currency="EUR",
            source_token="tok_success",
            capture=True,
            idempotency_key=uuid.uuid4().hex,
        )
    # Our refund was sent; the gateway's answer (with its reference) is not
    # back yet when the gateway's own event for that refund arrives.
    ours = Refund.objects.create(
        payment=payment,
        amount=300,
        currency="EUR",
        status=RefundStatus.PENDING,
        idempotency_key=uuid.uuid4().hex,
    )
    deliver(
        "sbx-primary",
        "payment.refunded",
        cb,
        reference=payment.provider_reference,
        amount=300,
        refund_reference="re_gw_1",
    )
    event = WebhookEvent.objects.get(event_type="payment.refunded")
    assert event.status == "failed"  # kept, and retried with back-off
    assert "RefundAnswerPending" in event.last_error
    payment.refresh_from_db()
    assert payment.amount_refunded == 0

    # The answer lands: our refund now carries the gateway's reference.
    ours.status, ours.provider_reference = RefundStatus.SUCCEEDED, "re_gw_1"
    ours.save()
    Payment.objects.filter(pk=payment.pk).update(
        amount_refunded=300, status=PaymentStatus.PARTIALLY_REFUNDED
    )
    assert webhook_event_process(event_id=event.pk) == "processed"
    payment.refresh_from_db()
    assert payment.amount_refunded == 300  # counted once
    assert payment.refunds.count() == 1


def test_a_processed_webhook_names_its_payment_and_shows_on_its_timeline(
    authorized, django_capture_on_commit_callbacks
):
    from payments.selectors import payment_timeline

    ref = authorized.provider_reference
    cb = django_capture_on_commit_callbacks
    deliver("sbx-primary", "payment.captured", cb, reference=ref, amount=1000)

    (webhook,) = WebhookEvent.objects.all()
    assert (webhook.status, webhook.subject) == ("processed", authorized.public_id)
    titles = [e.title for e in payment_timeline(authorized) if e.kind == "webhook"]
    assert titles == ["Webhook payment.captured: Processed"]


def test_a_webhook_that_failed_to_apply_still_names_its_payment(
    authorized, django_capture_on_commit_callbacks, monkeypatch
):
    # The ones staff most need on the payment's page.
    from payments.selectors import payment_timeline

    def broken(**kwargs: object) -> None:
        raise RuntimeError("apply failed")

    monkeypatch.setattr(services, "payment_event_apply", broken)
    ref = authorized.provider_reference
    cb = django_capture_on_commit_callbacks
    with cb(execute=True):
        send("sbx-primary", "payment.captured", reference=ref, amount=1000)

    (webhook,) = WebhookEvent.objects.all()
    assert (webhook.status, webhook.subject) == ("failed", authorized.public_id)
    titles = [e.title for e in payment_timeline(authorized) if e.kind == "webhook"]
    assert titles == ["Webhook payment.captured: Failed (will retry)"]
