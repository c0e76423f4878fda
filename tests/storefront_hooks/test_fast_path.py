"""The delivery's fast path, outside any transaction (as a worker runs it):
on PostgreSQL the claim loads the row with its endpoint and account in one
relaxed statement and a success settles in one; elsewhere the ORM path. Both
must leave the rows as the transactional path does."""

import contextlib
from datetime import timedelta

import pytest
from django.db import OperationalError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from integrations.models import DeliveryStatus, ProviderCall
from integrations.testing.faultserver import respond
from storefront_hooks import services
from storefront_hooks.models import WebhookDelivery
from storefront_hooks.services import deliveries
from storefront_hooks.services.claim import delivery_claim
from storefront_hooks.services.deliveries import render_body
from tests.pg import drop_pooled_connection
from tests.storefront_hooks.conftest import HOOK_PATH

pytestmark = pytest.mark.django_db(transaction=True)


def _row(endpoint) -> WebhookDelivery:
    # Made directly: with Q_SYNC an emitted event would be sent at commit.
    body = render_body("payment.captured", timezone.now(), {"order_id": "ord_1"})
    return WebhookDelivery.objects.create(
        endpoint=endpoint, event_type="payment.captured", body=body
    )


def test_claim_loads_the_row_endpoint_and_account_as_the_orm_does(
    make_endpoint,
) -> None:
    endpoint, _secret = make_endpoint(event_types=["payment.*", "email.*"])
    row = _row(endpoint)
    now = timezone.now()

    claimed = delivery_claim(row.pk, now)

    stored = WebhookDelivery.objects.select_related("endpoint__account").get(pk=row.pk)
    assert claimed is not None
    assert (claimed.status, claimed.attempts) == (DeliveryStatus.DELIVERING, 1)
    assert claimed.claimed_at == stored.claimed_at == now
    assert claimed.body == stored.body
    assert claimed.endpoint.event_types == ["payment.*", "email.*"]
    assert claimed.endpoint.signing_secrets() == endpoint.signing_secrets()
    assert claimed.endpoint.account.settings == stored.endpoint.account.settings
    assert claimed.endpoint.account.pk == endpoint.account_id
    # Claimed once: a second worker handed the same row gets nothing.
    assert delivery_claim(row.pk, now) is None


def test_a_disabled_endpoints_row_is_not_claimed(make_endpoint) -> None:
    endpoint, _secret = make_endpoint()
    row = _row(endpoint)
    services.endpoint_disable(endpoint=endpoint, reason="test")

    assert delivery_claim(row.pk, timezone.now()) is None
    row.refresh_from_db()
    assert (row.status, row.attempts) == (DeliveryStatus.PENDING, 0)


def test_success_and_failure_settle_outside_a_transaction(
    receiver, make_endpoint
) -> None:
    endpoint, _secret = make_endpoint()
    receiver.route("POST", HOOK_PATH, respond(500), respond(200))
    row = _row(endpoint)

    assert services.delivery_send(delivery_id=row.pk) == DeliveryStatus.FAILED
    row.refresh_from_db()
    assert row.next_attempt_at is not None and row.last_status_code == 500
    WebhookDelivery.objects.filter(pk=row.pk).update(next_attempt_at=timezone.now())
    assert services.delivery_send(delivery_id=row.pk) == DeliveryStatus.DELIVERED

    row.refresh_from_db()
    assert (row.status, row.attempts, row.last_status_code) == ("delivered", 2, 200)
    assert row.next_attempt_at is None and row.last_error == ""
    endpoint.refresh_from_db()
    assert endpoint.failing_since is None
    calls = ProviderCall.objects.filter(account=endpoint.account)
    # The key is the delivery row's; its call-log rows are written after.
    assert {c.idempotency_key for c in calls} == {row.public_id}
    assert sorted(c.http_status for c in calls) == [200, 500]


