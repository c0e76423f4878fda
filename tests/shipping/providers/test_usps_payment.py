"""The USPS payment authorization token is kept like an OAuth token: asked
for once and shared by every adapter (process) for the account, refreshed
before it expires, replaced after USPS refuses it, and keyed by the payer.
Fixtures: tests/fixtures/usps/README.md (payment_authorization*.json)."""

import base64
import json
import time

import pytest
import responses

from integrations.errors import NotProcessed
from integrations.models import ProviderCall
from shipping.providers.base import VoidRequest
from shipping.providers.usps import USPSAdapter
from shipping.providers.usps_payment import PaymentTokenCache
from tests.shipping.contract import requests as shared
from tests.shipping.providers.test_usps import (
    LABEL_URL,
    MULTIPART,
    PAY_URL,
    TOKEN_URL,
    account,  # noqa: F401
    fx,
)
from tests.shipping.providers.wire import FIXTURES, body_of, sent

pytestmark = pytest.mark.django_db

LABEL = (FIXTURES / "usps" / "label_response.multipart").read_bytes()
NUMBER = "9205590109769900012613"


@pytest.fixture
def mocked():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        rsps.post(TOKEN_URL, json=fx("oauth_token.json"))
        rsps.post(LABEL_URL, body=LABEL, content_type=MULTIPART)
        rsps.delete(f"{LABEL_URL}/{NUMBER}", json=fx("void_response.json"))
        yield rsps


def _label(adapter: USPSAdapter):
    return adapter.create_label(
        shared.label_request(
            "PRIORITY_MAIL", carrier_rate_id="PRIORITY_MAIL|SP|MACHINABLE"
        )
    )


def _void(adapter: USPSAdapter):
    return adapter.void_label(
        VoidRequest(
            carrier_shipment_id=NUMBER, tracking_number=NUMBER, idempotency_key="v"
        )
    )


