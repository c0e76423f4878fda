"""The reads sent ahead with a payment's idempotency claim are built from the
body as sent, before validation: a value PostgreSQL cannot take must cost
at most the read sent ahead, never the claim, so the request is answered as
it would be without them."""

import uuid

import pytest
from django.db import connection

from payments.models import Payment

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

URL = "/api/v1/payments/"


@pytest.fixture(autouse=True)
def _postgresql_only():
    if connection.vendor != "postgresql":
        pytest.skip("the pipelined reads exist on PostgreSQL only")


def body(**overrides: object) -> dict:
    values = {"order_id": "order-rp", "amount": 1050, "currency": "EUR"}
    values.update({"source_token": "tok_success", "capture": True, **overrides})
    return values


def post(api, key: str, data: dict):
    return api.post(URL, data, format="json", HTTP_IDEMPOTENCY_KEY=key)


def test_an_ip_postgresql_refuses_is_a_400_not_a_500(api, primary):
    """Python parses an IPv6 address with a long zone, the serializer refuses
    it (over 39 characters) and PostgreSQL's inet cannot take it: the read
    ahead failed in the claim's transaction and took the claim with it (a
    500). Now it costs only itself: the request is the 400 it always was."""
    key = uuid.uuid4().hex
    address = "fe80::1%" + "a" * 40
    response = post(api, key, body(ip_address=address))
    assert response.status_code == 400, response.content
    assert response.json()["error"]["param"] == "ip_address"
    assert post(api, key, body(ip_address=address)).json() == response.json()
    assert not Payment.objects.exists()
    assert post(api, uuid.uuid4().hex, body()).status_code == 201


@pytest.mark.redis
def test_an_ip_with_a_zone_is_screened_as_the_serializer_cleans_it(api, primary):
    """A short zone the serializer accepts (and drops) still pays."""
    key = uuid.uuid4().hex
    response = post(api, key, body(ip_address="fe80::1%eth0"))
    assert response.status_code == 201, response.content
    payment = Payment.objects.get(public_id=response.json()["id"])
    assert payment.ip_address == "fe80::1"
