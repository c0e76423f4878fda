"""Every sandbox posts signed webhooks about what it did to its account's
intake, as a real provider does: delivered over HTTP, verified, stored and
processed like any other, retried on anything but a 2xx."""

import logging
import uuid
from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone
from django_q.models import Schedule
from django_q.scheduler import scheduler

from integrations import registry
from integrations.models import WebhookEvent, WebhookStatus
from integrations.providers import sandbox_webhooks
from integrations.testing.faultserver import FaultServer, RefusingPort, respond
from integrations.webhooks.verification import verify_standard_webhook
from payments import services
from payments.models import PaymentStatus
from tests.factories import ProviderAccountFactory

SECRET = "whsec_dGVzdHNlY3JldA=="  # ProviderAccountFactory's default


@pytest.fixture
def intake(live_server, settings):
    """Sandbox webhooks go to the live server's intake, without the delay."""
    settings.SANDBOX_WEBHOOK_BASE_URL = live_server.url
    settings.SANDBOX_WEBHOOK_DELAY_SECONDS = 0
    settings.WEBHOOK_ACCOUNT_CACHE_SECONDS = 0
    return live_server


def _pay(*, capture: bool = True, token: str = "tok_success"):
    # One transaction: the webhook leaves after the payment has its gateway
    # reference, which the delay makes sure of outside tests.
    with transaction.atomic():
        return services.payment_create(
            order_id="order-hooks",
            amount=1200,
            currency="EUR",
            source_token=token,
            capture=capture,
            idempotency_key=uuid.uuid4().hex,
        )


def _events(account) -> list[WebhookEvent]:
    return list(WebhookEvent.objects.filter(account=account).order_by("pk"))


def test_a_captured_payment_is_announced_verified_stored_and_processed(intake):
    account = ProviderAccountFactory(slug="sbx-hooks")
    payment = _pay()
    assert payment.status == PaymentStatus.CAPTURED

    [event] = _events(account)
    assert event.event_type == "payment.captured"
    assert event.status == WebhookStatus.PROCESSED
    assert event.dedupe_key.startswith("msg_")
    assert event.payload["data"] == {
        "reference": payment.provider_reference,
        "amount": 1200,
        "currency": "EUR",
    }
    assert event.correlation_id  # the payment's, carried by the delivery
    payment.refresh_from_db()
    assert (payment.status, payment.amount_captured) == (PaymentStatus.CAPTURED, 1200)

    # The sandbox delivering it again (a retry) is a duplicate: stored once.
    assert sandbox_webhooks.webhook_deliver(
        account_id=account.pk,
        webhook_id=event.dedupe_key,
        body=bytes(event.raw_body).decode(),
    )
    assert [e.pk for e in _events(account)] == [event.pk]


def test_refund_and_void_are_announced_and_count_once(intake):
    account = ProviderAccountFactory(slug="sbx-hooks-refund")
    captured = _pay()
    with transaction.atomic():
        refund = services.payment_refund(payment=captured, amount=500)
    authorized = _pay(capture=False)
    with transaction.atomic():
        services.payment_void(payment=authorized)

    events = _events(account)
    assert [e.event_type for e in events] == [
        "payment.captured",
        "payment.refunded",
        "payment.authorized",
        "payment.voided",
    ]
    assert all(e.status == WebhookStatus.PROCESSED for e in events)
    assert events[1].payload["data"]["refund_reference"] == refund.provider_reference
    captured.refresh_from_db()
    authorized.refresh_from_db()
    assert captured.amount_refunded == 500  # booked by the call, not again
    assert authorized.status == PaymentStatus.VOIDED


