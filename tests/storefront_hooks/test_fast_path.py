"""The delivery's fast path, outside any transaction (as a worker runs it):
on PostgreSQL the claim loads the row with its endpoint and account in one
relaxed statement and a success settles in one; elsewhere the ORM path. Both
must leave the rows as the transactional path does."""

import contextlib
import logging
import random
import threading
from datetime import timedelta

import pytest
from django.db import OperationalError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from integrations.models import DeliveryStatus, ProviderCall
from integrations.testing.faultserver import respond
from storefront_hooks import services
from storefront_hooks.models import WebhookDelivery, WebhookEndpoint
from storefront_hooks.services import deliveries, sweep
from storefront_hooks.services import rows as rows_module
from storefront_hooks.services.claim import delivery_claim
from tests.pg import drop_pooled_connection
from tests.storefront_hooks.cap_setup import made_row
from tests.storefront_hooks.conftest import HOOK_PATH

pytestmark = pytest.mark.django_db(transaction=True)


def test_claim_loads_the_row_endpoint_and_account_as_the_orm_does(
    make_endpoint,
) -> None:
    endpoint, _secret = make_endpoint(event_types=["payment.*", "email.*"])
    row = made_row(endpoint)
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
    row = made_row(endpoint)
    services.endpoint_disable(endpoint=endpoint, reason="test")

    assert delivery_claim(row.pk, timezone.now()) is None
    row.refresh_from_db()
    assert (row.status, row.attempts) == (DeliveryStatus.PENDING, 0)


def test_success_and_failure_settle_outside_a_transaction(
    receiver, make_endpoint
) -> None:
    endpoint, _secret = make_endpoint()
    receiver.route("POST", HOOK_PATH, respond(500), respond(200))
    row = made_row(endpoint)

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
    # This worker's POST succeeds. The other worker's attempt began a second
    # before this one's (its endpoint loaded without a streak) and failed;
    # its failure is settled while this one's answer is on its way. (One
    # that began after this attempt keeps its streak: the test below.)
    receiver.route("POST", HOOK_PATH, respond(200), respond(500))
    mine, theirs, later = made_row(endpoint), made_row(endpoint), made_row(endpoint)
    start = timezone.now()
    post = deliveries.delivery_post

    def post_then_other_worker_fails(endpoint, delivery, *, timestamp):
        attempt = post(endpoint, delivery, timestamp=timestamp)
        if delivery.pk == mine.pk:
            earlier = start - timedelta(seconds=1)
            sent = services.delivery_send(delivery_id=theirs.pk, now=earlier)
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


def _other_worker_answers_after_mine(monkeypatch, mine, theirs, now, sent) -> None:
    """Another worker sends ``theirs`` (its attempt made at ``now``) after
    this worker's POST of ``mine`` came back, and settles it before this one
    settles: its answer is the endpoint's latest."""
    post = deliveries.delivery_post

    def post_then_other_worker_sends(endpoint, delivery, *, timestamp):
        attempt = post(endpoint, delivery, timestamp=timestamp)
        if delivery.pk == mine.pk:
            assert services.delivery_send(delivery_id=theirs.pk, now=now) == sent
        return attempt

    monkeypatch.setattr(deliveries, "delivery_post", post_then_other_worker_sends)


def test_a_failure_answered_after_a_success_keeps_its_streak(
    settings, receiver, make_endpoint, monkeypatch
) -> None:
    """The other worker's 500 came after this worker's 200: "no success for N
    hours" holds from it, so the success's later settle keeps its streak and
    a failure two hours on (N=1) disables the endpoint."""
    settings.STOREFRONT_WEBHOOK_DISABLE_AFTER_HOURS = 1
    endpoint, _secret = make_endpoint()
    receiver.route("POST", HOOK_PATH, respond(200), respond(500))
    mine, theirs, later = made_row(endpoint), made_row(endpoint), made_row(endpoint)
    start = timezone.now()
    _other_worker_answers_after_mine(monkeypatch, mine, theirs, start, "failed")

    assert services.delivery_send(delivery_id=mine.pk, now=start) == "delivered"
    endpoint.refresh_from_db()
    assert endpoint.failing_since == start
    services.delivery_send(delivery_id=later.pk, now=start + timedelta(hours=2))

    endpoint.refresh_from_db()
    assert not endpoint.enabled


