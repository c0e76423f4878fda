"""Decline answers shared by the payment decline tests, built from the
gateways' fixtures: Stripe card errors and failed-intent webhooks, PayPal
declined captures, Braintree processor declines and settlement
notifications; and the Stripe payment a late decline lands on."""

import base64
import json
import uuid
from datetime import UTC, datetime
from urllib.parse import urlencode

import pytest
from braintree.util.crypto import Crypto

from integrations.errors import Rejected
from integrations.models import ProviderAccount, WebhookEvent
from integrations.secrets_registry import forget
from payments.models import Payment, PaymentStatus
from payments.providers.base import CaptureRequest, PaymentEvent
from payments.providers.paypal import PayPalAdapter
from payments.providers.stripe import StripeAdapter
from payments.webhooks import payment_webhook_handle
from tests.factories import ProviderAccountFactory
from tests.payments.providers import test_braintree as bt
from tests.payments.providers import test_paypal as pp
from tests.payments.providers import test_stripe as st


@pytest.fixture(autouse=True)
def fresh_secrets(settings):
    """The secrets registry read afresh around each test (import it into a
    module whose tests plant secrets)."""
    settings.SECRET_REDACTION_CHECK_SECONDS = 0
    forget()
    yield
    forget()


# --- Stripe ------------------------------------------------------------------


def card_error(decline_code: str = "generic_decline", **fields) -> dict:
    """A Stripe ``card_error`` object (``fields`` add to or replace it)."""
    return {
        "type": "card_error",
        "code": "card_declined",
        "decline_code": decline_code,
        "message": "Your card was declined.",
        **fields,
    }


STOPPED = card_error("stop_payment_order")


def stripe_test_account() -> ProviderAccount:
    return ProviderAccountFactory(
        provider="stripe",
        mode="test",
        settings=dict(st.FAST),
        credentials={"secret_key": st.SECRET_KEY, "webhook_secret": st.WEBHOOK_SECRET},
    )


def stripe_adapter() -> StripeAdapter:
    return StripeAdapter(stripe_test_account())


def intent_payment(account, status=PaymentStatus.PENDING, **fields) -> Payment:
    """A Stripe payment on the fixture's intent (a fresh idempotency key)."""
    values = {
        "order_id": "order-1",
        "amount": 2000,
        "currency": "EUR",
        "account": account,
        "provider_reference": st.intent()["id"],
        "idempotency_key": f"key-{uuid.uuid4().hex}",
        "status": status,
        **fields,
    }
    return Payment.objects.create(**values)


def stripe_failed_webhook(account, error: dict, event_id: str | None = None) -> None:
    """A stored ``payment_intent.payment_failed`` carrying ``error``, handled
    (the fixture's event id unless told)."""
    obj = st.intent(status="requires_payment_method", last_payment_error=error)
    named = (event_id,) if event_id else ()
    payload = json.loads(st.event("payment_intent.payment_failed", obj, *named))
    stored_webhook(account, payload["type"], payload["id"], payload)


def stored_webhook(account, event_type: str, dedupe_key: str, payload: dict) -> None:
    event = WebhookEvent.objects.create(
        account=account,
        event_type=event_type,
        dedupe_key=dedupe_key,
        payload=payload,
        raw_body=json.dumps(payload).encode(),
        headers={},
    )
    payment_webhook_handle(event)


# --- PayPal ------------------------------------------------------------------


def paypal_adapter() -> PayPalAdapter:
    return PayPalAdapter(
        ProviderAccountFactory(
            provider="paypal",
            slug="paypal-main",
            settings=dict(pp.FAST),
            credentials={"client_id": pp.CLIENT_ID, "client_secret": pp.SECRET},
        )
    )