@pytest.mark.parametrize(
    "in_transaction", [False, True], ids=["relaxed", "caller-transaction"]
)
def test_a_success_ends_a_failing_streak_another_worker_began_meanwhile(
    settings, receiver, make_endpoint, monkeypatch, in_transaction
) -> None:
    settings.STOREFRONT_WEBHOOK_DISABLE_AFTER_HOURS = 1
    endpoint, _secret = make_endpoint()
    # This worker's POST succeeds; the other worker's, made while this one's
    # answer was on its way (its endpoint loaded without a streak), fails.
    receiver.route("POST", HOOK_PATH, respond(200), respond(500))
    mine, theirs, later = _row(endpoint), _row(endpoint), _row(endpoint)
    start = timezone.now()
    post = deliveries.delivery_post

    def post_then_other_worker_fails(endpoint, delivery, *, timestamp):
        attempt = post(endpoint, delivery, timestamp=timestamp)
        if delivery.pk == mine.pk:
            sent = services.delivery_send(delivery_id=theirs.pk, now=start)
            assert sent == DeliveryStatus.FAILED
        return attempt

    monkeypatch.setattr(deliveries, "delivery_post", post_then_other_worker_fails)
    with transaction.atomic() if in_transaction else contextlib.nullcontext():
        sent = services.delivery_send(delivery_id=mine.pk, now=start)
    assert sent == DeliveryStatus.DELIVERED

    # The success came after that failure: the endpoint is not failing.
    endpoint.refresh_from_db()
    assert endpoint.failing_since is None
    # So a failure two hours on starts a streak; it does not end one that
    # a success broke (which would disable the endpoint).
    at = start + timedelta(hours=2)
    assert services.delivery_send(delivery_id=later.pk, now=at) == "failed"
    endpoint.refresh_from_db()
    assert endpoint.enabled and endpoint.failing_since == at


def test_a_success_ends_a_failing_streak_in_its_one_settle_statement(
    receiver, make_endpoint
) -> None:
    endpoint, _secret = make_endpoint()
    receiver.route("POST", HOOK_PATH, respond(200))
    row = _row(endpoint)
    type(endpoint).objects.filter(pk=endpoint.pk).update(
        failing_since=timezone.now() - timedelta(hours=1)
    )

    with CaptureQueriesContext(connection) as queries:
        assert services.delivery_send(delivery_id=row.pk) == DeliveryStatus.DELIVERED

    endpoint.refresh_from_db()
    assert endpoint.failing_since is None
    # The claim and the settle, each one statement; nothing else on the rows.
    tables = (WebhookDelivery._meta.db_table, type(endpoint)._meta.db_table)
    ours = [
        q["sql"] for q in queries.captured_queries if any(t in q["sql"] for t in tables)
    ]
    assert len(ours) == 2
    assert ours[1].startswith("WITH settled AS (UPDATE")


def _drop_connection_after_post(monkeypatch, times: int = 1) -> None:
    """The database drops this worker's connection once its POST is back (a
    restart, a failover): the settle's first statement fails."""
    post = deliveries.delivery_post
    drops = iter(range(times))

    def post_then_drop(endpoint, delivery, *, timestamp):
        attempt = post(endpoint, delivery, timestamp=timestamp)
        if next(drops, None) is not None:
            drop_pooled_connection()
        return attempt

    monkeypatch.setattr(deliveries, "delivery_post", post_then_drop)


def test_a_success_whose_settle_lost_its_connection_is_settled_not_sent_again(
    receiver, make_endpoint, monkeypatch, caplog
) -> None:
    endpoint, _secret = make_endpoint()
    receiver.route("POST", HOOK_PATH, respond(200))
    row = _row(endpoint)
    start = timezone.now()
    _drop_connection_after_post(monkeypatch)

    with caplog.at_level("WARNING", logger="storefront_hooks.services.deliveries"):
        sent = services.delivery_send(delivery_id=row.pk, now=start)

    assert sent == DeliveryStatus.DELIVERED
    row.refresh_from_db()
    assert (row.status, row.attempts, row.last_error) == ("delivered", 1, "")
    assert [r.getMessage() for r in caplog.records] == [
        "webhook delivery settle retried"
    ]
    # Nothing for the sweep to take back once the lease is over: not sent
    # again, and the endpoint's answer is not counted as a lost worker.
    services.deliveries_sweep(now=start + timedelta(seconds=121))
    assert len(receiver.requests_for("POST", HOOK_PATH)) == 1
    endpoint.refresh_from_db()
    assert endpoint.failing_since is None


def test_a_settle_refused_twice_is_failed_on_our_side_and_sent_again_later(
    receiver, make_endpoint, monkeypatch
) -> None:
    endpoint, _secret = make_endpoint()
    receiver.route("POST", HOOK_PATH, respond(200))
    row = _row(endpoint)
    tries: list[int] = []

    def settle(delivery, attempt, now):
        tries.append(delivery.pk)
        raise OperationalError("deadlock detected")

    monkeypatch.setattr(deliveries, "_settle", settle)

    assert services.delivery_send(delivery_id=row.pk) == DeliveryStatus.FAILED
    assert tries == [row.pk, row.pk]
    row.refresh_from_db()
    # At least once: due again, same webhook-id (receivers deduplicate).
    assert row.last_error.startswith(deliveries.OUR_SIDE_ERROR + "OperationalError")
    assert row.next_attempt_at is not None
