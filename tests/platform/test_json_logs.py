"""Log lines are JSON and carry the request's correlation id."""

import io
import json
import logging
from collections.abc import Iterator

import pytest
from django.http import HttpRequest, HttpResponse
from django.test import RequestFactory

from integrations.correlation import CorrelationIdMiddleware
from integrations.logging import JsonFormatter

logger = logging.getLogger("integrations.tests")


@pytest.fixture
def log_stream() -> Iterator[io.StringIO]:
    """The handler settings.LOGGING configured, writing into a buffer."""
    handlers = [
        h
        for h in logging.getLogger().handlers
        if isinstance(h, logging.StreamHandler)
        and isinstance(h.formatter, JsonFormatter)
    ]
    assert handlers, "settings.LOGGING must give the root logger a JSON handler"
    buffer = io.StringIO()
    previous = handlers[0].setStream(buffer)
    try:
        yield buffer
    finally:
        handlers[0].setStream(previous)


def _lines(buffer: io.StringIO) -> list[dict]:
    # json.loads on every line: a line that is not JSON fails the test.
    return [json.loads(line) for line in buffer.getvalue().splitlines() if line]


def _view(request: HttpRequest) -> HttpResponse:
    logger.warning("handling request", extra={"path": request.path})
    return HttpResponse("ok")


def _call(**headers: str) -> HttpResponse:
    request = RequestFactory().get("/anything/", headers=headers)
    return CorrelationIdMiddleware(_view)(request)


def test_log_line_carries_correlation_id_from_header(log_stream):
    response = _call(X_CORRELATION_ID="order-42.retry-1")
    assert response["X-Correlation-ID"] == "order-42.retry-1"
    [line] = _lines(log_stream)
    assert line["correlation_id"] == "order-42.retry-1"
    assert line["message"] == "handling request"
    assert line["level"] == "WARNING"
    assert line["logger"] == "integrations.tests"
    assert line["path"] == "/anything/"
    assert line["ts"].endswith("+00:00")


def test_correlation_id_generated_per_request_without_header(log_stream):
    first, second = _call(), _call()
    ids = [line["correlation_id"] for line in _lines(log_stream)]
    assert ids == [first["X-Correlation-ID"], second["X-Correlation-ID"]]
    assert ids[0] != ids[1]
    assert all(len(i) == 32 for i in ids)


def test_unsafe_correlation_header_is_replaced(log_stream):
    # A header could otherwise smuggle fake log lines or outbound headers.
    response = _call(X_CORRELATION_ID='x"\n{"level":"ERROR"}')
    [line] = _lines(log_stream)
    assert line["correlation_id"] == response["X-Correlation-ID"]
    assert len(line["correlation_id"]) == 32


def test_outside_a_request_the_id_is_null(log_stream):
    logger.warning("idle")
    [line] = _lines(log_stream)
    assert line["correlation_id"] is None


def test_secret_extras_are_masked(log_stream):
    logger.warning(
        "provider call failed", extra={"account": "sbx", "api_key": "sbx_secret"}
    )
    [line] = _lines(log_stream)
    assert line["account"] == "sbx"
    assert line["api_key"] == "[redacted]"
    assert "sbx_secret" not in log_stream.getvalue()


def test_djangos_own_request_log_carries_the_id(client, log_stream):
    # Django logs 4xx/5xx after the middleware chain returns; the line must
    # still carry the request's id.
    response = client.get("/no-such-page/", HTTP_X_CORRELATION_ID="req-7")
    assert response.status_code == 404
    [line] = [r for r in _lines(log_stream) if r["logger"] == "django.request"]
    assert line["correlation_id"] == "req-7"


@pytest.mark.parametrize(
    "name", ["stripe", "braintree", "urllib3", "botocore", "boto3", "anymail"]
)
def test_every_provider_sdks_logger_says_only_warnings(name, settings):
    # An SDK's own INFO/DEBUG lines carry request details: credentials too.
    level = settings.LOGGING["loggers"][name]["level"]

    assert logging.getLevelName(level) >= logging.WARNING
