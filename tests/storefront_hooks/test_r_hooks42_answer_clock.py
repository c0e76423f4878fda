"""r-hooks42: an answer's time is the claim's database time plus what the
worker measured from the claim (hooks42). A wait before the claim's
statement reaches the database (a connection opened, or checked with
CONN_HEALTH_CHECKS, at the task's first statement) is not time after the
claim: counted in, a success answered before a 429 reads as answered after
it and ends the hold the receiver asked for."""

import time
from datetime import timedelta

import pytest
from django.db import connection

from integrations.testing.faultserver import respond
from storefront_hooks import services
from storefront_hooks.models import WebhookDelivery
from storefront_hooks.services import deliveries as deliveries_module
from tests.storefront_hooks.conftest import HOOK_PATH
from tests.storefront_hooks.hold_setup import (
    hold_settings,
    settles_seen,
    waiting_deliveries,
)

# A slow connect (another network, TLS): longer than the 429's POST takes.
CONNECT_SECONDS = 0.4


@pytest.fixture(autouse=True)
def _retry_after_settings(settings) -> None:
    hold_settings(settings)


def _success_before_a_429_after_a_slow_connect(receiver, make_endpoint, monkeypatch):
    """Row ``first``'s worker opens its connection slowly, claims, is
    answered 200; then ``second`` is claimed, answered 429 with a
    Retry-After and settled; then ``first`` is settled: its 200 came before
    the 429."""
    receiver.route(
        "POST",
        HOOK_PATH,
        respond(200),
        respond(429, headers={"Retry-After": "300"}),
        respond(200),
    )
    endpoint = make_endpoint()[0]
    first, second, _ = waiting_deliveries(3, endpoint)
    real_connect, real_post = (
        connection.ensure_connection,
        deliveries_module.delivery_post,
    )
    slow = [True]

    def connect_slowly():
        if slow.pop() if slow else False:
            time.sleep(CONNECT_SECONDS)
        return real_connect()

    def then_the_429(endpoint_, delivery, **kwargs):
        attempt = real_post(endpoint_, delivery, **kwargs)
        if delivery.pk == first.pk:
            assert services.delivery_send(delivery_id=second.pk) == "failed"
        return attempt

    monkeypatch.setattr(connection, "ensure_connection", connect_slowly)
    monkeypatch.setattr(deliveries_module, "delivery_post", then_the_429)
    assert services.delivery_send(delivery_id=first.pk) == "delivered"
    assert not slow  # the slow connect happened in first's send
    endpoint.refresh_from_db()
    return endpoint


def _left_then_ended(endpoint, settles, path) -> None:
    """The hold stands after the success answered before the 429; the next
    success (once the wait asked for is over), answered after it, ends it on
    the same path: a path that ends no hold at all passes the first half."""
    assert endpoint.retry_after_until is not None
    assert settles == [(path, False)]
    third = WebhookDelivery.objects.filter(endpoint=endpoint).order_by("pk").last()
    after = endpoint.retry_after_until + timedelta(seconds=1)
    assert services.delivery_send(delivery_id=third.pk, now=after) == "delivered"
    endpoint.refresh_from_db()
    assert endpoint.retry_after_until is None
    assert settles == [(path, False), (path, True)]


@pytest.mark.django_db
def test_a_success_answered_before_the_429_leaves_the_hold(
    receiver, make_endpoint, monkeypatch
) -> None:
    settles = settles_seen(monkeypatch)
    endpoint = _success_before_a_429_after_a_slow_connect(
        receiver, make_endpoint, monkeypatch
    )
    _left_then_ended(endpoint, settles, "orm")


@pytest.mark.django_db(transaction=True)
def test_on_the_one_statement_settle_too(receiver, make_endpoint, monkeypatch) -> None:
    settles = settles_seen(monkeypatch)
    endpoint = _success_before_a_429_after_a_slow_connect(
        receiver, make_endpoint, monkeypatch
    )
    _left_then_ended(endpoint, settles, "one statement")
