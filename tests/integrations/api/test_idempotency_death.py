"""A worker that dies inside an idempotent request (gunicorn's timeout
raises SystemExit anywhere; an OOM kill stops it dead) and the client's
retry with the same key and body after IDEMPOTENCY_IN_FLIGHT_TIMEOUT_SECONDS:
the request's effect happens once. Real commits (``transaction=True``): a
test transaction would hide which write committed with which."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone
from rest_framework.test import APIClient

from integrations import reruns
from integrations.api import idempotency
from integrations.batch import services as batch_services
from integrations.models import IdempotencyRecord
from inventory.models import Reservation, StockLevel
from notifications.api_examples import BULK_CREATE_REQUEST
from notifications.models import BulkRecipient, BulkSend
from payments.models import SandboxCharge
from payments.services import followups
from shipping import codec
from shipping.models import RateQuote, SandboxLabel, Shipment, ShipmentAttempt
from shipping.services import labels
from tests.factories import ApiKeyFactory, ProviderAccountFactory
from tests.inventory.factories import StockLevelFactory
from tests.shipping.contract import requests
from tests.shipping.helpers import carrier

pytestmark = pytest.mark.django_db(transaction=True)

RESERVATIONS = "/api/v1/inventory/reservations/"
BODY = {"order_id": "o-1", "lines": [{"sku": "A", "quantity": 2}]}


def _client(*scopes: str) -> APIClient:
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {ApiKeyFactory(scopes=scopes).raw_key}")
    return api


def _killed(*args, **kwargs):
    raise SystemExit(1)  # the worker's timeout


def _killed_before_the_response_is_stored(monkeypatch) -> None:
    monkeypatch.setattr(idempotency, "_complete", _killed)


def _minutes_later() -> None:
    # The client retries once the in-flight record counts as abandoned.
    timeout = settings.IDEMPOTENCY_IN_FLIGHT_TIMEOUT_SECONDS + 1
    IdempotencyRecord.objects.update(
        created_at=timezone.now() - timedelta(seconds=timeout)
    )


def test_a_worker_killed_before_storing_the_response_reserves_once(monkeypatch):
    StockLevelFactory(sku="A", on_hand=5)
    api = _client("inventory:read", "inventory:write")

    with monkeypatch.context() as m:
        _killed_before_the_response_is_stored(m)
        with pytest.raises(SystemExit):
            api.post(RESERVATIONS, BODY, format="json", HTTP_IDEMPOTENCY_KEY="o-1")
    # The reservation commits with its stored response or not at all.
    completed = IdempotencyRecord.objects.filter(state="completed").count()
    assert Reservation.objects.count() == completed

    _minutes_later()
    retry = api.post(RESERVATIONS, BODY, format="json", HTTP_IDEMPOTENCY_KEY="o-1")
    assert retry.status_code == 201, retry.content
    assert Reservation.objects.count() == 1, "one key, two reservations"
    assert StockLevel.objects.get(sku="A").reserved == 2
    again = api.post(RESERVATIONS, BODY, format="json", HTTP_IDEMPOTENCY_KEY="o-1")
    assert again["Idempotent-Replayed"] == "true"
    assert again.json()["id"] == retry.json()["id"]


def test_a_worker_killed_before_storing_the_response_creates_one_bulk_send(
    monkeypatch,
):
    monkeypatch.setattr(batch_services, "async_task", lambda *a, **kw: None)
    api = _client("email:send", "email:read")
    body = {
        **BULK_CREATE_REQUEST,
        "recipients": [{"email": "ada@example.com"}, {"email": "bob@example.com"}],
    }
    with monkeypatch.context() as m:
        _killed_before_the_response_is_stored(m)
        with pytest.raises(SystemExit):
            api.post(
                "/api/v1/notifications/bulk-sends/",
                body,
                format="json",
                HTTP_IDEMPOTENCY_KEY="news-1",
            )
    assert not BulkSend.objects.exists()

    _minutes_later()
    retry = api.post(
        "/api/v1/notifications/bulk-sends/",
        body,
        format="json",
        HTTP_IDEMPOTENCY_KEY="news-1",
    )
    assert retry.status_code == 201, retry.content
    assert BulkSend.objects.count() == 1
    assert BulkRecipient.objects.count() == 2


def _quote() -> RateQuote:
    return RateQuote.objects.create(
        fingerprint="f" * 64,
        account=carrier("post"),
        carrier="sandbox",
        service_code="SBX_GROUND",
        service_name="Ground",
        amount=840,
        currency="USD",
        request=codec.request_to_json(requests.rate_request()),
        expires_at=timezone.now() + timedelta(minutes=10),
    )


def _buy(api: APIClient, quote: RateQuote):
    body = {"quote_id": quote.public_id, "order_id": "o-1"}
    return api.post(
        "/api/v1/shipping/shipments/", body, format="json", HTTP_IDEMPOTENCY_KEY="buy-1"
    )


def test_a_label_buy_retried_after_a_death_answers_the_stored_label(monkeypatch):
    # The buy commits on its own (the carrier is called outside a
    # transaction); the retry runs it again and the shipment's own key
    # answers it: one label, one carrier call.
    quote = _quote()
    api = _client("shipping:read", "shipping:write")
    with monkeypatch.context() as m:
        _killed_before_the_response_is_stored(m)
        with pytest.raises(SystemExit):
            _buy(api, quote)
    bought = Shipment.objects.get()
    assert bought.status == "purchased"

    _minutes_later()
    retry = _buy(api, quote)
    assert retry.status_code == 201, retry.content
    assert retry.json()["id"] == bought.public_id
    assert retry.json()["tracking_number"] == bought.tracking_number
    assert SandboxLabel.objects.count() == 1
    assert ShipmentAttempt.objects.count() == 1


def test_a_buy_killed_during_the_carrier_call_is_never_bought_again(monkeypatch):
    quote = _quote()
    api = _client("shipping:read", "shipping:write")
    with monkeypatch.context() as m:
        # The carrier made the label; the worker dies before recording it.
        m.setattr(labels, "settle_under_lock", _killed)
        with pytest.raises(SystemExit):
            _buy(api, quote)

    _minutes_later()
    retry = _buy(api, quote)
    # Not done yet: reconciliation asks the carrier for the label it made.
    assert retry.status_code == 202, retry.content
    assert retry.json()["status"] == "purchasing"
    assert SandboxLabel.objects.count() == 1
    assert ShipmentAttempt.objects.count() == 1


# Handlers that commit on their own (the response after them): a second run
# after a death must find what the first did. Any other idempotent handler
# shares its commits with the response (@idempotent(share_commits=True)).
RERUN_FINDS_THE_FIRST = {
    "payments.api.PaymentCaptureView.post": "the capture attempt, then its mark",
    "payments.api.PaymentVoidView.post": "the void attempt, then its mark",
    "payments.api.PaymentRefundsView.post": "the refund's key",
    "payments.api.CustomerPaymentMethodsView.post": "the saved method's key",
    "shipping.api.ShipmentsView.post": "the shipment's key",
    "shipping.api.ShipmentVoidView.post": "the void claim, then its mark",
    "shipping.api.PickupsView.post": "the pickup's key",
    "shipping.api.PickupCancelView.post": "a cancelled pickup is answered",
    "notifications.api.EmailsView.post": "the message's key",
    "notifications.api_bulk.BulkSendCancelView.post": "a cancelled send",
}


def _idempotent_handlers() -> dict[str, bool]:
    found = {}
    pending: list = list(get_resolver().url_patterns)
    while pending:
        pattern = pending.pop()
        if isinstance(pattern, URLResolver):
            pending.extend(pattern.url_patterns)
            continue
        assert isinstance(pattern, URLPattern)
        view = getattr(pattern.callback, "cls", None)
        for method in ("post", "put", "patch", "delete"):
            handler = getattr(view, method, None)
            if hasattr(handler, "idempotent_shares_commits"):
                name = f"{view.__module__}.{view.__qualname__}.{method}"
                found[name] = handler.idempotent_shares_commits
    return found


def test_every_idempotent_handler_survives_a_death_by_design():
    handlers = _idempotent_handlers()
    assert len(handlers) >= 15
    own_commits = {name for name, shared in handlers.items() if not shared}
    assert own_commits == set(RERUN_FINDS_THE_FIRST)


PAYMENTS = "/api/v1/payments/"


def _authorized_payment(api: APIClient) -> str:
    body = {
        "order_id": "o-1",
        "amount": 1000,
        "currency": "EUR",
        "source_token": "tok_success",
        "capture": False,
    }
    created = api.post(PAYMENTS, body, format="json", HTTP_IDEMPOTENCY_KEY="pay-1")
    assert created.json()["status"] == "authorized", created.content
    return created.json()["id"]


@pytest.mark.parametrize(
    ("operation", "body", "status"),
    [("capture", {"amount": 600}, "captured"), ("void", {}, "voided")],
)
def test_a_capture_or_void_retried_after_a_death_answers_the_done_payment(
    monkeypatch, operation, body, status
):
    ProviderAccountFactory(slug="sbx-primary", priority=1)
    api = _client("payments:read", "payments:write")
    url = f"{PAYMENTS}{_authorized_payment(api)}/{operation}/"
    with monkeypatch.context() as m:
        # The gateway did it and the payment recorded it; the worker dies
        # before the response is stored.
        _killed_before_the_response_is_stored(m)
        with pytest.raises(SystemExit):
            api.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY="op-1")

    _minutes_later()
    retry = api.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY="op-1")
    assert retry.status_code == 200, retry.content
    assert retry.json()["status"] == status
    again = api.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY="op-1")
    assert (again.status_code, again["Idempotent-Replayed"]) == (200, "true")
    # A new request (another key) is still refused: it is done already.
    other = api.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY="op-2")
    assert other.status_code == 409


@pytest.mark.parametrize(
    ("operation", "body", "status"),
    [("capture", {"amount": 600}, "captured"), ("void", {}, "voided")],
)
def test_a_capture_or_void_killed_after_the_gateway_call_is_done_once(
    monkeypatch, operation, body, status
):
    ProviderAccountFactory(slug="sbx-primary", priority=1)
    api = _client("payments:read", "payments:write")
    url = f"{PAYMENTS}{_authorized_payment(api)}/{operation}/"
    with monkeypatch.context() as m:
        # The gateway did it; the worker dies before the payment records it.
        m.setattr(followups, "advance", _killed)
        with pytest.raises(SystemExit):
            api.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY="op-1")
    assert SandboxCharge.objects.get(kind="payment").status == status

    _minutes_later()
    retry = api.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY="op-1")
    assert retry.status_code == 200, retry.content
    assert retry.json()["status"] == status


def _captured_then_killed(api: APIClient, monkeypatch) -> str:
    url = f"{PAYMENTS}{_authorized_payment(api)}/capture/"
    with monkeypatch.context() as m:
        _killed_before_the_response_is_stored(m)
        with pytest.raises(SystemExit):
            api.post(url, {"amount": 600}, format="json", HTTP_IDEMPOTENCY_KEY="op-1")
    _minutes_later()
    return url


def test_two_retries_racing_for_the_dead_record_still_answer_as_the_first(
    monkeypatch,
):
    # The retry takes the dead record over in place (one conditional
    # UPDATE): no moment without a record in which a second retry could
    # insert its own and run as a first run, storing a 409 for the key.
    ProviderAccountFactory(slug="sbx-primary", priority=1)
    api = _client("payments:read", "payments:write")
    url = _captured_then_killed(api, monkeypatch)
    dead = IdempotencyRecord.objects.get(key="op-1")

    real = idempotency._new_record
    calls = {"n": 0}
    other = {}

    def racing(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:  # the first retry inserts again: a gap was open
            other["response"] = api.post(
                url, {"amount": 600}, format="json", HTTP_IDEMPOTENCY_KEY="op-1"
            )
        return real(*args, **kwargs)

    monkeypatch.setattr(idempotency, "_new_record", racing)
    first = api.post(url, {"amount": 600}, format="json", HTTP_IDEMPOTENCY_KEY="op-1")
    monkeypatch.setattr(idempotency, "_new_record", real)
    later = api.post(url, {"amount": 600}, format="json", HTTP_IDEMPOTENCY_KEY="op-1")

    # The capture was made by this key's first run: it answered 200.
    assert later.status_code == 200, later.json()
    assert first.status_code == 200, first.json()
    assert "response" not in other, other["response"].json()
    assert IdempotencyRecord.objects.get(key="op-1").pk == dead.pk


def test_a_retry_losing_the_race_for_the_dead_record_answers_from_the_winner(
    monkeypatch,
):
    ProviderAccountFactory(slug="sbx-primary", priority=1)
    api = _client("payments:read", "payments:write")
    url = _captured_then_killed(api, monkeypatch)

    real = idempotency._is_stale
    other = {}

    def racing(record):
        stale = real(record)
        if stale and not other:  # the other retry takes it over meanwhile
            other["started"] = True
            other["response"] = api.post(
                url, {"amount": 600}, format="json", HTTP_IDEMPOTENCY_KEY="op-1"
            )
        return stale

    monkeypatch.setattr(idempotency, "_is_stale", racing)
    loser = api.post(url, {"amount": 600}, format="json", HTTP_IDEMPOTENCY_KEY="op-1")

    assert other["response"].status_code == 200, other["response"].json()
    assert (loser.status_code, loser["Idempotent-Replayed"]) == (200, "true")
    assert SandboxCharge.objects.get(kind="payment").status == "captured"


@pytest.mark.django_db(transaction=True)
def test_a_slow_runs_intent_never_lands_on_the_record_a_retry_took_over():
    record = IdempotencyRecord.objects.create(
        owner="api-key:1",
        key="slow",
        method="POST",
        path="/x/",
        request_hash="h",
        state="in_flight",
    )
    slow_copy = IdempotencyRecord.objects.get(pk=record.pk)
    # The retry took the record over (a new created_at) while the slow first
    # run was still going; the slow run then notes its intent.
    IdempotencyRecord.objects.filter(pk=record.pk).update(
        created_at=timezone.now() + timedelta(seconds=1)
    )
    with reruns.rerunning(None, record=slow_copy):
        reruns.record_intent("payment.capture:pay_1:600")
    assert IdempotencyRecord.objects.get(pk=record.pk).done_mark == ""
