"""The sweep's due rows, one query for all endpoints: in turns (each
endpoint's oldest, then each one's next; older first within a turn, then by
id), only enabled endpoints whose breaker staff did not force open, only
rows that are due; its statements' parameters do not grow with the number of
endpoints (PostgreSQL takes at most 65,535), and on PostgreSQL it reads at
most a batch of rows per endpoint, however long an endpoint's backlog."""

import json
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from integrations.breaker import breaker_mode_set
from integrations.models import DeliveryStatus
from integrations.models.accounts import BreakerMode
from storefront_hooks import services
from storefront_hooks.models import WebhookDelivery
from storefront_hooks.services.deliveries import render_body
from tests.storefront_hooks.cap_setup import swept

pytestmark = [pytest.mark.django_db, pytest.mark.redis]


@pytest.fixture
def queued(monkeypatch) -> list[int]:
    return swept(monkeypatch)


def _rows(endpoint, ages_seconds: list[float], **fields) -> list[int]:
    """Rows made ``ages_seconds`` ago, due 5 s ago unless ``fields`` say."""
    body = render_body("payment.captured", timezone.now(), {"order_id": "ord_1"})
    now = timezone.now()
    fields.setdefault("status", DeliveryStatus.FAILED)
    fields.setdefault("attempts", 1)
    fields.setdefault("next_attempt_at", now - timedelta(seconds=5))
    # Each row made with its age: an UPDATE per row after the insert was
    # 3,000 round trips (most of the long-backlog test's time).
    made = WebhookDelivery.objects.bulk_create(
        WebhookDelivery(
            endpoint=endpoint,
            event_type="payment.captured",
            body=body,
            created_at=now - timedelta(seconds=age),
            **fields,
        )
        for age in ages_seconds
    )
    return [row.pk for row in made]


class _Params:
    """Each statement's SQL and how many parameters it was sent with."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, int]] = []
        self.calls: list[tuple[str, tuple]] = []

    def __call__(self, execute, sql, params, many, context):
        self.seen.append((sql, len(params or ())))
        self.calls.append((sql, tuple(params or ())))
        return execute(sql, params, many, context)


def test_the_order_is_turn_then_age_then_id(settings, make_endpoint, queued):
    settings.STOREFRONT_WEBHOOK_SWEEP_BATCH = 7
    a, b, c = (make_endpoint()[0] for _ in range(3))
    a_rows = _rows(a, [50, 40, 30])
    b_rows = _rows(b, [40, 40, 10])  # a tie in age: the lower id first
    c_rows = _rows(c, [45])
    _rows(c, [60], next_attempt_at=timezone.now() + timedelta(minutes=5))  # not due

    assert services.deliveries_sweep() == 7

    turn_one = [a_rows[0], c_rows[0], b_rows[0]]  # 50, 45, 40 s old
    turn_two = [a_rows[1], b_rows[1]]  # 40 s old, a's made first
    turn_three = [a_rows[2], b_rows[2]]  # 30, 10 s old
    assert queued == turn_one + turn_two + turn_three


def test_disabled_and_paused_endpoints_are_left_alone(settings, make_endpoint, queued):
    settings.STOREFRONT_WEBHOOK_SWEEP_BATCH = 10
    sending, disabled, paused = (make_endpoint()[0] for _ in range(3))
    due = _rows(sending, [30, 20])
    _rows(disabled, [40])
    _rows(paused, [50])
    services.endpoint_disable(endpoint=disabled, reason="test")
    breaker_mode_set(account=paused.account, mode=BreakerMode.FORCED_OPEN)

    assert services.deliveries_sweep() == 2
    assert queued == due


def test_no_statement_s_parameters_grow_with_the_endpoints(
    settings, make_endpoint, queued
):
    settings.STOREFRONT_WEBHOOK_SWEEP_BATCH = 500
    endpoints = [make_endpoint()[0] for _ in range(40)]
    for endpoint in endpoints:
        _rows(endpoint, [30])
    params = _Params()

    with connection.execute_wrapper(params):
        assert services.deliveries_sweep() == 40

    # Before: the enabled endpoints' ids, one parameter each (the age limit's
    # UPDATE and the due rows' query), so 65,536 endpoints broke the sweep.
    most = max(params.seen, key=lambda seen: seen[1])
    assert most[1] < 20, most


def _rows_read(sql: str, params: list) -> int:
    """How many rows of the deliveries table the statement read."""
    table = WebhookDelivery._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}", params)
        plan = cursor.fetchone()[0]
    plan = json.loads(plan) if isinstance(plan, str) else plan

    def read(node: dict) -> int:
        own = 0
        if node.get("Relation Name") == table:
            loops = node.get("Actual Loops", 1)
            own = (node["Actual Rows"] + node.get("Rows Removed by Filter", 0)) * loops
        return own + sum(read(child) for child in node.get("Plans", []))

    return read(plan[0]["Plan"])


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="PostgreSQL's plans (EXPLAIN)"
)
def test_a_long_backlog_is_not_read_whole_every_sweep(settings, make_endpoint, queued):
    settings.STOREFRONT_WEBHOOK_SWEEP_BATCH = 10
    backlog = _rows(make_endpoint()[0], [10_000 - i for i in range(3000)])
    others = [_rows(make_endpoint()[0], [20, 10]) for _ in range(3)]
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {WebhookDelivery._meta.db_table}")
    params = _Params()

    with connection.execute_wrapper(params):
        assert services.deliveries_sweep() == 10

    assert queued[:4] == [backlog[0]] + [rows[0] for rows in others]
    table = WebhookDelivery._meta.db_table
    selects = [
        (sql, args)
        for sql, args in params.calls
        if sql.lstrip().upper().startswith("SELECT") and table in sql
    ]
    assert selects
    # Before: the whole backlog (3,000 rows), every sweep, to enqueue 10.
    # Now at most a batch per endpoint: 4 x 10.
    for sql, args in selects:
        read = _rows_read(sql, list(args))
        assert read <= 4 * 10, (read, sql)
