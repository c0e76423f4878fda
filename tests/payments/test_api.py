"""The storefront payments API over the sandbox."""

import uuid

import pytest

from integrations.errors import Unknown
from payments import tasks
from payments.models import Payment, SandboxCharge
from payments.providers.sandbox import SandboxPaymentsAdapter

pytestmark = pytest.mark.django_db

URL = "/api/v1/payments/"


def body(**overrides: object) -> dict:
    values: dict = {
        "order_id": "order-7",
        "amount": 1050,
        "currency": "EUR",
        "source_token": "tok_success",
    }
    values.update(overrides)
    return values


def post(api, url: str, data: dict | None = None, key: str | None = None):
    return api.post(url, data or {}, HTTP_IDEMPOTENCY_KEY=key or uuid.uuid4().hex)


def test_create_and_retrieve(api, primary):
    response = post(api, URL, body(metadata={"cart": "c-1"}))
    assert response.status_code == 201, response.json()
    data = response.json()
    assert data["id"].startswith("pay_")
    assert (data["status"], data["amount_captured"], data["currency"]) == (
        "captured",
        1050,
        "EUR",
    )
    assert data["card"] == {"brand": "visa", "last4": "4242", "wallet": ""}
    assert data["provider"] == "sandbox"
    got = api.get(f"{URL}{data['id']}/")
    assert got.status_code == 200
    assert got.json()["id"] == data["id"]


def test_same_idempotency_key_returns_the_same_payment(api, primary):
    first = post(api, URL, body(), key="abc")
    second = post(api, URL, body(), key="abc")
    assert second.status_code == 201
    assert second.json()["id"] == first.json()["id"]
    assert second["Idempotent-Replayed"] == "true"
    assert Payment.objects.count() == 1
    assert SandboxCharge.objects.filter(kind="payment").count() == 1


def test_idempotency_key_required(api, primary):
    response = api.post(URL, body())
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "idempotency_key_required"


def test_decline_is_402_with_the_payment(api, primary):
    response = post(api, URL, body(source_token="tok_decline"))
    assert response.status_code == 402
    data = response.json()
    assert data["error"]["code"] == "card_declined"
    assert data["payment"]["status"] == "failed"


def test_unknown_is_202(api, primary, secondary):
    response = post(api, URL, body(source_token="tok_timeout"))
    assert response.status_code == 202
    assert response.json()["status"] == "unknown"


def test_blocked_is_402_payment_blocked(api, primary):
    from payments.models import BlocklistEntry

    BlocklistEntry.objects.create(kind="ip", value="203.0.113.7")
    response = post(api, URL, body(ip_address="203.0.113.7"))
    assert response.status_code == 402
    assert response.json()["error"]["code"] == "payment_blocked"


def test_pan_is_400_and_not_stored(api, primary):
    response = post(api, URL, body(source_token="4242424242424242"))
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["code"], error["param"]) == ("pan_not_allowed", "source_token")
    assert "4242424242424242" not in response.content.decode()
    assert not Payment.objects.exists()


def test_bad_input_is_400(api, primary):
    response = post(api, URL, body(currency="EURO"))
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "currency"
    response = post(api, URL, body(amount=10.5))
    assert response.status_code == 400


def test_capture_void_and_refunds(api, primary):
    created = post(api, URL, body(capture=False, amount=1000)).json()
    assert created["status"] == "authorized"
    captured = post(api, f"{URL}{created['id']}/capture/", {"amount": 600})
    assert captured.status_code == 200
    assert captured.json()["amount_captured"] == 600
    refund = post(api, f"{URL}{created['id']}/refunds/", {"amount": 200})
    assert refund.status_code == 201
    assert refund.json()["status"] == "succeeded"
    too_much = post(api, f"{URL}{created['id']}/refunds/", {"amount": 401})
    assert too_much.status_code == 400
    assert too_much.json()["error"]["code"] == "amount_exceeds_refundable"
    other = post(api, URL, body(capture=False)).json()
    voided = post(api, f"{URL}{other['id']}/void/")
    assert voided.json()["status"] == "voided"
    again = post(api, f"{URL}{other['id']}/void/")
    assert again.status_code == 409


