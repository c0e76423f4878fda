"""A success undoes only the disable its own failing streak caused (a
failure settled while its answer was on its way): never a disable staff or
a 410 made after that one, which replaces it. Whether a success ends a
streak does not depend on the workers' clocks."""

import contextlib
from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone
from rest_framework.test import APIClient

from integrations.testing.faultserver import respond
from storefront_hooks import services
from storefront_hooks.models import (
    STREAK_DISABLED_PREFIX,
    WebhookEndpoint,
)
from storefront_hooks.services import deliveries
from tests.factories import ApiKeyFactory
from tests.storefront_hooks.cap_setup import made_row
from tests.storefront_hooks.conftest import HOOK_PATH, machine_clock

pytestmark = pytest.mark.django_db(transaction=True)


def _streaking(endpoint, start) -> None:
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
        failing_since=start - timedelta(hours=61)
    )


def test_a_success_leaves_a_staff_disable_made_after_the_streak_disable(
    receiver, make_endpoint, monkeypatch
) -> None:
    """While a 200 is on its way, another worker's 500 disables the endpoint
    for its streak, then staff disable it through the API: the success ends
    the streak but the endpoint stays off, with staff's reason."""
    endpoint, _secret = make_endpoint()
    start = timezone.now()
    _streaking(endpoint, start)
    receiver.route("POST", HOOK_PATH, respond(200), respond(500))
    mine, theirs = made_row(endpoint), made_row(endpoint)
    api = APIClient()
    key = ApiKeyFactory(scopes=["webhooks:manage"])
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {key.raw_key}")
    post = deliveries.delivery_post

    def post_then_others(ep, delivery, *, timestamp):
        attempt = post(ep, delivery, timestamp=timestamp)
        if delivery.pk == mine.pk:
            assert services.delivery_send(delivery_id=theirs.pk, now=start) == "failed"
            url = f"/api/v1/webhook-endpoints/{endpoint.public_id}/"
            r = api.patch(url, {"enabled": False}, format="json")
            assert r.status_code == 200 and r.json()["enabled"] is False
            assert r.json()["disabled_reason"] == "Disabled by the API."
        return attempt

    monkeypatch.setattr(deliveries, "delivery_post", post_then_others)
    assert services.delivery_send(delivery_id=mine.pk, now=start) == "delivered"

    endpoint.refresh_from_db()
    assert not endpoint.enabled, "staff disable was undone by the success"
    assert endpoint.disabled_reason == "Disabled by the API."
    assert endpoint.failing_since is None


def test_a_success_leaves_a_410_settled_after_the_streak_disable(
    receiver, make_endpoint, monkeypatch
) -> None:
    """mine: 200; gone: 410, claimed before the streak disable and settled
    after it; theirs: the 500 that disabled the endpoint for its streak."""
    endpoint, _secret = make_endpoint()
    start = timezone.now()
    _streaking(endpoint, start)
    receiver.route("POST", HOOK_PATH, respond(200), respond(410), respond(500))
    mine, gone, theirs = made_row(endpoint), made_row(endpoint), made_row(endpoint)
    post = deliveries.delivery_post

    def post_nested(ep, delivery, *, timestamp):
        attempt = post(ep, delivery, timestamp=timestamp)
        if delivery.pk == mine.pk:
            services.delivery_send(delivery_id=gone.pk, now=start)
        elif delivery.pk == gone.pk:
            assert services.delivery_send(delivery_id=theirs.pk, now=start) == "failed"
        return attempt

    monkeypatch.setattr(deliveries, "delivery_post", post_nested)
    assert services.delivery_send(delivery_id=mine.pk, now=start) == "delivered"

    gone.refresh_from_db()
    assert gone.last_status_code == 410
    endpoint.refresh_from_db()
    assert not endpoint.enabled, (endpoint.disabled_reason, "410 disable undone")
    assert endpoint.disabled_reason == "The endpoint answered 410 Gone."


