"""Contract harness for Shippo: ``responses`` answers built from the examples
in Shippo's OpenAPI file (tests/fixtures/shippo/README.md names each one).
Webhooks are authenticated by the secret token in the URL posted to."""

import json
from pathlib import Path

import requests
from urllib3.exceptions import MaxRetryError, NewConnectionError

from integrations.models import ProviderAccount
from shipping.providers.base import LabelRequest, RateRequest
from shipping.providers.tracking_types import TrackRequest
from tests.contract.runner import Webhook
from tests.factories import ProviderAccountFactory
from tests.shipping.contract import requests as shared
from tests.shipping.contract.requests import invalid_request

__all__ = ["invalid_request"]

PROVIDER = "shippo"
NOT_APPLICABLE = {
    "token_expired_401": "Shippo takes a static API token, no OAuth token",
    "webhook_stale": "Shippo's webhooks carry no signed time (the intake dedupes "
    "a replay by its key)",
}
FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "shippo"
BASE = "https://api.goshippo.com"
RATE_ID = "ec9f0d3adc9441449c85d315f0997fd5"
TRANSACTION = "915d94940ea54c3a80cbfa328722f5a1"
LABEL_URL = f"https://deliver.goshippo.com/{TRANSACTION}.pdf"
NUMBER = "9205590164917312751089"
WEBHOOK_TOKEN = "whk-9f8e7d6c5b4a39281706f5e4d3c2b1a0"
HOOK_URL = "https://switchyard.test/webhooks/shippo-main/"


def load(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


def make_account() -> ProviderAccount:
    return ProviderAccountFactory(
        kind="shipping",
        provider=PROVIDER,
        settings={"backoff_base_seconds": 0.001},
        credentials={
            "api_token": "shippo_test_contract",
            "webhook_token": WEBHOOK_TOKEN,
        },
    )


def _rates_answer(rsps, status: int, **kwargs) -> RateRequest:
    rsps.post(f"{BASE}/shipments", status=status, **kwargs)
    return shared.rate_request()


def _label_request() -> LabelRequest:
    return shared.label_request("usps_priority", carrier_rate_id=RATE_ID)


def rates(rsps, account) -> RateRequest:
    return _rates_answer(rsps, 201, json=load("shipment_rates.json"))


def label(rsps, account) -> LabelRequest:
    rsps.post(f"{BASE}/transactions", status=201, json=load("transaction_success.json"))
    rsps.get(LABEL_URL, body=(FIXTURES / "label.pdf").read_bytes())
    return _label_request()


def label_garbled_file(rsps, account) -> LabelRequest:
    # The transaction made, its label link serving an HTML error page.
    rsps.post(f"{BASE}/transactions", status=201, json=load("transaction_success.json"))
    rsps.get(LABEL_URL, body=shared.GARBLED_FILE)
    return _label_request()


def tracking(rsps, account) -> TrackRequest:
    rsps.get(f"{BASE}/tracks/usps/{NUMBER}", json=load("track.json"))
    return TrackRequest(tracking_number=NUMBER, service_code="usps_priority")


def tracking_not_found(rsps, account) -> TrackRequest:
    unknown = "9999999999999999999999"
    rsps.get(f"{BASE}/tracks/usps/{unknown}", json=load("track_unknown.json"))
    return TrackRequest(tracking_number=unknown, service_code="usps_priority")


def validation_error_400(rsps, account) -> RateRequest:
    return _rates_answer(rsps, 400, json=load("error_validation.json"))


def unauthorized_401(rsps, account) -> RateRequest:
    return _rates_answer(rsps, 401, json=load("error_unauthorized.json"))


def rate_limited_429(rsps, account) -> RateRequest:
    return _rates_answer(rsps, 429, json={}, headers={"Retry-After": "30"})


def server_error_500(rsps, account) -> LabelRequest:
    rsps.post(f"{BASE}/transactions", status=500, body="Server Error")
    return _label_request()


def read_timeout(rsps, account) -> LabelRequest:
    rsps.post(f"{BASE}/transactions", body=requests.ReadTimeout("read timed out"))
    return _label_request()


def connection_refused(rsps, account) -> RateRequest:
    reason = NewConnectionError(None, "Failed to establish a new connection: refused")
    error = requests.ConnectionError(MaxRetryError(None, "/", reason))
    return _rates_answer(rsps, 201, body=error)


def malformed_json(rsps, account) -> RateRequest:
    return _rates_answer(rsps, 201, body='{"object_id": "5e40", "rates": [')


def _hook(token: str) -> Webhook:
    return Webhook(
        body=(FIXTURES / "webhook_track_updated.json").read_bytes(),
        headers={"Content-Type": "application/json"},
        url=f"{HOOK_URL}?token={token}",
        event_type="track_updated",
    )


def webhook_valid(rsps, account) -> Webhook:
    return _hook(WEBHOOK_TOKEN)


def webhook_forged(rsps, account) -> Webhook:
    return _hook(WEBHOOK_TOKEN[:-1] + "x")
