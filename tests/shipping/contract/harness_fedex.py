"""Contract harness for FedEx: ``responses`` answers built from karrio's FedEx
samples (tests/fixtures/fedex/README.md names the sample each follows).

Every scenario starts as a real FedEx call does: the token endpoint answers,
then the scenario's answer is that of the rate, ship or track call."""

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

PROVIDER = "fedex"
NOT_APPLICABLE = {
    name: "FedEx sends no webhooks to us (tracking is polled)"
    for name in (
        "webhook_valid",
        "webhook_forged",
        "webhook_stale",
        "webhook_duplicate",
    )
}
FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "fedex"
BASE = "https://apis-sandbox.fedex.com"
TOKEN_URL = f"{BASE}/oauth/token"
RATES_URL = f"{BASE}/rate/v1/rates/quotes"
SHIP_URL = f"{BASE}/ship/v1/shipments"
TRACK_URL = f"{BASE}/track/v1/trackingnumbers"
TRACKING_NUMBER = "128667043726"


def load(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


def make_account() -> ProviderAccount:
    return ProviderAccountFactory(
        kind="shipping",
        provider=PROVIDER,
        settings={"account_number": "740561073", "backoff_base_seconds": 0.001},
        credentials={"client_id": "contract-key", "client_secret": "contract-secret"},
    )


def _token(rsps) -> None:
    rsps.post(TOKEN_URL, json=load("oauth_token.json"))


def _rates_answer(rsps, status: int, **kwargs) -> RateRequest:
    _token(rsps)
    rsps.post(RATES_URL, status=status, **kwargs)
    return shared.international_rate_request()


def rates(rsps, account) -> RateRequest:
    return _rates_answer(rsps, 200, json=load("rate_quotes.json"))


def label(rsps, account) -> LabelRequest:
    _token(rsps)
    rsps.post(SHIP_URL, json=load("ship_response.json"))
    return shared.label_request("FEDEX_GROUND")


def label_garbled_file(rsps, account) -> LabelRequest:
    # The label made, its file an HTML error page (base64 as FedEx sends it).
    answer = load("ship_response.json")
    piece = answer["output"]["transactionShipments"][0]["pieceResponses"][0]
    piece["packageDocuments"][0]["encodedLabel"] = shared.garbled_base64()
    _token(rsps)
    rsps.post(SHIP_URL, json=answer)
    return shared.label_request("FEDEX_GROUND")


def tracking(rsps, account) -> TrackRequest:
    _token(rsps)
    rsps.post(TRACK_URL, json=load("track_response.json"))
    return shared.track_request(TRACKING_NUMBER)


def tracking_not_found(rsps, account) -> TrackRequest:
    # FedEx answers an unknown number with a 200 carrying a per-number error.
    _token(rsps)
    rsps.post(TRACK_URL, json=load("track_not_found.json"))
    return shared.track_request("123456789012")


def validation_error_400(rsps, account) -> RateRequest:
    return _rates_answer(rsps, 400, json=load("error_validation.json"))


def token_expired_401(rsps, account) -> RateRequest:
    rsps.post(TOKEN_URL, json=load("oauth_token.json"))
    rsps.post(TOKEN_URL, json=load("oauth_token_2.json"))
    rsps.post(RATES_URL, status=401, json=load("error_unauthorized.json"))
    rsps.post(RATES_URL, json=load("rate_quotes.json"))
    return shared.international_rate_request()


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
    return shared.label_request("FEDEX_GROUND")


def read_timeout(rsps, account) -> LabelRequest:
    _token(rsps)
    rsps.post(SHIP_URL, body=requests.ReadTimeout("read timed out"))
    return shared.label_request("FEDEX_GROUND")


def connection_refused(rsps, account) -> RateRequest:
    reason = NewConnectionError(None, "Failed to establish a new connection: refused")
    error = requests.ConnectionError(MaxRetryError(None, "/", reason))
    return _rates_answer(rsps, 200, body=error)


def malformed_json(rsps, account) -> RateRequest:
    return _rates_answer(rsps, 200, body='{"transactionId": "x", "output": ')