def paypal_capture_refusal(paypal, advice: str) -> Rejected:
    """The error of a capture PayPal declines with response code 0500 and
    ``advice`` as its payment_advice_code."""
    declined = pp.load("authorization_capture_declined.json")
    declined["processor_response"]["response_code"] = "0500"
    declined["processor_response"]["payment_advice_code"] = advice
    with pp.responses.RequestsMock(assert_all_requests_are_fired=False) as paypal_api:
        paypal_api.post(pp.TOKEN_URL, json=pp.load("oauth_token.json"))
        paypal_api.get(pp.ORDER_URL, json=pp.load("order_authorized.json"))
        paypal_api.post(
            f"{pp.BASE}/v2/payments/authorizations/{pp.AUTH}/capture",
            status=201,
            json=declined,
        )
        with pytest.raises(Rejected) as caught:
            paypal.capture(
                CaptureRequest(
                    provider_reference=pp.ORDER,
                    amount=650,
                    currency="USD",
                    idempotency_key="c",
                )
            )
    return caught.value


# --- Braintree ---------------------------------------------------------------

DO_NOT_HONOR = "<processor-response-code>2000</processor-response-code>"


def braintree_declined(
    processor_code: str = "2000",
    text: str = "",
    merchant_advice: str = "",
) -> str:
    """error_processor_declined.xml (2000 Do Not Honor) with another
    processor code, its text, or the network's merchant advice added."""
    xml = bt.load("error_processor_declined.xml")
    if merchant_advice:
        xml = xml.replace(
            DO_NOT_HONOR,
            DO_NOT_HONOR + f"<merchant-advice-code>{merchant_advice}"
            "</merchant-advice-code>"
            "<merchant-advice-code-text>(the network's)</merchant-advice-code-text>",
        )
    xml = xml.replace(
        "<processor-response-code>2000<",
        f"<processor-response-code>{processor_code}<",
    )
    return xml.replace("Do Not Honor", text) if text else xml


def declined_transaction(xml: str) -> str:
    """The declined transaction an error answer holds (after its params)."""
    start = xml.index("<transaction>", xml.index("</params>"))
    return xml[start : xml.rindex("</transaction>") + len("</transaction>")]


def braintree_looked_up(adapter, mocked, xml: str):
    """The look-up of the declined transaction the error answer ``xml``
    holds."""
    mocked.get(f"{bt.TRANSACTIONS}/{bt.TXN}", body=declined_transaction(xml), **bt.XML)
    return adapter.retrieve(provider_reference=bt.TXN)


def braintree_refusal(adapter, mocked, body: str) -> Rejected:
    """The error of a sale Braintree answers 422 with ``body``."""
    mocked.post(bt.TRANSACTIONS, status=422, body=body, **bt.XML)
    with pytest.raises(Rejected) as caught:
        adapter.authorize(bt.payment())
    return caught.value


def braintree_notification(kind: str, transaction_xml: str) -> bytes:
    xml = (
        "<notification>"
        f'<timestamp type="datetime">{datetime.now(UTC):%Y-%m-%dT%H:%M:%SZ}'
        f"</timestamp><kind>{kind}</kind><subject>{transaction_xml}</subject>"
        "</notification>"
    )
    payload = base64.encodebytes(xml.encode())
    signature = f"{bt.PUBLIC_KEY}|{Crypto.sha1_hmac_hash(bt.PRIVATE_KEY, payload)}"
    return urlencode({"bt_signature": signature, "bt_payload": payload}).encode()


def settlement_declined_event(adapter, settlement_code: str, advice: str = ""):
    """The event of a signed ``transaction_settlement_declined`` whose
    authorization (1000, approved; ``advice`` its merchant advice) settled
    as ``settlement_code``, verified and parsed by ``adapter``."""
    merchant_advice = (
        f"<merchant-advice-code>{advice}</merchant-advice-code>" if advice else ""
    )
    body = braintree_notification(
        "transaction_settlement_declined",
        f"<transaction><id>{bt.TXN}</id><status>settlement_declined</status>"
        "<type>sale</type><currency-iso-code>USD</currency-iso-code>"
        "<amount>100.00</amount>"
        "<processor-response-code>1000</processor-response-code>"
        f"{merchant_advice}"
        f"<processor-settlement-response-code>{settlement_code}"
        "</processor-settlement-response-code></transaction>",
    )
    message = adapter.verify_webhook(
        body=body,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        url="https://shop.example/webhooks/braintree-main/",
    )
    event: PaymentEvent = adapter.parse_payment_event(message)
    return event
