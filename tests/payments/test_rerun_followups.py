"""Capture and void retried after the worker died (integrations.reruns): the
retry answers 200 only for what the dead request itself did, as its first
run would have; anything another request did meanwhile is a 409 as for a
fresh request. Real commits (``transaction=True``): what committed with
what is the point."""

import uuid
from datetime import timedelta

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from rest_framework.response import Response
from rest_framework.test import APIClient

from integrations.api import idempotency
from integrations.errors import Unknown
from integrations.models import IdempotencyRecord
from integrations.providers.sandbox_webhooks import webhook_body, webhook_headers
from payments import api as payments_api
from payments import tasks
from payments.models import Payment, PaymentAttempt, SandboxCharge
from payments.providers.sandbox import SandboxPaymentsAdapter
from payments.services import followups
from tests.factories import ApiKeyFactory, ProviderAccountFactory

pytestmark = pytest.mark.django_db(transaction=True)

PAYMENTS = "/api/v1/payments/"


SECRET = "whsec_dGVzdHNlY3JldA=="  # ProviderAccountFactory's default


@pytest.fixture
def account():
    return ProviderAccountFactory(slug="sbx-primary", priority=1)


@pytest.fixture
def api(account) -> APIClient:
    client = APIClient()
    key = ApiKeyFactory(scopes=("payments:read", "payments:write")).raw_key
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client


def _authorized_payment(api: APIClient, n: int = 1) -> str:
    body = {
        "order_id": f"o-{n}",
        "amount": 1000,
        "currency": "EUR",
        "source_token": "tok_success",
        "capture": False,
    }
    created = api.post(PAYMENTS, body, format="json", HTTP_IDEMPOTENCY_KEY=f"pay-{n}")
    assert created.json()["status"] == "authorized", created.content
    return created.json()["id"]


def _killed(*args, **kwargs):
    raise SystemExit(1)  # gunicorn's worker timeout


def _minutes_later() -> None:
    timeout = settings.IDEMPOTENCY_IN_FLIGHT_TIMEOUT_SECONDS + 1
    IdempotencyRecord.objects.filter(state="in_flight").update(
        created_at=timezone.now() - timedelta(seconds=timeout)
    )


@pytest.mark.parametrize(
    ("operation", "dead_body", "other_body"),
    [
        # The dead request asked for the full amount; another key captured 400.
        ("capture", {}, {"amount": 400}),
        # Same amount, but captured by another key, not by the dead request.
        ("capture", {"amount": 600}, {"amount": 600}),
        ("void", {}, {}),
    ],
    ids=["full-vs-partial-by-other-key", "same-amount-other-key", "void-other-key"],
)
def test_a_retry_is_not_credited_with_another_keys_capture_or_void(
    api, monkeypatch, operation, dead_body, other_body
):
    url = f"{PAYMENTS}{_authorized_payment(api)}/{operation}/"
    with monkeypatch.context() as m:
        # Killed dead right after the in-flight record committed, before the
        # handler did anything.
        m.setattr(idempotency, "_run", lambda *a, **k: Response({}, status=503))
        api.post(url, dead_body, format="json", HTTP_IDEMPOTENCY_KEY="op-1")
    assert IdempotencyRecord.objects.filter(key="op-1", state="in_flight").exists()

    other = api.post(url, other_body, format="json", HTTP_IDEMPOTENCY_KEY="op-2")
    assert other.status_code == 200, other.content

    _minutes_later()
    retry = api.post(url, dead_body, format="json", HTTP_IDEMPOTENCY_KEY="op-1")
    # The dead request did nothing: a 409 as for a fresh request.
    assert retry.status_code == 409, (retry.status_code, retry.json())


def test_a_capture_retried_after_a_partial_refund_answers_what_the_first_did(
    api, monkeypatch
):
    pid = _authorized_payment(api)
    url = f"{PAYMENTS}{pid}/capture/"
    with monkeypatch.context() as m:
        # Captured and recorded; the worker dies before storing the response.
        m.setattr(idempotency, "_complete", _killed)
        with pytest.raises(SystemExit):
            api.post(url, {"amount": 600}, format="json", HTTP_IDEMPOTENCY_KEY="op-1")
    assert Payment.objects.get(public_id=pid).status == "captured"
    refund = api.post(
        f"{PAYMENTS}{pid}/refunds/",
        {"amount": 100},
        format="json",
        HTTP_IDEMPOTENCY_KEY="ref-1",
    )
    assert refund.status_code in (200, 201), refund.content

    _minutes_later()
    retry = api.post(url, {"amount": 600}, format="json", HTTP_IDEMPOTENCY_KEY="op-1")
    assert retry.status_code == 200, (retry.status_code, retry.json())
    assert retry.json()["status"] == "partially_refunded"
    assert retry.json()["amount_captured"] == 600


