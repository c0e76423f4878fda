"""The three outcomes, over real sockets against the fault server."""

import pytest
import requests

from integrations.client import ProviderClient, classify_response, response_json
from integrations.errors import NotProcessed, Outcome, Rejected, Unknown
from integrations.models import ProviderCall
from integrations.testing.faultserver import (
    BlackholePort,
    FaultServer,
    hang,
    malformed_json,
    reset,
    respond,
)

pytestmark = pytest.mark.django_db


def only_call() -> ProviderCall:
    (call,) = ProviderCall.objects.all()
    return call


def test_success_returns_the_response_and_logs_one_call(client, fault):
    fault.route("GET", "/v1/thing", respond(200, json={"id": "t_1"}))

    response = client.request(
        "GET", fault.url_for("/v1/thing"), operation="get_thing", idempotent=True
    )

    assert response.json() == {"id": "t_1"}
    call = only_call()
    assert (call.outcome, call.attempts, call.http_status) == ("success", 1, 200)
    assert call.operation == "get_thing"
    assert call.error_code == ""
    assert call.duration_ms is not None
    assert call.finished_at is not None


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (400, "bad_request"),
        (404, "not_found"),
        (409, "idempotency_conflict"),
        (422, "unprocessable"),
        (418, "client_error"),
    ],
)
def test_4xx_is_rejected_and_not_retried(client, fault, status, code):
    fault.route("POST", "/v1/charges", respond(status, json={"error": "no"}))

    with pytest.raises(Rejected) as caught:
        client.request(
            "POST", fault.url_for("/v1/charges"), operation="charge", idempotent=True
        )

    assert caught.value.code == code
    assert caught.value.http_status == status
    assert len(fault.requests_for("POST", "/v1/charges")) == 1
    call = only_call()
    assert (call.outcome, call.error_code, call.http_status) == (
        "rejected",
        code,
        status,
    )


@pytest.mark.parametrize(
    ("status", "code"), [(401, "authentication_failed"), (403, "permission_denied")]
)
def test_auth_failures_are_not_processed_and_not_retried(client, fault, status, code):
    fault.route("POST", "/v1/charges", respond(status))

    with pytest.raises(NotProcessed) as caught:
        client.request(
            "POST", fault.url_for("/v1/charges"), operation="charge", idempotent=False
        )

    assert caught.value.code == code
    assert len(fault.requests_for("POST", "/v1/charges")) == 1
    assert only_call().outcome == "not_processed"


def test_408_is_not_processed_and_retried(client, fault):
    # The server gave up before it had the whole request: nothing was done,
    # so the same request may go again (and fail over), never a refusal.
    fault.route("POST", "/v1/charges", respond(408), respond(200, json={"id": "c"}))

    response = client.request(
        "POST", fault.url_for("/v1/charges"), operation="charge", idempotent=True
    )

    assert response.json() == {"id": "c"}
    assert len(fault.requests_for("POST", "/v1/charges")) == 2


def test_429_is_not_processed_and_retried_after_retry_after(client, fault, fake_time):
    fault.route(
        "POST",
        "/v1/charges",
        respond(429, headers={"Retry-After": "1"}),
        respond(200, json={"id": "ch_1"}),
    )

    response = client.request(
        "POST", fault.url_for("/v1/charges"), operation="charge", idempotent=False
    )

    assert response.status_code == 200
    assert fake_time.sleeps == [1.0]
    assert len(fault.requests_for("POST", "/v1/charges")) == 2
    call = only_call()
    assert (call.outcome, call.attempts, call.http_status) == ("success", 2, 200)


def test_429_exhausting_attempts_keeps_retry_after(client, fault):
    fault.route("GET", "/v1/x", respond(429, headers={"Retry-After": "2"}))

    with pytest.raises(NotProcessed) as caught:
        client.request("GET", fault.url_for("/v1/x"), operation="x", idempotent=True)

    assert caught.value.code == "too_many_requests"
    assert caught.value.retry_after == 2.0
    assert len(fault.requests_for("GET", "/v1/x")) == 3


def test_5xx_on_a_non_idempotent_call_is_unknown_and_sent_once(client, fault):
    fault.route("POST", "/v1/charges", respond(500), respond(200))

    with pytest.raises(Unknown) as caught:
        client.request(
            "POST", fault.url_for("/v1/charges"), operation="charge", idempotent=False
        )

    assert (caught.value.code, caught.value.http_status) == ("server_error", 500)
    assert len(fault.requests_for("POST", "/v1/charges")) == 1
    call = only_call()
    assert (call.outcome, call.attempts, call.http_status) == ("unknown", 1, 500)


def test_5xx_on_an_idempotent_call_is_retried(client, fault, fake_time):
    fault.route("GET", "/v1/x", respond(502), respond(503), respond(200, json={}))

    response = client.request(
        "GET", fault.url_for("/v1/x"), operation="x", idempotent=True
    )

    assert response.status_code == 200
    assert len(fake_time.sleeps) == 2
    assert only_call().attempts == 3


def test_read_timeout_on_a_non_idempotent_call_is_never_retried(client, fault):
    fault.route("POST", "/v1/charges", hang(), respond(200))

    with pytest.raises(Unknown) as caught:
        client.request(
            "POST",
            fault.url_for("/v1/charges"),
            operation="charge",
            idempotent=False,
            json={"amount": 100},
        )

    assert caught.value.code == "read_timeout"
    assert len(fault.requests_for("POST", "/v1/charges")) == 1
    call = only_call()
    assert (call.outcome, call.attempts, call.http_status) == ("unknown", 1, None)