@pytest.mark.parametrize(
    "in_transaction", [False, True], ids=["relaxed", "caller-transaction"]
)
def test_a_success_undoes_the_disable_a_failure_settled_meanwhile_made(
    receiver, make_endpoint, monkeypatch, in_transaction
) -> None:
    """The endpoint failed for 61 hours, then answered 200. Another worker's
    500, settled before that success, disabled it for "every delivery failed
    for 60 hours": the success proves otherwise, so its settle ends the
    streak and that disable, and sends what waited meanwhile."""
    endpoint, _secret = make_endpoint()
    start = timezone.now()
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
        failing_since=start - timedelta(hours=61)
    )
    receiver.route("POST", HOOK_PATH, respond(200), respond(500))
    mine, theirs, waiting = made_row(endpoint), made_row(endpoint), made_row(endpoint)
    _other_worker_answers_after_mine(monkeypatch, mine, theirs, start, "failed")
    enqueued: list[int] = []
    monkeypatch.setattr(
        "storefront_hooks.services.endpoints.enqueue_on_commit", enqueued.append
    )

    with transaction.atomic() if in_transaction else contextlib.nullcontext():
        sent = services.delivery_send(delivery_id=mine.pk, now=start)
    assert sent == "delivered"

    endpoint.refresh_from_db()
    assert endpoint.failing_since is None
    assert endpoint.enabled, endpoint.disabled_reason
    assert (endpoint.disabled_reason, endpoint.disabled_at) == ("", None)
    assert enqueued == [waiting.pk]


def test_a_success_leaves_a_410_disable_settled_meanwhile(
    receiver, make_endpoint, monkeypatch
) -> None:
    endpoint, _secret = make_endpoint()
    start = timezone.now()
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
        failing_since=start - timedelta(hours=61)
    )
    receiver.route("POST", HOOK_PATH, respond(200), respond(410))
    mine, theirs = made_row(endpoint), made_row(endpoint)
    _other_worker_answers_after_mine(monkeypatch, mine, theirs, start, "failed")

    assert services.delivery_send(delivery_id=mine.pk, now=start) == "delivered"

    endpoint.refresh_from_db()
    assert not endpoint.enabled
    assert endpoint.disabled_reason == "The endpoint answered 410 Gone."


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="PostgreSQL's one-statement settle"
)
def test_a_success_ends_a_failing_streak_in_its_one_settle_statement(
    receiver, make_endpoint
) -> None:
    endpoint, _secret = make_endpoint()
    receiver.route("POST", HOOK_PATH, respond(200))
    row = made_row(endpoint)
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


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="PostgreSQL connection state (SHOW)"
)
def test_a_success_whose_settle_lost_its_connection_is_settled_not_sent_again(
    receiver, make_endpoint, monkeypatch, caplog
) -> None:
    endpoint, _secret = make_endpoint()
    receiver.route("POST", HOOK_PATH, respond(200))
    row = made_row(endpoint)
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
    row = made_row(endpoint)
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


def test_a_settle_that_committed_but_lost_its_answer_reports_delivered(
    receiver, make_endpoint, monkeypatch, caplog
) -> None:
    """The relaxed settle committed, then the connection dropped before its
    answer came back: the retry finds the row delivered under this claim
    (its own commit), not a claim the sweeper took."""
    endpoint, _secret = make_endpoint()
    receiver.route("POST", HOOK_PATH, respond(200))
    row = made_row(endpoint)
    real = rows_module._relaxed_delivered
    calls: list[int] = []

    def committed_then_dropped(row, *args):
        calls.append(row.pk)
        done = real(row, *args)
        if len(calls) == 1:
            raise OperationalError("server closed the connection unexpectedly")
        return done

    monkeypatch.setattr(rows_module, "_relaxed_delivered", committed_then_dropped)
    with caplog.at_level(logging.INFO, logger="storefront_hooks.services.deliveries"):
        sent = services.delivery_send(delivery_id=row.pk)

    row.refresh_from_db()
    assert row.status == "delivered"
    messages = [r.getMessage() for r in caplog.records]
    assert "webhook delivery claim lost" not in messages
    assert sent == DeliveryStatus.DELIVERED