def test_scopes(api, primary, db):
    from rest_framework.test import APIClient

    from tests.factories import ApiKeyFactory

    key = ApiKeyFactory(scopes=["payments:read"])
    reader = APIClient()
    reader.credentials(HTTP_AUTHORIZATION=f"Bearer {key.raw_key}")
    assert post(reader, URL, body()).status_code == 403


def test_payment_methods(api, primary):
    url = "/api/v1/customers/cust-9/payment-methods/"
    saved = post(api, url, {"source_token": "tok_mastercard"})
    assert saved.status_code == 201
    assert saved.json()["card_last4"] == "4444"
    listed = api.get(url).json()
    assert [m["id"] for m in listed["results"]] == [saved.json()["id"]]
    assert (listed["next"], listed["previous"]) == (None, None)


def test_unknown_payment_is_404(api, primary):
    assert api.get(f"{URL}pay_nope/").status_code == 404


def _answer_lost(monkeypatch, operation: str, *, performed: bool) -> None:
    """The gateway's answer to ``operation`` is lost (a read timeout), after
    it acted (``performed``) or before."""
    real = getattr(SandboxPaymentsAdapter, operation)

    def lost(self, *args, **kwargs):
        if performed:
            real(self, *args, **kwargs)
        raise Unknown("sandbox read timed out (test)", code="read_timeout")

    monkeypatch.setattr(SandboxPaymentsAdapter, operation, lost)


def _left_unknown(api, monkeypatch, *, landed: bool) -> str:
    """An authorized payment whose capture (another key's) ended unknown."""
    pid = post(api, URL, body(capture=False, amount=1000)).json()["id"]
    with monkeypatch.context() as m:
        _answer_lost(m, "capture", performed=landed)
        lost = post(api, f"{URL}{pid}/capture/", key="lost")
    assert (lost.status_code, lost.json()["status"]) == (202, "unknown")
    return pid


@pytest.mark.parametrize(
    ("operation", "data", "status"),
    [("capture", {"amount": 600}, "captured"), ("void", {}, "voided")],
)
def test_a_key_refused_while_the_payment_is_unknown_is_answered_once_settled(
    api, primary, monkeypatch, operation, data, status
):
    # Reconciliation settles an unknown payment: the 409 is true only now,
    # not the key's answer; the retry after it gets the settled answer.
    pid = _left_unknown(api, monkeypatch, landed=False)
    url = f"{URL}{pid}/{operation}/"
    early = post(api, url, data, key="k-1")
    assert early.status_code == 409
    assert tasks.reconcile_payment(Payment.objects.get(public_id=pid).pk) == (
        "authorized"
    )
    retry = post(api, url, data, key="k-1")
    assert retry.status_code == 200, retry.json()
    assert retry.json()["status"] == status
    assert not retry.has_header("Idempotent-Replayed")
    assert early.json()["error"]["code"] == "reconciliation_in_progress"
    assert SandboxCharge.objects.get(kind="payment").status == status


def test_a_key_refused_while_unknown_gets_the_final_409_once_settled_otherwise(
    api, primary, monkeypatch
):
    # The lost capture had landed: a void is refused for good, and stored.
    pid = _left_unknown(api, monkeypatch, landed=True)
    url = f"{URL}{pid}/void/"
    assert post(api, url, key="k-1").json()["error"]["code"] == (
        "reconciliation_in_progress"
    )
    assert tasks.reconcile_payment(Payment.objects.get(public_id=pid).pk) == (
        "captured"
    )
    retry = post(api, url, key="k-1")
    assert (retry.status_code, retry.json()["error"]["code"]) == (409, "invalid_state")
    again = post(api, url, key="k-1")
    assert (again.status_code, again["Idempotent-Replayed"]) == (409, "true")


