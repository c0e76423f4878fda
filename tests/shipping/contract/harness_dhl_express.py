"""Contract harness for DHL Express (MyDHL API): ``responses`` answers built
from karrio's MyDHL samples (tests/fixtures/dhl_express/README.md)."""

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

PROVIDER = "dhl_express"
NOT_APPLICABLE = {
    "token_expired_401": "MyDHL takes HTTP Basic credentials, no token",
    **{
        name: "DHL Express sends no webhooks to us (tracking is polled)"
        for name in (
            "webhook_valid",
            "webhook_forged",
            "webhook_stale",
            "webhook_duplicate",
        )
    },
}
FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "dhl_express"
BASE = "https://express.api.dhl.com/mydhlapi/test"


def load(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


def make_account() -> ProviderAccount:
    return ProviderAccountFactory(
        kind="shipping",
        provider=PROVIDER,
        settings={"account_number": "950000002", "backoff_base_seconds": 0.001},
        credentials={"api_key": "contract-user", "api_secret": "contract-pass"},
    )


def _rates_answer(rsps, status: int, **kwargs) -> RateRequest:
    rsps.post(f"{BASE}/rates", status=status, **kwargs)
    return shared.international_rate_request()


def _label_request() -> LabelRequest:
    return shared.label_request("P", to_address=shared.ABROAD, customs=shared.CUSTOMS)


def rates(rsps, account) -> RateRequest:
    return _rates_answer(rsps, 200, json=load("rate_response.json"))


def label(rsps, account) -> LabelRequest:
    rsps.post(f"{BASE}/shipments", status=201, json=load("shipment_response.json"))
    return _label_request()


def label_garbled_file(rsps, account) -> LabelRequest:
    # The label made, its file an HTML error page (base64 as MyDHL sends it).
    answer = load("shipment_response.json")
    label_document = next(d for d in answer["documents"] if d["typeCode"] == "label")
    label_document["content"] = shared.garbled_base64()
    rsps.post(f"{BASE}/shipments", status=201, json=answer)
    return _label_request()


def tracking(rsps, account) -> TrackRequest:
    rsps.get(f"{BASE}/tracking", json=load("tracking_response.json"))
    return shared.track_request("1234567890")


def tracking_not_found(rsps, account) -> TrackRequest:
    rsps.get(f"{BASE}/tracking", status=404, json=load("error_not_found.json"))
    return shared.track_request("9999999999")


def validation_error_400(rsps, account) -> RateRequest:
    return _rates_answer(rsps, 400, json=load("error_response.json"))


def unauthorized_401(rsps, account) -> RateRequest:
    return _rates_answer(rsps, 401, json=load("error_unauthorized.json"))


def rate_limited_429(rsps, account) -> RateRequest:
    return _rates_answer(rsps, 429, json={}, headers={"Retry-After": "30"})


def server_error_500(rsps, account) -> LabelRequest:
    rsps.post(f"{BASE}/shipments", status=500, json={"status": 500})
    return _label_request()


def read_timeout(rsps, account) -> LabelRequest:
    rsps.post(f"{BASE}/shipments", body=requests.ReadTimeout("read timed out"))
    return _label_request()


def connection_refused(rsps, account) -> RateRequest:
    reason = NewConnectionError(None, "Failed to establish a new connection: refused")
    error = requests.ConnectionError(MaxRetryError(None, "/", reason))
    return _rates_answer(rsps, 200, body=error)


def malformed_json(rsps, account) -> RateRequest:
    return _rates_answer(rsps, 200, body='{"products": [')
