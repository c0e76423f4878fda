"""Payment accounts and signed webhook requests for the intake tests
(intake41, intake43, the hostile-input tests): one copy of each."""

import base64
from datetime import UTC, datetime
from urllib.parse import urlencode

import responses
from braintree.util.crypto import Crypto

from integrations.models import ProviderAccount
from tests.factories import ProviderAccountFactory
from tests.integrations.intake41_helpers import post

STRIPE_SECRET = "whsec_switchyard_test_signing_secret"
BT_PUBLIC, BT_PRIVATE = "bt-public-key", "bt-private-key"
PAYPAL_BASE = "https://api-m.sandbox.paypal.com"
PAYPAL_WEBHOOK_ID = "1JE4291016473214C"
PAYPAL_VERIFY_URL = f"{PAYPAL_BASE}/v1/notifications/verify-webhook-signature"


def stripe_account() -> ProviderAccount:
    return ProviderAccountFactory(
        provider="stripe",
        slug="stripe-main",
        credentials={"secret_key": "sk_test_x", "webhook_secret": STRIPE_SECRET},
    )


def braintree_account() -> ProviderAccount:
    return ProviderAccountFactory(
        provider="braintree",
        slug="braintree-main",
        credentials={
            "merchant_id": "switchyard",
            "public_key": BT_PUBLIC,
            "private_key": BT_PRIVATE,
        },
    )


def bt_form(payload: bytes, private: str = BT_PRIVATE) -> bytes:
    """A Braintree notification form body, signed as Braintree signs (the
    SDK's own HMAC-SHA1 helper)."""
    encoded = base64.encodebytes(payload).decode()
    digest = Crypto.sha1_hmac_hash(private, encoded)
    return urlencode(
        {"bt_signature": f"{BT_PUBLIC}|{digest}", "bt_payload": encoded}
    ).encode()


def paypal_account() -> ProviderAccount:
    return ProviderAccountFactory(
        provider="paypal",
        slug="paypal-main",
        settings={"webhook_id": PAYPAL_WEBHOOK_ID, "max_attempts": 1},
        credentials={"client_id": "client", "client_secret": "secret"},
    )


def paypal_headers() -> dict[str, str]:
    headers = {
        "PAYPAL-AUTH-ALGO": "SHA256withRSA",
        "PAYPAL-CERT-URL": "https://api.sandbox.paypal.com/v1/notifications/certs/C",
        "PAYPAL-TRANSMISSION-ID": "69cd13f0-d67a-11e5-baa3-778b53f4ae55",
        "PAYPAL-TRANSMISSION-SIG": "c2lnbmF0dXJl",
        "PAYPAL-TRANSMISSION-TIME": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    return {f"HTTP_{k.replace('-', '_')}": v for k, v in headers.items()}


def paypal_post(
    account: ProviderAccount, body: bytes, status: str, calls: list | None = None
):
    """POST ``body`` with PayPal's headers, its verification call answering
    ``status``; the bodies PayPal was asked to verify go to ``calls``."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        rsps.post(
            f"{PAYPAL_BASE}/v1/oauth2/token",
            json={"access_token": "A21", "token_type": "Bearer", "expires_in": 3600},
        )
        rsps.post(PAYPAL_VERIFY_URL, json={"verification_status": status})
        response = post(account, body, **paypal_headers())
        if calls is not None:
            calls.extend(
                c.request.body for c in rsps.calls if c.request.url == PAYPAL_VERIFY_URL
            )
    return response