@pytest.mark.parametrize(
    ("operation", "body", "status"),
    [("capture", {"amount": 600}, "captured"), ("void", {}, "voided")],
)
def test_a_timeout_after_the_operation_inside_the_handler_is_answered_on_retry(
    api, monkeypatch, operation, body, status
):
    # The timeout strikes after the service captured (voided) and recorded
    # it, while the handler renders the payment: the record is kept,
    # abandoned, and the retry (at once, no in-flight timeout to wait out)
    # re-runs the request.
    pid = _authorized_payment(api)
    url = f"{PAYMENTS}{pid}/{operation}/"
    with monkeypatch.context() as m:
        m.setattr(payments_api, "_payment_response", _killed)
        with pytest.raises(SystemExit):
            api.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY="op-1")
    assert Payment.objects.get(public_id=pid).status == status
    assert IdempotencyRecord.objects.get(key="op-1").state == "abandoned"

    retry = api.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY="op-1")
    assert retry.status_code == 200, (retry.status_code, retry.json())
    assert retry.json()["status"] == status
    assert SandboxCharge.objects.get(kind="payment").status == status
    again = api.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY="op-1")
    assert (again.status_code, again["Idempotent-Replayed"]) == (200, "true")


def test_another_body_under_an_abandoned_key_is_not_credited(api, monkeypatch):
    # Same key, another request: it takes the abandoned record over but is
    # no re-run of it, and what the dead request did is not its own.
    pid = _authorized_payment(api)
    url = f"{PAYMENTS}{pid}/capture/"
    with monkeypatch.context() as m:
        m.setattr(payments_api, "_payment_response", _killed)
        with pytest.raises(SystemExit):
            api.post(url, {}, format="json", HTTP_IDEMPOTENCY_KEY="op-1")

    other = api.post(url, {"amount": 1000}, format="json", HTTP_IDEMPOTENCY_KEY="op-1")
    assert other.status_code == 409, (other.status_code, other.json())


def _gateway_webhook(account, event_type: str, charge: SandboxCharge, amount: int):
    """The sandbox gateway's own signed webhook about what it did, posted to
    the intake URL (SANDBOX_WEBHOOK_DELAY_SECONDS after the call in prod)."""
    body = webhook_body(
        event_type,
        {"reference": charge.reference, "amount": amount, "currency": "EUR"},
    )
    headers = webhook_headers(
        secret=SECRET, webhook_id=f"msg_{uuid.uuid4().hex}", body=body
    )
    meta = {
        f"HTTP_{k.upper().replace('-', '_')}": v
        for k, v in headers.items()
        if k.lower() != "content-type"
    }
    url = reverse("webhooks:receive", kwargs={"account_slug": account.slug})
    response = Client().post(url, body, content_type="application/json", **meta)
    assert response.status_code in (200, 202), response.content


@pytest.mark.parametrize(
    ("operation", "body", "event", "status"),
    [
        ("capture", {"amount": 600}, "payment.captured", "captured"),
        ("void", {}, "payment.voided", "voided"),
    ],
)
def test_a_retry_after_the_gateways_webhook_recorded_its_work_answers_200(
    api, account, monkeypatch, operation, body, event, status
):
    pid = _authorized_payment(api)
    url = f"{PAYMENTS}{pid}/{operation}/"
    with monkeypatch.context() as m:
        # The gateway did it; the worker dies before the payment records it.
        m.setattr(followups, "advance", _killed)
        with pytest.raises(SystemExit):
            api.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY="op-1")
    charge = SandboxCharge.objects.get(kind="payment")
    assert charge.status == status
    # The gateway's webhook lands (seconds later) before the client's retry.
    _gateway_webhook(account, event, charge, body.get("amount", 1000))
    assert Payment.objects.get(public_id=pid).status == status

    retry = api.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY="op-1")
    # This request did it: answered as its first run would have been.
    assert retry.status_code == 200, (retry.status_code, retry.json())
    assert retry.json()["status"] == status


def test_another_key_is_refused_while_a_dead_requests_capture_is_unfinished(
    api, monkeypatch
):
    pid = _authorized_payment(api)
    url = f"{PAYMENTS}{pid}/capture/"
    with monkeypatch.context() as m:
        m.setattr(followups, "advance", _killed)
        with pytest.raises(SystemExit):
            api.post(url, {"amount": 600}, format="json", HTTP_IDEMPOTENCY_KEY="op-1")
    assert SandboxCharge.objects.get(kind="payment").status == "captured"

    # A fresh request (another key) for the same capture, before op-1's retry:
    # it would ride on op-1's gateway key and be answered with op-1's call.
    other = api.post(url, {"amount": 600}, format="json", HTTP_IDEMPOTENCY_KEY="op-2")
    assert (other.status_code, other.json()["error"]["code"]) == (
        409,
        "capture_in_progress",
    )
    # "In progress" is no final answer: the key is free again.
    assert not IdempotencyRecord.objects.filter(key="op-2").exists()

    retry = api.post(url, {"amount": 600}, format="json", HTTP_IDEMPOTENCY_KEY="op-1")
    assert retry.status_code == 200, (retry.status_code, retry.json())
    assert retry.json()["amount_captured"] == 600
    again = api.post(url, {"amount": 600}, format="json", HTTP_IDEMPOTENCY_KEY="op-2")
    assert again.status_code == 409, again.json()
    assert again.json()["error"]["code"] == "invalid_state"


