"""/api/schema/ declares the answers the shipment void endpoint gives, each
error code under its status: a client generated from the schema knows a
carrier with no void (DHL Express) is a 422 ``not_supported`` and a void whose
answer was lost a 502 ``carrier_unknown`` (try again)."""

import pytest
from rest_framework.test import APIClient

from tests.factories import ApiKeyFactory
from tests.shipping.test_ship_dhl_void import bought  # noqa: F401 (fixture)

pytestmark = pytest.mark.django_db

VOID = "/api/v1/shipping/shipments/{public_id}/void/"
DOCUMENTED = {
    "404": ["not_found"],
    "409": ["invalid_state", "in_transit", "void_in_progress", "void_refused"],
    "422": ["not_supported", "idempotency_key_reused"],
    "502": ["carrier_rejected", "carrier_unknown", "carrier_not_processed"],
    "503": ["provider_unavailable"],
}


def _void_responses() -> dict:
    schema = APIClient().get("/api/schema/", {"format": "json"}).json()
    return schema["paths"][VOID]["post"]["responses"]


@pytest.mark.parametrize("status, codes", DOCUMENTED.items())
def test_the_void_schema_names_each_error_code_under_its_status(status, codes):
    description = _void_responses()[status].get("description", "")

    missing = [code for code in codes if f"`{code}`" not in description]

    assert missing == []


def test_the_dhl_refusal_the_server_gives_is_the_one_declared(bought):  # noqa: F811
    api = APIClient()
    key = ApiKeyFactory(scopes=["shipping:read", "shipping:write"])
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {key.raw_key}")

    answer = api.post(
        f"/api/v1/shipping/shipments/{bought.public_id}/void/",
        HTTP_IDEMPOTENCY_KEY="void-dhl-schema",
    )

    code = answer.json()["error"]["code"]
    assert f"`{code}`" in _void_responses()[str(answer.status_code)]["description"]
