"""Contract harness for USPS (v3 APIs): ``responses`` answers built from
karrio's USPS samples and USPS's own examples (tests/fixtures/usps/README.md).
A label takes three calls: the OAuth token, the payment authorization, then
the multipart label."""

import json
from pathlib import Path

import requests
from urllib3.exceptions import MaxRetryError, NewConnectionError

from integrations.models import ProviderAccount
from shipping.providers.base import LabelRequest, RateRequest
from shipping.providers.tracking_types import TrackRequest
from tests.factories import ProviderAccountFactory
from tests.shipping.contract import requests as shared
from tests.shipping.contract.requests import invalid_request

__all__ = ["invalid_request"]

PROVIDER = "usps"
NOT_APPLICABLE = {
    name: "USPS sends no webhooks to us here (tracking is polled)"
    for name in (
        "webhook_valid",
        "webhook_forged",
        "webhook_stale",
        "webhook_duplicate",
    )
}
FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "usps"
BASE = "https://api-cat.usps.com"
TOKEN_URL = f"{BASE}/oauth2/v3/token"
RATES_URL = f"{BASE}/shipments/v3/options/search"
LABEL_URL = f"{BASE}/labels/v3/label"
NUMBER = "9400109104250532908587"
MULTIPART = "multipart/form-data; boundary=726UYUDSQB6JWJXFDY"


def load(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


def make_account() -> ProviderAccount:
    return ProviderAccountFactory(
        kind="shipping",
        provider=PROVIDER,
        settings={
            "crid": "56982563",
            "mid": "904128936",
            "account_number": "1000115566",
            "backoff_base_seconds": 0.001,
        },
        credentials={"client_id": "contract-key", "client_secret": "contract-secret"},
    )


def _token(rsps) -> None:
    rsps.post(TOKEN_URL, json=load("oauth_token.json"))


def _rates_answer(rsps, status: int, **kwargs) -> RateRequest:
    _token(rsps)
    rsps.post(RATES_URL, status=status, **kwargs)
    return shared.rate_request()


def _label_answer(rsps, **kwargs) -> LabelRequest:
    _token(rsps)
    rsps.post(
        f"{BASE}/payments/v3/payment-authorization",
        json=load("payment_authorization.json"),
    )
    rsps.post(LABEL_URL, **kwargs)
    return shared.label_request(
        "USPS_GROUND_ADVANTAGE", carrier_rate_id="USPS_GROUND_ADVANTAGE|SP|MACHINABLE"
    )


def rates(rsps, account) -> RateRequest:
    return _rates_answer(rsps, 200, json=load("rate_response.json"))


def label(rsps, account) -> LabelRequest:
    return _label_answer(
        rsps,
        body=(FIXTURES / "label_response.multipart").read_bytes(),
        content_type=MULTIPART,
    )


def label_garbled_file(rsps, account) -> LabelRequest:
    # The label made, its PDF (base64 in the multipart answer) cut short.
    content = (FIXTURES / "label_response.multipart").read_bytes()
    image = content.split(b"\r\n\r\n")[-1].split(b"\r\n")[0]
    cut = shared.cut_base64(image.decode()).encode()
    return _label_answer(rsps, body=content.replace(image, cut), content_type=MULTIPART)


def tracking(rsps, account) -> TrackRequest:
    _token(rsps)
    rsps.get(
        f"{BASE}/tracking/v3/tracking/{NUMBER}", json=load("tracking_response.json")
    )
    return shared.track_request(NUMBER)


def tracking_not_found(rsps, account) -> TrackRequest:
    unknown = "9999999999999999999999"
    _token(rsps)
    rsps.get(
        f"{BASE}/tracking/v3/tracking/{unknown}",
        status=404,
        json=load("error_not_found.json"),
    )
    return shared.track_request(unknown)


def validation_error_400(rsps, account) -> RateRequest:
    return _rates_answer(rsps, 400, json=load("error_validation.json"))


def token_expired_401(rsps, account) -> RateRequest:
    rsps.post(TOKEN_URL, json=load("oauth_token.json"))
    rsps.post(TOKEN_URL, json=load("oauth_token_2.json"))
    rsps.post(RATES_URL, status=401, json=load("error_unauthorized.json"))
    rsps.post(RATES_URL, json=load("rate_response.json"))
    return shared.rate_request()


def unauthorized_401(rsps, account) -> RateRequest:
    return _rates_answer(rsps, 401, json=load("error_unauthorized.json"))


def rate_limited_429(rsps, account) -> RateRequest:
    return _rates_answer(rsps, 429, json={}, headers={"Retry-After": "30"})


def server_error_500(rsps, account) -> LabelRequest:
    return _label_answer(rsps, status=500, json=load("error_response.json"))


def read_timeout(rsps, account) -> LabelRequest:
    return _label_answer(rsps, body=requests.ReadTimeout("read timed out"))


def connection_refused(rsps, account) -> RateRequest:
    reason = NewConnectionError(None, "Failed to establish a new connection: refused")
    error = requests.ConnectionError(MaxRetryError(None, "/", reason))
    return _rates_answer(rsps, 200, body=error)


def malformed_json(rsps, account) -> RateRequest:
    return _rates_answer(rsps, 200, body='{"pricingOptions": [')