@pytest.mark.django_db(transaction=True)
def test_failed_deliveries_are_retried_under_the_same_id(settings):
    account = ProviderAccountFactory(slug="sbx-retry", kind="shipping")
    adapter = registry.get_adapter(account)
    path = f"/webhooks/{account.slug}/"
    with FaultServer() as server:
        server.route("POST", path, respond(503), respond(200, json={}))
        settings.SANDBOX_WEBHOOK_BASE_URL = server.url
        settings.SANDBOX_WEBHOOK_DELAY_SECONDS = 0
        with transaction.atomic():
            webhook_id = adapter.deliver_webhook("shipment.delivered", {"id": "s1"})
        retry = Schedule.objects.get(name=f"sandbox webhook {webhook_id} attempt 2")
        assert retry.next_run > timezone.now()
        # The retry is due: the scheduler runs it.
        Schedule.objects.filter(pk=retry.pk).update(
            next_run=timezone.now() - timedelta(seconds=1)
        )
        scheduler()
        sent = server.requests_for("POST", path)

    assert len(sent) == 2
    assert {r.header("webhook-id") for r in sent} == {webhook_id}
    for request in sent:
        verified = verify_standard_webhook(
            secret=SECRET, body=request.body, headers=request.headers
        )
        assert verified.webhook_id == webhook_id
    assert sent[0].json()["type"] == "shipment.delivered"
    assert sent[0].json()["data"] == {"id": "s1"}
    assert not Schedule.objects.filter(name__startswith="sandbox webhook").exists()


@pytest.mark.django_db
def test_an_unreachable_intake_is_retried_then_given_up(settings, caplog):
    settings.SANDBOX_WEBHOOK_MAX_ATTEMPTS = 2
    account = ProviderAccountFactory(kind="email")
    body = sandbox_webhooks.webhook_body("email.bounced", {"id": "m1"}).decode()
    with RefusingPort() as port, caplog.at_level(logging.WARNING):
        settings.SANDBOX_WEBHOOK_BASE_URL = port.url
        first = sandbox_webhooks.webhook_deliver(
            account_id=account.pk, webhook_id="msg_1", body=body
        )
        last = sandbox_webhooks.webhook_deliver(
            account_id=account.pk, webhook_id="msg_1", body=body, attempt=2
        )
    assert (first, last) == (False, False)
    # One retry scheduled, after the base back-off; none after the last attempt.
    [retry] = Schedule.objects.filter(name__startswith="sandbox webhook msg_1")
    assert retry.name == "sandbox webhook msg_1 attempt 2"
    wait = (retry.next_run - timezone.now()).total_seconds()
    assert 0 < wait <= settings.SANDBOX_WEBHOOK_RETRY_BASE_SECONDS
    assert [r.message for r in caplog.records] == [
        "sandbox webhook delivery failed",
        "sandbox webhook delivery failed",
        "sandbox webhook given up",
    ]
    assert caplog.records[0].error_code == "connection_refused"


@pytest.mark.django_db
def test_no_webhook_secret_means_no_deliveries_logged_once(
    settings, caplog, django_capture_on_commit_callbacks
):
    settings.SANDBOX_WEBHOOK_BASE_URL = "http://127.0.0.1:9"
    # Outbox deliveries (inventory confirms on payment.captured) also enqueue
    # on commit; this test counts only the sandbox's webhook deliveries.
    settings.SWITCHYARD_EVENT_SUBSCRIBERS = {}
    account = ProviderAccountFactory(
        slug=f"sbx-{uuid.uuid4().hex[:8]}", credentials={"api_key": "sbx_key"}
    )
    with (
        caplog.at_level(logging.WARNING, logger=sandbox_webhooks.__name__),
        django_capture_on_commit_callbacks() as callbacks,
    ):
        first = _pay()
        second = _pay(capture=False)
    assert first.status == PaymentStatus.CAPTURED
    assert second.status == PaymentStatus.AUTHORIZED
    assert callbacks == []
    assert [r.message for r in caplog.records] == [
        "sandbox webhooks off: account has no webhook secret"
    ]
    assert caplog.records[0].account == account.slug


@pytest.mark.django_db
def test_no_base_url_means_no_deliveries(settings, django_capture_on_commit_callbacks):
    settings.SANDBOX_WEBHOOK_BASE_URL = ""
    adapter = registry.get_adapter(ProviderAccountFactory(kind="inventory"))
    with django_capture_on_commit_callbacks() as callbacks:
        assert adapter.deliver_webhook("stock.changed", {"sku": "A"}) is None
    assert callbacks == []
