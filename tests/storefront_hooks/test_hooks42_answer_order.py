"""hooks42 item 2: which answer came last (a 429's Retry-After or a success
that ends its hold) is decided by when each answer was received, not by
its claim's time plus the POST's duration: a delivery held up between its
claim and its POST (a queue, DNS, a pool's wait) was answered later than
that sum says."""

import time

import pytest

from integrations.testing.faultserver import respond
from storefront_hooks import services, transport
from tests.storefront_hooks.conftest import HOOK_PATH
from tests.storefront_hooks.hold_setup import (
    hold_settings,
    releases_seen,
    settles_seen,
    waiting_deliveries,
)

# Longer than a POST to the local receiver takes, on a loaded machine too.
DELAY_SECONDS = 0.3


@pytest.fixture(autouse=True)
def _retry_after_settings(settings) -> None:
    hold_settings(settings)


def _success_delayed_past_a_429(receiver, make_endpoint, monkeypatch):
    """Row ``late`` is claimed, then held up before its POST; meanwhile
    ``other`` is claimed, answered 429 with a Retry-After and settled; then
    ``late`` is answered 200: after the 429."""
    receiver.route(
        "POST", HOOK_PATH, respond(429, headers={"Retry-After": "300"}), respond(200)
    )
    endpoint = make_endpoint()[0]
    late, other = waiting_deliveries(2, endpoint)
    real_headers = transport.signed_headers

    def held_up(**kwargs):
        if kwargs["msg_id"] == late.public_id:
            time.sleep(DELAY_SECONDS)
            assert services.delivery_send(delivery_id=other.pk) == "failed"
            endpoint.refresh_from_db()
            assert endpoint.retry_after_until is not None  # the 429 held it
        return real_headers(**kwargs)

    monkeypatch.setattr(transport, "signed_headers", held_up)
    assert services.delivery_send(delivery_id=late.pk) == "delivered"
    endpoint.refresh_from_db()
    return endpoint


def _ended(endpoint, settles, path, releases) -> None:
    """The hold ended, by ``path``'s settle, and said so: the rows it held
    are released (services.hold.held_rows_released)."""
    assert endpoint.retry_after_until is None
    assert settles[-1] == (path, True)
    assert releases == ["a success answered after it"]


@pytest.mark.django_db
def test_a_success_answered_after_the_429_ends_the_hold(
    receiver, make_endpoint, monkeypatch
) -> None:
    settles, releases = settles_seen(monkeypatch), releases_seen(monkeypatch)
    endpoint = _success_delayed_past_a_429(receiver, make_endpoint, monkeypatch)
    _ended(endpoint, settles, "orm", releases)


@pytest.mark.django_db(transaction=True)
def test_on_the_one_statement_settle_too(receiver, make_endpoint, monkeypatch) -> None:
    # Outside a test's transaction the success is settled by the relaxed
    # statement (PostgreSQL), which ends the hold in SQL.
    settles, releases = settles_seen(monkeypatch), releases_seen(monkeypatch)
    endpoint = _success_delayed_past_a_429(receiver, make_endpoint, monkeypatch)
    _ended(endpoint, settles, "one statement", releases)
