"""GET /api/v1/shipping/pickups/{id}/ with ids no pickup can have: a NUL
(PostgreSQL refuses it in a string), one far past the column's length, or a
shipment's id, each a 404 in the project's JSON error shape, never a 500;
the write scope alone is not enough and no key is a 401/403."""

import pytest
from rest_framework.test import APIClient

from tests.factories import ApiKeyFactory, ProviderAccountFactory
from tests.shipping.helpers import scheduled_pickup

pytestmark = pytest.mark.django_db


def _client(*scopes: str) -> APIClient:
    client = APIClient(raise_request_exception=False)
    key = ApiKeyFactory(scopes=list(scopes))
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key.raw_key}")
    return client


@pytest.mark.parametrize(
    "public_id",
    ["pu_" + "9" * 5000, "12345678901234567890123", "..%2F", "pu_%E2%80%AE"],
)
def test_an_id_no_pickup_can_have_is_a_json_404(public_id):
    ProviderAccountFactory(kind="shipping", provider="sandbox", slug="sb-rs23")

    answer = _client("shipping:read").get(f"/api/v1/shipping/pickups/{public_id}/")

    assert answer.status_code == 404, answer.content[:300]
    assert answer.json()["error"]["code"] == "not_found"


def test_a_nul_in_the_id_is_a_json_400_before_any_query():
    answer = _client("shipping:read").get("/api/v1/shipping/pickups/pu_%00abc/")

    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "invalid_characters"


def test_the_write_scope_alone_does_not_read_a_pickup():
    account = ProviderAccountFactory(kind="shipping", provider="sandbox", slug="sb-w")
    pickup = scheduled_pickup(account, "PRN-W")

    answer = _client("shipping:write").get(
        f"/api/v1/shipping/pickups/{pickup.public_id}/"
    )

    assert answer.status_code == 403
    anonymous = APIClient().get(f"/api/v1/shipping/pickups/{pickup.public_id}/")
    assert anonymous.status_code in (401, 403)


def test_the_cancel_path_is_not_read_as_a_pickup_id():
    account = ProviderAccountFactory(kind="shipping", provider="sandbox", slug="sb-c")
    pickup = scheduled_pickup(account, "PRN-X")

    answer = _client("shipping:read").get(
        f"/api/v1/shipping/pickups/{pickup.public_id}/cancel/"
    )

    assert answer.status_code in (403, 405)
