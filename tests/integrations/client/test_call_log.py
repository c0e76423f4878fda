"""Idempotency keys, correlation ids, the ProviderCall row and metrics."""

import contextvars
import logging
import uuid

import pytest
from django.db import transaction
from prometheus_client import REGISTRY

from integrations import correlation
from integrations.errors import NotProcessed, Unknown
from integrations.models import ProviderCall
from integrations.testing.faultserver import hang, respond

pytestmark = pytest.mark.django_db


def test_key_is_stored_before_the_first_attempt_and_reused(client, fault, fake_time):
    fault.route("POST", "/v1/charges", respond(500), hang(), respond(200, json={}))
    rows_during_backoff = []

    def sleep(seconds):
        rows_during_backoff.append(
            ProviderCall.objects.values("outcome", "idempotency_key").get()
        )
        fake_time.sleep(seconds)

    client._sleep = sleep
    client.request(
        "POST", fault.url_for("/v1/charges"), operation="charge", idempotent=True
    )

    keys = {
        r.header("Idempotency-Key") for r in fault.requests_for("POST", "/v1/charges")
    }
    assert len(fault.requests) == 3
    assert len(keys) == 1
    (key,) = keys
    assert uuid.UUID(key).version == 4
    assert ProviderCall.objects.get().idempotency_key == key
    assert [r["outcome"] for r in rows_during_backoff] == ["in_progress"] * 2
    assert {r["idempotency_key"] for r in rows_during_backoff} == {key}


def test_each_operation_gets_its_own_key(client, fault):
    fault.route("POST", "/x", respond(200))
    for _ in range(2):
        client.request("POST", fault.url_for("/x"), operation="x", idempotent=False)

    keys = [r.header("Idempotency-Key") for r in fault.requests]
    assert len(set(keys)) == 2


def test_a_callers_key_and_header_name_are_used(client, fault):
    fault.route("POST", "/x", respond(200))

    client.request(
        "POST",
        fault.url_for("/x"),
        operation="x",
        idempotent=True,
        idempotency_key="order-42-capture",
        idempotency_header="X-Idempotency-Token",
    )

    (seen,) = fault.requests
    assert seen.header("X-Idempotency-Token") == "order-42-capture"
    assert seen.header("Idempotency-Key") is None
    assert ProviderCall.objects.get().idempotency_key == "order-42-capture"


def test_safe_methods_carry_no_idempotency_header(client, fault):
    fault.route("GET", "/x", respond(200))
    client.request("GET", fault.url_for("/x"), operation="x", idempotent=True)
    assert fault.requests[0].header("Idempotency-Key") is None


def test_correlation_id_reaches_the_provider_row_and_logs(client, fault, caplog):
    fault.route("GET", "/x", respond(500), respond(200))
    caplog.set_level(logging.INFO, logger="integrations.client")

    with correlation.bind("order-42.req-7"):
        client.request("GET", fault.url_for("/x"), operation="x", idempotent=True)

    assert {r.header("X-Correlation-ID") for r in fault.requests} == {"order-42.req-7"}
    assert ProviderCall.objects.get().correlation_id == "order-42.req-7"
    messages = [r for r in caplog.records if r.name == "integrations.client"]
    assert [r.getMessage() for r in messages] == [
        "provider call retrying",
        "provider call finished",
    ]
    assert {r.correlation_id for r in messages} == {"order-42.req-7"}


def test_a_correlation_id_is_made_when_none_is_bound(client, fault, caplog):
    fault.route("GET", "/x", respond(200))
    caplog.set_level(logging.INFO, logger="integrations.client")

    def call_unbound():
        client.request("GET", fault.url_for("/x"), operation="x", idempotent=True)
        return correlation.get()

    # A fresh context: as in a worker thread before any task bound an id.
    left_behind = contextvars.Context().run(call_unbound)

    sent = fault.requests[0].header("X-Correlation-ID")
    assert sent
    assert ProviderCall.objects.get().correlation_id == sent
    assert caplog.records[-1].correlation_id == sent
    # The id belonged to that operation only, not to whatever runs next.
    assert left_behind is None


def test_row_and_logs_hold_no_body_and_no_secret(client, fault, caplog):
    caplog.set_level(logging.DEBUG)
    fault.route("POST", "/x", respond(402, json={"card": "4242424242424242"}))

    with pytest.raises(Exception, match="402"):
        client.request(
            "POST",
            fault.url_for("/x"),
            operation="charge",
            idempotent=False,
            json={"card_number": "4000000000000002"},
            headers={"Authorization": "Bearer sk_live_topsecret"},
        )

    assert fault.requests[0].header("Authorization") == "Bearer sk_live_topsecret"
    row = ProviderCall.objects.values().get()
    text = " ".join(str(v) for v in row.values()) + caplog.text
    for leaked in ("sk_live_topsecret", "4000000000000002", "4242424242424242"):
        assert leaked not in text
    assert row["outcome"] == "rejected"
    assert row["http_status"] == 402


def test_row_is_written_inside_a_callers_transaction(client, fault):
    fault.route("POST", "/x", respond(500))

    with transaction.atomic(), pytest.raises(Unknown):
        client.request("POST", fault.url_for("/x"), operation="x", idempotent=False)

    call = ProviderCall.objects.get()
    assert (call.outcome, call.attempts) == ("unknown", 1)
    assert call.finished_at >= call.started_at


def test_refused_before_sending_is_one_row_with_zero_attempts(client, fault, account):
    from integrations.breaker import breaker_mode_set

    breaker_mode_set(account=account, mode="forced_open")
    with pytest.raises(NotProcessed):
        client.request("GET", fault.url_for("/x"), operation="x", idempotent=True)

    call = ProviderCall.objects.get()
    assert (call.outcome, call.attempts, call.http_status) == ("not_processed", 0, None)
    assert call.idempotency_key


def sample(name, **labels):
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_metrics_count_calls_errors_attempts_and_latency(client, fault, account):
    fault.route("GET", "/ok", respond(200))
    fault.route("GET", "/bad", respond(500))
    slug = account.slug
    before_ok = sample(
        "switchyard_provider_calls_total",
        account=slug,
        operation="ok",
        outcome="success",
    )

    client.request("GET", fault.url_for("/ok"), operation="ok", idempotent=True)
    with pytest.raises(Unknown):
        client.request("GET", fault.url_for("/bad"), operation="bad", idempotent=True)

    labels = {"account": slug, "operation": "ok", "outcome": "success"}
    assert sample("switchyard_provider_calls_total", **labels) == before_ok + 1
    assert (
        sample(
            "switchyard_provider_call_errors_total",
            account=slug,
            operation="bad",
            outcome="unknown",
            code="server_error",
        )
        == 1
    )
    assert (
        sample("switchyard_provider_call_attempts_total", account=slug, operation="bad")
        == 3
    )
    assert (
        sample(
            "switchyard_provider_call_duration_seconds_count",
            account=slug,
            operation="ok",
        )
        == 1
    )


def test_a_get_is_logged_once_when_it_ends(client, fault, fake_time):
    fault.route("GET", "/x", respond(500), respond(200))
    rows_during_backoff = []

    def sleep(seconds):
        rows_during_backoff.append(ProviderCall.objects.count())
        fake_time.sleep(seconds)

    client._sleep = sleep
    client.request("GET", fault.url_for("/x"), operation="x", idempotent=True)

    assert rows_during_backoff == [0]
    call = ProviderCall.objects.get()
    assert (call.outcome, call.attempts) == ("success", 2)