def test_a_2xx_whose_body_has_a_nul_byte_is_delivered_not_sent_again(
    receiver, make_endpoint
) -> None:
    """PostgreSQL text cannot hold NUL: the excerpt is stored with it
    replaced, so the success is not 'failed on our side' and sent again."""
    endpoint, _secret = make_endpoint()
    receiver.route("POST", HOOK_PATH, respond(200, body=b"ok\x00"))
    row = made_row(endpoint)

    sent = services.delivery_send(delivery_id=row.pk)

    row.refresh_from_db()
    assert (sent, row.status, row.last_error) == ("delivered", "delivered", "")
    assert row.last_response == "ok\ufffd"


def test_an_endpoint_answering_500_with_a_nul_byte_counts_as_failing(
    receiver, make_endpoint
) -> None:
    """A 500 is the endpoint's failure (its streak, in time its disable),
    not ours, whatever bytes its body holds."""
    endpoint, _secret = make_endpoint()
    receiver.route("POST", HOOK_PATH, respond(500, body=b"boom\x00"))
    row = made_row(endpoint)
    now = timezone.now()

    services.delivery_send(delivery_id=row.pk, now=now)

    row.refresh_from_db()
    endpoint.refresh_from_db()
    assert row.last_status_code == 500
    assert not row.last_error.startswith(deliveries.OUR_SIDE_ERROR)
    assert endpoint.failing_since == now


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="PostgreSQL's relaxed commit (SET LOCAL)"
)
def test_no_relaxed_statement_runs_in_a_transaction_opened_by_hand(
    receiver, make_endpoint
) -> None:
    """Autocommit turned off by the caller (not ``atomic``): the claim and
    the settle take the ORM path, so the caller's commit is not relaxed."""
    endpoint, _secret = make_endpoint()
    receiver.route("POST", HOOK_PATH, respond(200))
    row = made_row(endpoint)
    transaction.set_autocommit(False)
    try:
        with CaptureQueriesContext(connection) as queries:
            assert services.delivery_send(delivery_id=row.pk) == "delivered"
        with connection.cursor() as cursor:
            cursor.execute("SHOW synchronous_commit")
            relaxed = cursor.fetchone()[0] == "off"
        transaction.commit()
    finally:
        transaction.set_autocommit(True)
    assert not relaxed
    assert not any("synchronous_commit" in q["sql"] for q in queries)
    row.refresh_from_db()
    assert row.status == "delivered"


def test_an_endpoint_deleted_between_post_and_settle_ends_the_attempt_quietly(
    receiver, make_endpoint, monkeypatch
) -> None:
    endpoint, _secret = make_endpoint()
    receiver.route("POST", HOOK_PATH, respond(200), respond(500))
    row, row2 = made_row(endpoint), made_row(endpoint)
    post = deliveries.delivery_post

    def post_then_delete(endpoint, delivery, *, timestamp):
        attempt = post(endpoint, delivery, timestamp=timestamp)
        services.endpoint_delete(endpoint=WebhookEndpoint.objects.get(pk=endpoint.pk))
        return attempt

    monkeypatch.setattr(deliveries, "delivery_post", post_then_delete)
    assert services.delivery_send(delivery_id=row.pk) is None
    assert not WebhookDelivery.objects.filter(pk=row2.pk).exists()


@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="concurrent writers: SQLite locks the table",
)
def test_concurrent_settles_and_sweeps_on_one_endpoint(receiver, make_endpoint) -> None:
    """Successes and failures of one endpoint settled by 6 threads (own
    connections) while a sweeper runs: nothing deadlocks past the retry,
    nothing is left claimed or 'ours'."""
    endpoint, _secret = make_endpoint()
    answers = [respond(random.choice([200, 500])) for _ in range(400)]
    receiver.route("POST", HOOK_PATH, *answers)
    ids = [made_row(endpoint).pk for _ in range(120)]
    errors: list[BaseException] = []
    todo = list(ids)
    lock = threading.Lock()

    def work() -> None:
        try:
            while True:
                with lock:
                    if not todo:
                        return
                    pk = todo.pop()
                services.delivery_send(delivery_id=pk)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    def sweep() -> None:
        try:
            for _ in range(20):
                services.deliveries_sweep()
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=work) for _ in range(6)]
    threads.append(threading.Thread(target=sweep))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    rows = WebhookDelivery.objects.filter(pk__in=ids)
    assert not rows.filter(status="delivering").exists()
    assert not rows.filter(last_error__startswith=deliveries.OUR_SIDE_ERROR).exists()