def test_a_capture_of_a_payment_left_to_staff_says_so_and_is_not_the_keys_answer(
    api, primary, monkeypatch
):
    # Reconciliation could not settle it by itself: the 409 says staff are on
    # it (not "being reconciled" for ever), and is still not stored.
    from payments.models import ReviewState

    pid = _left_unknown(api, monkeypatch, landed=False)
    Payment.objects.filter(public_id=pid).update(
        failure_code="reconcile_manually",
        review_state=ReviewState.PENDING,
        review_reason="unresolved",
    )
    url = f"{URL}{pid}/capture/"
    early = post(api, url, key="k-1")
    assert (early.status_code, early.json()["error"]["code"]) == (
        409,
        "staff_review_in_progress",
    )
    assert "staff" in early.json()["error"]["message"]
    assert tasks.reconcile_payment(Payment.objects.get(public_id=pid).pk) == (
        "authorized"
    )
    retry = post(api, url, key="k-1")
    assert (retry.status_code, retry.json()["status"]) == (200, "captured")


def test_a_capture_of_a_payment_staff_acknowledged_unsettled_is_a_final_409(
    api, primary, monkeypatch
):
    # Reconciliation could not settle it; staff checked it at the gateway and
    # acknowledged it (they settle it there). "Staff are checking it, retry"
    # would be untrue for ever: the storefront gets a final, stored answer.
    from payments.models import ReviewState

    pid = _left_unknown(api, monkeypatch, landed=False)
    Payment.objects.filter(public_id=pid).update(
        failure_code="reconcile_manually",
        review_state=ReviewState.APPROVED,
        review_reason="unresolved",
    )
    url = f"{URL}{pid}/capture/"
    refused = post(api, url, key="k-1")
    assert (refused.status_code, refused.json()["error"]["code"]) == (
        409,
        "outcome_unknown",
    )
    assert "staff" in refused.json()["error"]["message"]
    again = post(api, url, key="k-1")
    assert (again.status_code, again["Idempotent-Replayed"]) == (409, "true")
    assert SandboxCharge.objects.get(kind="payment").status == "authorized"


@pytest.mark.parametrize(
    ("status", "operation"),
    [("requires_action", "capture"), ("pending", "capture"), ("pending", "void")],
)
def test_a_follow_up_before_the_authorization_is_not_the_keys_answer(
    api, primary, status, operation
):
    # Requires action (the customer's 3-D Secure) or pending (the create's
    # answer awaited): true only until it is authorized, so not stored.
    created = post(api, URL, body(source_token="tok_3ds_required", capture=False))
    pid = created.json()["id"]
    Payment.objects.filter(public_id=pid).update(status=status)
    url = f"{URL}{pid}/{operation}/"
    early = post(api, url, key="k-1")
    assert (early.status_code, early.json()["error"]["code"]) == (
        409,
        "authorization_in_progress",
    )
    assert status in early.json()["error"]["message"]
    SandboxCharge.objects.filter(kind="payment").update(
        status="authorized", amount_authorized=1050
    )
    payment = Payment.objects.get(public_id=pid)
    Payment.objects.filter(pk=payment.pk).update(status="requires_action")
    assert tasks.reconcile_payment(payment.pk) == "authorized"
    retry = post(api, url, key="k-1")
    assert retry.status_code == 200, retry.json()


def test_the_schema_declares_the_capture_409_of_a_fraud_hold(api):
    schema = api.get("/api/schema/", {"format": "json"}).json()
    capture = schema["paths"]["/api/v1/payments/{public_id}/capture/"]["post"]
    void = schema["paths"]["/api/v1/payments/{public_id}/void/"]["post"]
    assert "fraud_review_in_progress" in capture["responses"]["409"]["description"]
    assert "fraud_review_in_progress" not in void["responses"]["409"]["description"]
