"""Contract harness for UPS: ``responses`` answers built from UPS's OpenAPI
files and karrio's UPS samples (tests/fixtures/ups/README.md names the
example each follows).

Every scenario starts as a real UPS call does: the token endpoint answers,
then the scenario's answer is that of the rating, shipping or track call."""

import json
from pathlib import Path

import requests
from urllib3.exceptions import MaxRetryError, NewConnectionError

from integrations.models import ProviderAccount
from shipping.providers.base import LabelFormat, LabelRequest, RateRequest
from shipping.providers.tracking_types import TrackRequest
from tests.factories import ProviderAccountFactory
from tests.shipping.contract import requests as shared
from tests.shipping.contract.requests import invalid_request

__all__ = ["invalid_request"]

PROVIDER = "ups"
NOT_APPLICABLE = {
    name: "UPS sends no webhooks to us (tracking is polled)"
    for name in (
        "webhook_valid",
        "webhook_forged",
        "webhook_stale",
        "webhook_duplicate",
    )
}
FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "ups"
BASE = "https://wwwcie.ups.com"
TOKEN_URL = f"{BASE}/security/v1/oauth/token"
RATES_URL = f"{BASE}/api/rating/v2409/Shop"
SHIP_URL = f"{BASE}/api/shipments/v2409/ship"
TRACKING_NUMBER = "1Z1442YY7229014688"
TRACK_URL = f"{BASE}/api/track/v1/details/{TRACKING_NUMBER}"
UNKNOWN_NUMBER = "1Z12345E8791315509"


def load(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


def make_account() -> ProviderAccount:
    return ProviderAccountFactory(
        kind="shipping",
        provider=PROVIDER,
        settings={"account_number": "A1B2C3", "backoff_base_seconds": 0.001},
        credentials={"client_id": "contract-id", "client_secret": "contract-secret"},
    )


def _token(rsps) -> None:
    rsps.post(TOKEN_URL, json=load("oauth_token.json"))


def _rates_answer(rsps, status: int, **kwargs) -> RateRequest:
    _token(rsps)
    rsps.post(RATES_URL, status=status, **kwargs)
    return shared.rate_request()


def _label_request() -> LabelRequest:
    # UPS prints no PDF: PNG (or ZPL).
    return shared.label_request("03", label_format=LabelFormat.PNG)


def rates(rsps, account) -> RateRequest:
    return _rates_answer(rsps, 200, json=load("rate_shop.json"))


def label(rsps, account) -> LabelRequest:
    _token(rsps)
    rsps.post(SHIP_URL, json=load("ship_response.json"))
    return _label_request()


def label_garbled_file(rsps, account) -> LabelRequest:
    # The label made, its PNG cut short.
    answer = load("ship_response.json")
    package = answer["ShipmentResponse"]["ShipmentResults"]["PackageResults"][0]
    image = package["ShippingLabel"]["GraphicImage"]
    package["ShippingLabel"]["GraphicImage"] = shared.cut_base64(image)
    _token(rsps)
    rsps.post(SHIP_URL, json=answer)
    return _label_request()


def tracking(rsps, account) -> TrackRequest:
    _token(rsps)
    rsps.get(TRACK_URL, json=load("track_response.json"))
    return shared.track_request(TRACKING_NUMBER)


def tracking_not_found(rsps, account) -> TrackRequest:
    # A 200 carrying the "Tracking Information Not Found" warning.
    _token(rsps)
    rsps.get(
        f"{BASE}/api/track/v1/details/{UNKNOWN_NUMBER}",
        json=load("track_not_found.json"),
    )
    return shared.track_request(UNKNOWN_NUMBER)


def validation_error_400(rsps, account) -> RateRequest:
    return _rates_answer(rsps, 400, json=load("error_validation.json"))


def token_expired_401(rsps, account) -> RateRequest:
    rsps.post(TOKEN_URL, json=load("oauth_token.json"))
    rsps.post(TOKEN_URL, json=load("oauth_token_2.json"))
    rsps.post(RATES_URL, status=401, json=load("error_unauthorized.json"))
    rsps.post(RATES_URL, json=load("rate_shop.json"))
    return shared.rate_request()


def unauthorized_401(rsps, account) -> RateRequest:
    # Refused again after the refresh: raised.
    return _rates_answer(rsps, 401, json=load("error_unauthorized.json"))


def rate_limited_429(rsps, account) -> RateRequest:
    return _rates_answer(
        rsps, 429, json=load("error_rate_limited.json"), headers={"Retry-After": "30"}
    )


def server_error_500(rsps, account) -> LabelRequest:
    _token(rsps)
    rsps.post(SHIP_URL, status=500, json=load("error_internal.json"))
    return _label_request()


def read_timeout(rsps, account) -> LabelRequest:
    _token(rsps)
    rsps.post(SHIP_URL, body=requests.ReadTimeout("read timed out"))
    return _label_request()


def connection_refused(rsps, account) -> RateRequest:
    reason = NewConnectionError(None, "Failed to establish a new connection: refused")
    error = requests.ConnectionError(MaxRetryError(None, "/", reason))
    return _rates_answer(rsps, 200, body=error)


def malformed_json(rsps, account) -> RateRequest:
    return _rates_answer(rsps, 200, body='{"RateResponse": {"RatedShipment": ')