def test_read_timeout_on_an_idempotent_call_is_retried(client, fault):
    fault.route("POST", "/v1/charges", hang(), respond(200, json={"id": "ch_1"}))

    response = client.request(
        "POST", fault.url_for("/v1/charges"), operation="charge", idempotent=True
    )

    assert response.json() == {"id": "ch_1"}
    seen = fault.requests_for("POST", "/v1/charges")
    assert len(seen) == 2
    assert only_call().outcome == "success"


def test_reset_after_send_is_unknown(client, fault):
    fault.route("POST", "/v1/charges", reset())

    with pytest.raises(Unknown) as caught:
        client.request(
            "POST", fault.url_for("/v1/charges"), operation="charge", idempotent=False
        )

    assert caught.value.code == "connection_reset"
    assert len(fault.requests_for("POST", "/v1/charges")) == 1


def test_connection_refused_is_not_processed_and_retried(
    client, refused_url, fake_time
):
    with pytest.raises(NotProcessed) as caught:
        client.request(
            "POST", refused_url + "/v1/charges", operation="charge", idempotent=False
        )

    assert caught.value.code == "connection_refused"
    assert len(fake_time.sleeps) == 2
    call = only_call()
    assert (call.outcome, call.attempts, call.error_code) == (
        "not_processed",
        3,
        "connection_refused",
    )


def test_connect_timeout_is_not_processed(make_client):
    client = make_client(connect_timeout=0.1, max_attempts=1)
    with BlackholePort() as port, pytest.raises(NotProcessed) as caught:
        client.request("POST", port.url, operation="charge", idempotent=False)

    assert caught.value.code == "connect_timeout"


def test_malformed_json_is_unknown_when_json_is_expected(client, fault):
    fault.route("POST", "/v1/charges", malformed_json())

    with pytest.raises(Unknown) as caught:
        client.request(
            "POST",
            fault.url_for("/v1/charges"),
            operation="charge",
            idempotent=False,
            expect_json=True,
        )

    assert caught.value.code == "malformed_response"
    assert len(fault.requests_for("POST", "/v1/charges")) == 1
    call = only_call()
    assert (call.outcome, call.error_code) == ("unknown", "malformed_response")


def test_response_json_helper(client, fault):
    fault.route("GET", "/bad", malformed_json())
    fault.route("GET", "/good", respond(json={"ok": True}))

    good = client.request("GET", fault.url_for("/good"), operation="g", idempotent=True)
    bad = client.request("GET", fault.url_for("/bad"), operation="b", idempotent=True)

    assert response_json(good) == {"ok": True}
    with pytest.raises(Unknown) as caught:
        response_json(bad)
    assert caught.value.code == "malformed_response"
    assert caught.value.__cause__ is None  # the decode error would carry the body


def test_error_map_overrides_the_default_mapping(client, fault):
    # A provider that replays by idempotency key: its 503 means "not done".
    fault.route("POST", "/v1/charges", respond(503), respond(200, json={}))

    def replaying(response):
        if response.status_code == 503:
            return NotProcessed("busy", code="provider_busy", http_status=503)
        return None

    response = client.request(
        "POST",
        fault.url_for("/v1/charges"),
        operation="charge",
        idempotent=False,
        error_map=replaying,
    )

    assert response.status_code == 200
    assert len(fault.requests_for("POST", "/v1/charges")) == 2


def test_error_map_can_fail_a_2xx(client, fault):
    fault.route("POST", "/v1/send", respond(200, json={"error": "bad address"}))

    def body_errors(response):
        if "error" in response.json():
            return Rejected("provider refused", code="invalid_address")
        return None

    with pytest.raises(Rejected):
        client.request(
            "POST",
            fault.url_for("/v1/send"),
            operation="send",
            idempotent=True,
            error_map=body_errors,
        )
    assert only_call().error_code == "invalid_address"


def test_unknown_attempt_is_not_hidden_by_a_later_not_processed(client, fault):
    # The first attempt may have taken effect: a later 429 must not turn the
    # operation into not_processed (which would allow failover).
    fault.route(
        "POST",
        "/v1/charges",
        respond(500),
        respond(429, headers={"Retry-After": "600"}),
    )

    with pytest.raises(Unknown) as caught:
        client.request(
            "POST", fault.url_for("/v1/charges"), operation="charge", idempotent=True
        )

    assert caught.value.outcome is Outcome.UNKNOWN
    assert caught.value.code == "server_error"
    assert len(fault.requests_for("POST", "/v1/charges")) == 2
    assert only_call().outcome == "unknown"


def test_unrouted_path_is_a_404_rejection(client: ProviderClient, fault: FaultServer):
    with pytest.raises(Rejected):
        client.request("GET", fault.url_for("/nope"), operation="n", idempotent=True)


@pytest.mark.parametrize(
    "date",
    ["Mon, 01 Jan 99999999999999999999 00:00:00 GMT", "not a date", ""],
    ids=["year-overflow", "garbage", "empty"],
)
def test_an_unreadable_date_header_leaves_a_429_throttled(date):
    # The server's Date only dates an HTTP-date Retry-After; one that no
    # clock holds must not turn "try again" into an unknown outcome.
    response = requests.Response()
    response.status_code = 429
    response.headers.update({"Date": date, "Retry-After": "5"})
    response._content = b"{}"
    error = classify_response(response)
    assert error.outcome == Outcome.NOT_PROCESSED
    assert error.retry_after == 5
