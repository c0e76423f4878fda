"""The fault server itself, driven with plain requests."""

import time

import pytest
import requests

from integrations.testing.faultserver import (
    MALFORMED_BODY,
    BlackholePort,
    RefusingPort,
    hang,
    malformed_json,
    reset,
    respond,
)

# The suite-wide cache fixture uses the database cache.
pytestmark = pytest.mark.django_db


def test_sequence_then_last_behaviour_repeats(fault):
    fault.route("GET", "/s", respond(500), respond(200, json={"ok": 1}))

    statuses = [requests.get(fault.url_for("/s"), timeout=2).status_code for _ in "abc"]

    assert statuses == [500, 200, 200]


def test_records_method_path_query_headers_and_body(fault):
    fault.route("POST", "/r", respond(201, headers={"Retry-After": "3"}))

    response = requests.post(
        fault.url_for("/r?x=1"),
        json={"a": 1},
        headers={"Idempotency-Key": "k1"},
        timeout=2,
    )

    assert response.status_code == 201
    assert response.headers["Retry-After"] == "3"
    (seen,) = fault.requests_for("POST", "/r")
    assert (seen.query, seen.json(), seen.header("idempotency-key")) == (
        "x=1",
        {"a": 1},
        "k1",
    )


def test_unrouted_is_404(fault):
    assert requests.get(fault.url_for("/none"), timeout=2).status_code == 404


def test_latency_delays_the_answer(fault):
    fault.route("GET", "/slow", respond(latency=0.1))
    started = time.monotonic()
    requests.get(fault.url_for("/slow"), timeout=2)
    assert time.monotonic() - started >= 0.1


def test_reset_closes_without_an_answer(fault):
    fault.route("POST", "/reset", reset())
    with pytest.raises(requests.ConnectionError):
        requests.post(fault.url_for("/reset"), data=b"x", timeout=2)
    assert len(fault.requests_for("POST", "/reset")) == 1


def test_hang_never_answers(fault):
    fault.route("GET", "/hang", hang())
    with pytest.raises(requests.ReadTimeout):
        requests.get(fault.url_for("/hang"), timeout=(1, 0.1))


def test_malformed_json(fault):
    fault.route("GET", "/m", malformed_json())
    response = requests.get(fault.url_for("/m"), timeout=2)
    assert response.content == MALFORMED_BODY
    with pytest.raises(ValueError):
        response.json()


def test_refusing_port():
    with RefusingPort() as port, pytest.raises(requests.ConnectionError):
        requests.get(port.url, timeout=1)


def test_blackhole_port_times_out_while_connecting():
    with BlackholePort() as port, pytest.raises(requests.ConnectTimeout):
        requests.get(port.url, timeout=(0.1, 1))


def test_route_needs_a_behaviour(fault):
    with pytest.raises(ValueError):
        fault.route("GET", "/x")