def test_a_staff_disable_replaces_a_streak_disable_but_not_another_disable(
    make_endpoint,
) -> None:
    endpoint, _secret = make_endpoint()
    start = timezone.now()
    streak = f"{STREAK_DISABLED_PREFIX}60 hours (last error: http_500)."
    assert services.endpoint_disable(endpoint=endpoint, reason=streak, now=start)
    # A second streak disable keeps the first (the success undoing it
    # matches its time).
    later = start + timedelta(seconds=1)
    assert not services.endpoint_disable(endpoint=endpoint, reason=streak, now=later)
    endpoint.refresh_from_db()
    assert endpoint.disabled_at == start

    assert services.endpoint_disable(endpoint=endpoint, reason="Disabled by ada.")
    assert not services.endpoint_disable(endpoint=endpoint, reason="Disabled by bob.")
    endpoint.refresh_from_db()
    assert (endpoint.enabled, endpoint.disabled_reason) == (False, "Disabled by ada.")
    assert endpoint.disabled_at > start


@pytest.mark.parametrize(
    "in_transaction", [False, True], ids=["relaxed", "caller-transaction"]
)
def test_a_success_ends_a_streak_begun_before_it_whatever_the_clocks(
    two_machines, receiver, make_endpoint, in_transaction
) -> None:
    """A worker fails, then one whose machine is 5 s behind succeeds: its
    attempt began after the failure's, so the streak is over."""
    endpoint, _secret = make_endpoint()
    receiver.route("POST", HOOK_PATH, respond(500), respond(200))
    theirs, mine = made_row(endpoint), made_row(endpoint)
    assert services.delivery_send(delivery_id=theirs.pk) == "failed"

    with (
        machine_clock(-5),
        transaction.atomic() if in_transaction else contextlib.nullcontext(),
    ):
        assert services.delivery_send(delivery_id=mine.pk) == "delivered"

    endpoint.refresh_from_db()
    assert endpoint.failing_since is None


def test_a_failure_begun_after_a_success_keeps_its_streak_whatever_the_clocks(
    two_machines, receiver, make_endpoint, monkeypatch
) -> None:
    """A worker whose machine is 5 s ahead sends a 200; while it is on its
    way another worker's attempt begins and fails. That failure may have
    been answered after the 200, so the success's settle keeps its streak."""
    endpoint, _secret = make_endpoint()
    receiver.route("POST", HOOK_PATH, respond(200), respond(500))
    mine, theirs = made_row(endpoint), made_row(endpoint)
    post = deliveries.delivery_post

    def post_then_other_worker_fails(ep, delivery, *, timestamp):
        attempt = post(ep, delivery, timestamp=timestamp)
        if delivery.pk == mine.pk:
            with machine_clock(0):
                assert services.delivery_send(delivery_id=theirs.pk) == "failed"
        return attempt

    monkeypatch.setattr(deliveries, "delivery_post", post_then_other_worker_fails)
    with machine_clock(5):
        assert services.delivery_send(delivery_id=mine.pk) == "delivered"

    endpoint.refresh_from_db()
    theirs.refresh_from_db()
    assert endpoint.failing_since is not None
    assert endpoint.failing_since == theirs.claimed_at


def test_a_success_leaves_a_streak_disable_begun_after_it_whatever_the_clocks(
    two_machines, settings, receiver, make_endpoint, monkeypatch
) -> None:
    """A worker whose machine is 5 s ahead sends a 200; while it is on its
    way another worker's attempt begins, fails and disables the endpoint for
    its streak (0 hours: its first failure). That streak is not the
    success's to end, so its disable stays."""
    settings.STOREFRONT_WEBHOOK_DISABLE_AFTER_HOURS = 0
    endpoint, _secret = make_endpoint()
    receiver.route("POST", HOOK_PATH, respond(200), respond(500))
    mine, theirs = made_row(endpoint), made_row(endpoint)
    post = deliveries.delivery_post

    def post_then_other_worker_disables(ep, delivery, *, timestamp):
        attempt = post(ep, delivery, timestamp=timestamp)
        if delivery.pk == mine.pk:
            with machine_clock(0):
                assert services.delivery_send(delivery_id=theirs.pk) == "failed"
        return attempt

    monkeypatch.setattr(deliveries, "delivery_post", post_then_other_worker_disables)
    with machine_clock(5):
        assert services.delivery_send(delivery_id=mine.pk) == "delivered"

    endpoint.refresh_from_db()
    assert not endpoint.enabled
    assert endpoint.disabled_reason.startswith(STREAK_DISABLED_PREFIX)
