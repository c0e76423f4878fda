"""Every error under /api/ in the one JSON shape, never HTML, never a 500 for
bad input."""

import logging

import pytest

from tests.integrations.api.conftest import TEST_URLS
from tests.integrations.api.helpers import assert_error

pytestmark = [pytest.mark.django_db, pytest.mark.urls(TEST_URLS)]

VALIDATE = "/api/v1/test/validate/"


def test_validation_error_names_the_field(key_client):
    response = key_client().post(
        VALIDATE, {"reference": "x" * 11, "lines": [{"sku": "a", "quantity": 1}]}
    )
    error = assert_error(response, 400, "max_length", param="reference")
    assert error["type"] == "invalid_request_error"
    assert "10" in error["message"]


def test_nested_validation_error_points_at_the_item(key_client):
    lines = [{"sku": "a", "quantity": 1}, {"sku": "b", "quantity": 0}]
    response = key_client().post(VALIDATE, {"reference": "r", "lines": lines})
    assert_error(response, 400, "min_value", param="lines[1].quantity")


def test_missing_field_is_required_error(key_client):
    response = key_client().post(VALIDATE, {"lines": []})
    assert_error(response, 400, "required", param="reference")


def test_malformed_json_is_parse_error(key_client):
    response = key_client().post(
        VALIDATE, data='{"reference": ', content_type="application/json"
    )
    error = assert_error(response, 400, "parse_error")
    assert error["type"] == "invalid_request_error"


def test_unsupported_media_type(key_client):
    response = key_client().post(
        VALIDATE, data="reference=x", content_type="application/x-www-form-urlencoded"
    )
    assert_error(response, 415, "unsupported_media_type")


def test_method_not_allowed_lists_allowed(key_client):
    response = key_client().delete(VALIDATE)
    assert_error(response, 405, "method_not_allowed")
    assert "POST" in response["Allow"]


@pytest.mark.parametrize("method", ["get", "post", "delete"])
def test_unknown_path_is_json_404(api_client, method):
    response = getattr(api_client, method)("/api/v1/no-such-thing/")
    assert_error(response, 404, "not_found")
    assert b"<html" not in response.content.lower()


def test_unknown_path_is_json_404_with_debug_on(api_client, settings):
    settings.DEBUG = True
    response = api_client.get("/api/nothing/here")
    assert_error(response, 404, "not_found")


def test_slashless_path_is_404_with_a_hint_not_a_redirect(key_client):
    response = key_client().post("/api/v1/me", {}, format="json")
    error = assert_error(response, 404, "not_found")
    assert "/api/v1/me/" in error["message"]


def test_html_404_outside_the_api_is_unchanged(client):
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    assert not response["Content-Type"].startswith("application/json")


@pytest.mark.parametrize(
    ("kind", "status", "code", "param"),
    [
        ("http404", 404, "not_found", None),
        ("django_permission", 403, "permission_denied", None),
        ("django_validation", 400, "invalid", "amount"),
        ("api_error", 402, "card_declined", "card"),
    ],
)
def test_django_and_api_exceptions_in_views(key_client, kind, status, code, param):
    response = key_client().get(f"/api/v1/test/raises/?kind={kind}")
    assert_error(response, status, code, param=param)


def test_unexpected_exception_is_json_500_without_leak(key_client, caplog):
    client = key_client()
    client.raise_request_exception = False
    with caplog.at_level(logging.ERROR, logger="django.request"):
        response = client.get("/api/v1/test/raises/?kind=bug")
    error = assert_error(response, 500, "internal_error")
    assert error["type"] == "api_error"
    body = response.content.decode()
    assert "sk_live_do_not_leak" not in body
    assert "Traceback" not in body
    assert response["X-Correlation-ID"]
    # ...but the operator gets the traceback in the log.
    assert any(r.exc_info for r in caplog.records)


def test_oversized_body_is_413(key_client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 200
    body = {"reference": "r", "lines": [{"sku": "x" * 300, "quantity": 1}]}
    response = key_client().post(VALIDATE, body)
    # DRF reads the body through Django, which enforces the limit.
    assert_error(response, 413, "request_too_large")
    # Under the limit the same endpoint parses as usual.
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 2_000
    assert key_client().post(VALIDATE, body).status_code == 200