def _jwt(expires_in: int) -> str:
    def part(data: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    claims = {"sub": "1000115566", "exp": int(time.time()) + expires_in}
    return f"{part({'alg': 'RS256'})}.{part(claims)}.c2lnbmF0dXJl"


def _payment_headers(mocked) -> list[str]:
    calls = [
        *sent(mocked, "POST", LABEL_URL),
        *sent(mocked, "DELETE", f"{LABEL_URL}/{NUMBER}"),
    ]
    return [c.headers["X-Payment-Authorization-Token"] for c in calls]


def test_one_payment_authorization_for_many_labels_and_voids(account, mocked):  # noqa: F811
    mocked.post(PAY_URL, json=fx("payment_authorization.json"))

    _label(USPSAdapter(account))
    # A new adapter, as another process would build: the shared entry serves.
    _label(USPSAdapter(account))
    _void(USPSAdapter(account))

    (pay_call,) = sent(mocked, "POST", PAY_URL)
    assert [r["roleName"] for r in body_of(pay_call)["roles"]] == [
        "PAYER",
        "LABEL_OWNER",
    ]
    assert _payment_headers(mocked) == ["usps-payment-token-1"] * 3
    assert ProviderCall.objects.filter(operation="usps_payment_token").count() == 1


def test_a_token_about_to_expire_is_fetched_again(account, mocked):  # noqa: F811
    # exp 60 s away: inside the refresh margin, so never shared.
    soon = _jwt(60)
    later = _jwt(8 * 3600)
    mocked.post(PAY_URL, json={"paymentAuthorizationToken": soon})
    mocked.post(PAY_URL, json={"paymentAuthorizationToken": later})

    _label(USPSAdapter(account))
    _label(USPSAdapter(account))
    _label(USPSAdapter(account))

    assert len(sent(mocked, "POST", PAY_URL)) == 2
    assert _payment_headers(mocked) == [soon, later, later]


def test_an_opaque_token_lives_for_the_accounts_setting(account, mocked):  # noqa: F811
    # Shorter than the refresh margin: used once, never shared.
    account.settings["payment_token_seconds"] = 60
    account.save()
    mocked.post(PAY_URL, json=fx("payment_authorization.json"))
    mocked.post(PAY_URL, json=fx("payment_authorization_2.json"))

    _label(USPSAdapter(account))
    _label(USPSAdapter(account))

    assert _payment_headers(mocked) == ["usps-payment-token-1", "usps-payment-token-2"]


def test_a_refused_payment_token_is_replaced_once(account, mocked):  # noqa: F811
    mocked.post(PAY_URL, json=fx("payment_authorization.json"))
    mocked.post(PAY_URL, json=fx("payment_authorization_2.json"))
    mocked.post(TOKEN_URL, json=fx("oauth_token_2.json"))
    # The label call is refused twice: once cured by nothing (new OAuth
    # token), then accepted with the new payment token.
    mocked.replace(
        responses.POST, LABEL_URL, status=401, json=fx("error_unauthorized.json")
    )
    mocked.post(LABEL_URL, status=401, json=fx("error_unauthorized.json"))
    mocked.post(LABEL_URL, body=LABEL, content_type=MULTIPART)

    label = _label(USPSAdapter(account))

    assert label.tracking_number
    assert _payment_headers(mocked) == [
        "usps-payment-token-1",
        "usps-payment-token-1",
        "usps-payment-token-2",
    ]
    # The replacement is what the next label uses.
    _label(USPSAdapter(account))
    assert _payment_headers(mocked)[-1] == "usps-payment-token-2"
    assert len(sent(mocked, "POST", PAY_URL)) == 2


def test_another_payer_gets_its_own_authorization(account, mocked):  # noqa: F811
    mocked.post(PAY_URL, json=fx("payment_authorization.json"))
    mocked.post(PAY_URL, json=fx("payment_authorization_2.json"))
    _label(USPSAdapter(account))

    account.settings["account_number"] = "1000999999"
    account.save()
    _label(USPSAdapter(account))

    second = sent(mocked, "POST", PAY_URL)[1]
    assert body_of(second)["roles"][0]["accountNumber"] == "1000999999"
    assert _payment_headers(mocked) == ["usps-payment-token-1", "usps-payment-token-2"]


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def test_a_payment_token_whose_expiry_cannot_be_read_leaves_no_label_in_doubt(
    account,  # noqa: F811
):
    """A JWT whose exp reads as infinity (1e999): the label call never went
    out, so the buy is NotProcessed (failed, buy again), not Unknown (for ever
    on USPS, which cannot look a label up)."""
    claims = _b64(b'{"exp": 1e999}')
    token = f"{_b64(b'{}')}.{claims}.c2ln"
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        rsps.post(TOKEN_URL, json=fx("oauth_token.json"))
        rsps.post(PAY_URL, json={"paymentAuthorizationToken": token})
        rsps.post(LABEL_URL, body=LABEL, content_type=MULTIPART)
        with pytest.raises(NotProcessed):
            USPSAdapter(account).create_label(
                shared.label_request(
                    "PRIORITY_MAIL", carrier_rate_id="PRIORITY_MAIL|SP|MACHINABLE"
                )
            )
        assert sent(rsps, "POST", LABEL_URL) == []


def test_a_fault_after_the_payment_token_before_the_label_call_is_not_processed(
    account,  # noqa: F811
    mocked,
    monkeypatch,
):
    """The token fetch's own requests are not the label's: a fault between
    them (here storing the token) means nothing went out for the label."""
    mocked.post(PAY_URL, json=fx("payment_authorization.json"))

    def broken(*args, **kwargs):
        raise RuntimeError("cache down")

    monkeypatch.setattr(PaymentTokenCache, "_store", broken)
    with pytest.raises(NotProcessed):
        USPSAdapter(account).create_label(
            shared.label_request(
                "PRIORITY_MAIL", carrier_rate_id="PRIORITY_MAIL|SP|MACHINABLE"
            )
        )
    assert sent(mocked, "POST", LABEL_URL) == []