@pytest.mark.parametrize(
    ("operation", "body", "status"),
    [("capture", {"amount": 600}, "captured"), ("void", {}, "voided")],
)
def test_an_error_after_the_operation_keeps_the_record_for_the_retry(
    api, monkeypatch, operation, body, status
):
    # As the timeout test above, but an ordinary Exception (answered 500):
    # the record carries the request's intent, so it is kept (abandoned),
    # not deleted, and the retry is answered as the first run.
    pid = _authorized_payment(api)
    url = f"{PAYMENTS}{pid}/{operation}/"

    def broken(*args, **kwargs):
        raise RuntimeError("connection lost while rendering")

    with monkeypatch.context() as m:
        m.setattr(payments_api, "_payment_response", broken)
        with pytest.raises(RuntimeError):
            api.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY="op-1")
    assert Payment.objects.get(public_id=pid).status == status
    assert IdempotencyRecord.objects.get(key="op-1").state == "abandoned"

    retry = api.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY="op-1")
    assert retry.status_code == 200, (retry.status_code, retry.json())
    assert retry.json()["status"] == status


def _outcome_lost(monkeypatch, operation: str, *, performed: bool) -> list[str]:
    """The gateway's answer to ``operation`` is lost (a read timeout): after
    it acted (``performed``) or before. Returns the calls that reach it."""
    real = getattr(SandboxPaymentsAdapter, operation)
    calls: list[str] = []

    def lost(self, *args, **kwargs):
        calls.append(operation)
        if performed:
            real(self, *args, **kwargs)
        raise Unknown("sandbox read timed out (test)", code="read_timeout")

    monkeypatch.setattr(SandboxPaymentsAdapter, operation, lost)
    return calls


def _counted(monkeypatch, operation: str) -> list[str]:
    real = getattr(SandboxPaymentsAdapter, operation)
    calls: list[str] = []

    def counted(self, *args, **kwargs):
        calls.append(operation)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(SandboxPaymentsAdapter, operation, counted)
    return calls


def _unknown_then_killed(api, monkeypatch, operation, body, *, performed=True):
    """The first run's gateway outcome is unknown (the payment is left
    ``unknown``); its worker dies while answering the 202."""
    pid = _authorized_payment(api)
    url = f"{PAYMENTS}{pid}/{operation}/"
    with monkeypatch.context() as m:
        _outcome_lost(m, operation, performed=performed)
        m.setattr(payments_api, "_payment_response", _killed)
        with pytest.raises(SystemExit):
            api.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY="op-1")
    assert Payment.objects.get(public_id=pid).status == "unknown"
    return pid, url


@pytest.mark.parametrize(
    ("operation", "body", "status"),
    [("capture", {"amount": 600}, "captured"), ("void", {}, "voided")],
)
def test_a_retry_of_a_capture_or_void_left_unknown_is_accepted_not_refused(
    api, monkeypatch, operation, body, status
):
    pid, url = _unknown_then_killed(api, monkeypatch, operation, body)
    with monkeypatch.context() as m:
        calls = _counted(m, operation)
        retry = api.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY="op-1")
    # What the first run answered: accepted, outcome pending (not a 409
    # stored as the key's answer), and no second call while it is unknown.
    assert retry.status_code == 202, (retry.status_code, retry.json())
    assert retry.json()["status"] == "unknown"
    assert calls == []

    assert tasks.reconcile_payment(Payment.objects.get(public_id=pid).pk) == status
    again = api.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY="op-1")
    assert (again.status_code, again["Idempotent-Replayed"]) == (202, "true")


@pytest.mark.parametrize(
    ("operation", "body", "status"),
    [("capture", {"amount": 600}, "captured"), ("void", {}, "voided")],
)
def test_a_retry_after_reconciliation_settled_its_unknown_outcome_answers_200(
    api, monkeypatch, operation, body, status
):
    pid, url = _unknown_then_killed(api, monkeypatch, operation, body)
    assert tasks.reconcile_payment(Payment.objects.get(public_id=pid).pk) == status
    with monkeypatch.context() as m:
        calls = _counted(m, operation)
        retry = api.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY="op-1")
    assert retry.status_code == 200, (retry.status_code, retry.json())
    assert retry.json()["status"] == status
    assert calls == []