@pytest.mark.parametrize("max_attempts", [1, 12], ids=["last-attempt", "early"])
def test_a_success_settled_after_the_sweeper_took_it_back_is_delivered(
    settings, receiver, make_endpoint, monkeypatch, max_attempts
) -> None:
    """The worker was slower than its lease: the sweeper counted its attempt
    as lost (failed, or dead on the last attempt) before its 200 was
    settled. Not claimed again since, the row is delivered, not sent again
    nor left dead."""
    settings.STOREFRONT_WEBHOOK_MAX_ATTEMPTS = max_attempts
    endpoint, _secret = make_endpoint()
    receiver.route("POST", HOOK_PATH, respond(200))
    row = made_row(endpoint)
    start = timezone.now()
    post = deliveries.delivery_post

    def post_past_the_lease(endpoint, delivery, *, timestamp):
        attempt = post(endpoint, delivery, timestamp=timestamp)
        services.deliveries_sweep(now=start + timedelta(seconds=121))
        return attempt

    monkeypatch.setattr(deliveries, "delivery_post", post_past_the_lease)
    # The sweep's enqueue (the retry due at once) not yet run by a worker.
    monkeypatch.setattr(sweep, "enqueue", lambda delivery_id: None)

    assert services.delivery_send(delivery_id=row.pk, now=start) == "delivered"

    row.refresh_from_db()
    assert (row.status, row.last_error, row.next_attempt_at) == ("delivered", "", None)
    assert row.last_status_code == 200
    monkeypatch.undo()
    assert services.delivery_send(delivery_id=row.pk) is None
    assert len(receiver.requests_for("POST", HOOK_PATH)) == 1


@pytest.mark.parametrize(
    "in_transaction", [False, True], ids=["relaxed", "caller-transaction"]
)
def test_a_success_settled_after_the_sweeper_took_it_back_ends_its_streak(
    settings, receiver, make_endpoint, monkeypatch, in_transaction
) -> None:
    """A healthy endpoint; the sweeper counted this slow worker's attempt as
    lost, beginning a streak as of its claim. The attempt's 200 ends that
    streak: one failure hours later begins a new one, disabling nothing."""
    settings.STOREFRONT_WEBHOOK_DISABLE_AFTER_HOURS = 1
    endpoint, _secret = make_endpoint()
    receiver.route("POST", HOOK_PATH, respond(200), respond(500))
    row, later = made_row(endpoint), made_row(endpoint)
    start = timezone.now()
    post = deliveries.delivery_post

    def post_past_the_lease(ep, delivery, *, timestamp):
        attempt = post(ep, delivery, timestamp=timestamp)
        services.deliveries_sweep(now=start + timedelta(seconds=121))
        return attempt

    monkeypatch.setattr(deliveries, "delivery_post", post_past_the_lease)
    monkeypatch.setattr(sweep, "enqueue", lambda delivery_id: None)
    with transaction.atomic() if in_transaction else contextlib.nullcontext():
        assert services.delivery_send(delivery_id=row.pk, now=start) == "delivered"
    endpoint.refresh_from_db()
    assert endpoint.failing_since is None

    monkeypatch.undo()
    at = start + timedelta(hours=2)
    assert services.delivery_send(delivery_id=later.pk, now=at) == "failed"
    endpoint.refresh_from_db()
    assert endpoint.enabled, endpoint.disabled_reason
    assert endpoint.failing_since == at


def test_a_success_whose_settle_is_refused_twice_on_its_last_attempt_is_not_dead(
    settings, receiver, make_endpoint, monkeypatch
) -> None:
    """It was delivered: sent again later (at least once), its row showing
    this attempt's 200, never dead as if it had not arrived."""
    settings.STOREFRONT_WEBHOOK_MAX_ATTEMPTS = 1
    endpoint, _secret = make_endpoint()
    receiver.route("POST", HOOK_PATH, respond(200))
    row = made_row(endpoint)

    def settle(delivery, attempt, now):
        raise OperationalError("deadlock detected")

    monkeypatch.setattr(deliveries, "_settle", settle)

    assert services.delivery_send(delivery_id=row.pk) == DeliveryStatus.FAILED
    row.refresh_from_db()
    assert row.last_status_code == 200 and row.next_attempt_at is not None
    assert row.last_error.startswith(deliveries.OUR_SIDE_ERROR)
