"""The API answers that carry an endpoint's signing secret (create, rotate)
are not to be kept by any cache on the way or in the client's HTTP cache, as
the admin's secret page is not (Cache-Control: no-store; RFC 6749 5.1 asks
the same of token answers). Reads, which carry no secret, are unchanged."""

import pytest

pytestmark = pytest.mark.django_db
BASE = "/api/v1/webhook-endpoints/"


def _no_store(answer) -> bool:
    return "no-store" in answer.headers.get("Cache-Control", "")


def test_the_create_answer_with_the_secret_is_not_stored(api) -> None:
    body = {"url": "https://shop.example/hooks", "event_types": ["payment.*"]}
    answer = api.post(BASE, body, format="json")
    assert answer.status_code == 201
    assert answer.json()["secret"].startswith("whsec_")
    assert _no_store(answer)


def test_the_rotate_answer_with_the_new_secret_is_not_stored(api) -> None:
    body = {"url": "https://shop.example/hooks", "event_types": ["payment.*"]}
    endpoint_id = api.post(BASE, body, format="json").json()["id"]
    answer = api.post(f"{BASE}{endpoint_id}/rotate-secret/")
    assert answer.status_code == 200
    assert answer.json()["secret"].startswith("whsec_")
    assert _no_store(answer)
    read = api.get(f"{BASE}{endpoint_id}/")
    assert read.status_code == 200 and "secret" not in read.json()