def test_a_retry_after_reconciliation_found_its_capture_undone_is_refused_if_voided(
    api, monkeypatch
):
    # The capture never reached the gateway; reconciliation finds the payment
    # still authorized and another key voids it: the retry is refused as a
    # fresh request would be, without a call.
    pid, url = _unknown_then_killed(
        api, monkeypatch, "capture", {"amount": 600}, performed=False
    )
    assert tasks.reconcile_payment(Payment.objects.get(public_id=pid).pk) == (
        "authorized"
    )
    void = api.post(f"{PAYMENTS}{pid}/void/", {}, HTTP_IDEMPOTENCY_KEY="v-1")
    assert void.status_code == 200, void.json()
    with monkeypatch.context() as m:
        calls = _counted(m, "capture")
        retry = api.post(url, {"amount": 600}, HTTP_IDEMPOTENCY_KEY="op-1")
    assert (retry.status_code, retry.json()["error"]["code"]) == (409, "invalid_state")
    assert calls == []


def test_a_retry_after_reconciliation_found_its_capture_undone_sends_the_same_key(
    api, monkeypatch
):
    # Still authorized: the re-run sends the dead run's gateway key again,
    # which the gateway answers from its first call (here: none landed).
    pid, url = _unknown_then_killed(
        api, monkeypatch, "capture", {"amount": 600}, performed=False
    )
    assert tasks.reconcile_payment(Payment.objects.get(public_id=pid).pk) == (
        "authorized"
    )
    retry = api.post(url, {"amount": 600}, HTTP_IDEMPOTENCY_KEY="op-1")
    assert retry.status_code == 200, (retry.status_code, retry.json())
    assert retry.json()["amount_captured"] == 600
    keys = set(
        PaymentAttempt.objects.filter(operation="capture").values_list(
            "idempotency_key", flat=True
        )
    )
    assert len(keys) == 1
    assert SandboxCharge.objects.get(kind="payment").amount_captured == 600


@pytest.mark.parametrize(
    ("operation", "body", "status"),
    [("capture", {"amount": 600}, "captured"), ("void", {}, "voided")],
)
@pytest.mark.parametrize("settled", [False, True], ids=["unknown", "settled"])
def test_a_second_retry_after_the_first_retry_died_is_still_202(
    api, monkeypatch, operation, body, status, settled
):
    pid, url = _unknown_then_killed(api, monkeypatch, operation, body)
    # The first retry is answered 202, but its worker dies too (abandoned).
    with monkeypatch.context() as m:
        m.setattr(payments_api, "_payment_response", _killed)
        with pytest.raises(SystemExit):
            api.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY="op-1")
    assert IdempotencyRecord.objects.get(key="op-1").state == "abandoned"
    if settled:
        assert tasks.reconcile_payment(Payment.objects.get(public_id=pid).pk) == (
            status
        )

    with monkeypatch.context() as m:
        calls = _counted(m, operation)
        retry = api.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY="op-1")

    # Still its first run's own call, however many of its re-runs died: 202
    # while it is open, 200 once settled as asked; never a stored 409.
    expected = (200, status) if settled else (202, "unknown")
    assert (retry.status_code, retry.json().get("status")) == expected, retry.json()
    assert calls == []


@pytest.mark.parametrize(
    ("operation", "body", "status"),
    [("capture", {"amount": 600}, "captured"), ("void", {}, "voided")],
)
def test_a_retry_whose_dead_run_noted_the_previous_releases_intent_is_answered(
    api, monkeypatch, operation, body, status
):
    # Across a deploy: the dead run noted its intent without its attempt's
    # instant. Answered as that release did: 202 while unknown, then 200.
    pid, url = _unknown_then_killed(api, monkeypatch, operation, body)
    record = IdempotencyRecord.objects.get(key="op-1")
    head, _, at = record.done_mark.partition("@")
    assert head.startswith(f"payment.{operation}:{pid}") and at
    IdempotencyRecord.objects.filter(pk=record.pk).update(done_mark=head)

    unknown = api.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY="op-1")
    assert unknown.status_code == 202, unknown.json()

    # And one whose first run captured (voided) and recorded it.
    url2 = url.replace(pid, _authorized_payment(api, 2))
    with monkeypatch.context() as m:
        m.setattr(payments_api, "_payment_response", _killed)
        with pytest.raises(SystemExit):
            api.post(url2, body, format="json", HTTP_IDEMPOTENCY_KEY="op-2")
    record = IdempotencyRecord.objects.get(key="op-2")
    IdempotencyRecord.objects.filter(pk=record.pk).update(
        done_mark=record.done_mark.partition("@")[0]
    )
    done = api.post(url2, body, format="json", HTTP_IDEMPOTENCY_KEY="op-2")
    assert (done.status_code, done.json().get("status")) == (200, status)
