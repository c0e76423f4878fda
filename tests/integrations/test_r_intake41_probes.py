"""r-intake41 (review of intake41): what storing a signed but unusable body
must not change. A verifier that cannot answer, or an account this deploy
cannot call, is a retry later (503), never a row stored dead with a 200; the
same body on two accounts is two rows; two concurrent deliveries of one body
are one row and no 500; a body over the limit stores nothing."""

import json
import threading
import time
from urllib.parse import urlencode

import braintree
import pytest
import requests
import responses
from django.db import connections
from django.test import Client

from integrations.models import WebhookEvent
from integrations.webhooks.verification import signed_headers
from tests.contract.sandbox import SECRET
from tests.factories import ProviderAccountFactory
from tests.integrations.intake41_helpers import UNUSABLE, post
from tests.integrations.intake_payments import (
    BT_PRIVATE,
    BT_PUBLIC,
    PAYPAL_BASE,
    paypal_post,
)
from tests.integrations.intake_payments import bt_form as _bt_form
from tests.integrations.intake_payments import paypal_account as _paypal_account
from tests.integrations.intake_payments import paypal_headers as _paypal_headers


def _sandbox_headers(body: bytes, webhook_id: str = "msg_1") -> dict[str, str]:
    raw = signed_headers(
        secret=SECRET, webhook_id=webhook_id, body=body, timestamp=int(time.time())
    )
    return {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in raw.items()}


def _bt_notification() -> bytes:
    signer = braintree.BraintreeGateway(
        braintree.Configuration(
            environment=braintree.Environment.Sandbox,
            merchant_id="switchyard",
            public_key=BT_PUBLIC,
            private_key=BT_PRIVATE,
        )
    )
    signed = signer.webhook_testing.sample_notification("transaction_settled", "t1")
    return urlencode(signed).encode()


@pytest.mark.django_db
@pytest.mark.parametrize("body", ["notification", "unreadable"])
def test_braintree_account_this_deploy_cannot_call_is_503_not_stored_dead(body):
    # merchant_id unset: the SDK gateway cannot be built. That is our
    # configuration, not the body: a retry once it is fixed can pass, so the
    # answer stays the 503 it was and nothing is stored.
    account = ProviderAccountFactory(
        provider="braintree",
        slug="braintree-main",
        credentials={"public_key": BT_PUBLIC, "private_key": BT_PRIVATE},
    )
    raw = _bt_notification() if body == "notification" else _bt_form(b"not xml")
    response = post(account, raw)
    assert response.status_code == 503, response.content
    assert not WebhookEvent.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "answer",
    [
        {"status": 500, "json": {"name": "INTERNAL_SERVICE_ERROR"}},
        {"body": requests.exceptions.ConnectTimeout("timed out")},
    ],
    ids=["error", "timeout"],
)
def test_paypal_event_without_id_whose_verification_fails_is_not_stored(answer):
    # The event without its id now reaches PayPal's verification call: when
    # that call fails, nothing proves the request genuine.
    account = _paypal_account()
    body = json.dumps({"event_type": "PAYMENT.CAPTURE.COMPLETED"}).encode()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        rsps.post(
            f"{PAYPAL_BASE}/v1/oauth2/token",
            json={"access_token": "A21", "token_type": "Bearer", "expires_in": 3600},
        )
        rsps.post(f"{PAYPAL_BASE}/v1/notifications/verify-webhook-signature", **answer)
        response = post(account, body, **_paypal_headers())
    assert response.status_code == 503, response.content
    assert not WebhookEvent.objects.exists()


@pytest.mark.django_db
def test_the_same_unusable_body_on_two_accounts_is_a_row_each():
    first = ProviderAccountFactory(slug="sbx-pay")
    second = ProviderAccountFactory(slug="sbx-pay-2")
    body = b"[1, 2, 3]"
    for account in (first, second):
        response = post(account, body, **_sandbox_headers(body))
        assert response.json()["duplicate"] is False
    rows = WebhookEvent.objects.filter(event_type=UNUSABLE)
    assert sorted(rows.values_list("account__slug", flat=True)) == [
        "sbx-pay",
        "sbx-pay-2",
    ]
    assert len({row.dedupe_key for row in rows}) == 1


@pytest.mark.django_db
def test_an_unusable_body_over_the_limit_stores_nothing(settings):
    account = ProviderAccountFactory(slug="sbx-pay")
    settings.WEBHOOK_MAX_BYTES = 64
    body = b"[" + b"1," * 40 + b"1]"
    response = post(account, body, **_sandbox_headers(body))
    assert response.status_code == 413
    assert not WebhookEvent.objects.exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_concurrent_deliveries_of_one_unusable_body_are_one_row():
    account = ProviderAccountFactory(slug="sbx-pay")
    body = b'{"no": "type"}'
    barrier = threading.Barrier(4)
    results: list[object] = []

    def deliver(index: int) -> None:
        try:
            barrier.wait()
            headers = _sandbox_headers(body, webhook_id=f"msg_{index}")
            response = Client().post(
                f"/webhooks/{account.slug}/",
                data=body,
                content_type="application/json",
                **headers,
            )
            results.append((response.status_code, response.json()["duplicate"]))
        except BaseException as exc:  # the assertion below shows it
            results.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=deliver, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert sorted(results) == [(200, False), (200, True), (200, True), (200, True)]
    assert WebhookEvent.objects.count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize(
    "body", [b"[1]", json.dumps({"type": "refund.updated", "data": {}}).encode()]
)
def test_a_header_with_a_nul_is_stored_never_a_500(body):
    # A signed body that is no event was a 400 before intake41; stored now,
    # a header jsonb cannot hold (NUL) must not make it a 500 (nor a usable one).
    account = ProviderAccountFactory(slug="sbx-pay")
    response = post(account, body, HTTP_X_ODD="a\x00b", **_sandbox_headers(body))
    assert response.status_code == 200, response.content
    assert WebhookEvent.objects.get().headers["x-odd"] == "a\ufffdb"


@pytest.mark.django_db
@pytest.mark.parametrize(
    "event",
    [
        {"event_type": "PAYMENT.CAPTURE.COMPLETED", "resource": {}},
        {"id": "WH-1", "event_type": "PAYMENT.CAPTURE.COMPLETED", "resource": {}},
    ],
    ids=["unusable", "usable"],
)
def test_paypal_transmission_signature_is_never_stored(event):
    # "Headers that carry ... signatures are never stored" (safe_headers):
    # PayPal's is PAYPAL-TRANSMISSION-SIG, a name without "signature".
    account = _paypal_account()
    body = json.dumps(event).encode()
    response = paypal_post(account, body, "SUCCESS")
    assert response.status_code == 200, response.content
    headers = WebhookEvent.objects.get().headers
    assert "paypal-transmission-sig" not in headers
    assert "paypal-transmission-id" in headers
