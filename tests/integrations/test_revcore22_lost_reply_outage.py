"""Redis going away right after a payment's success count was sent (its
reply not read yet, ``RedisLine``): the next payment meets the outage. One
warning for it (``redis_line.outage``), not a second one with a traceback
for the success count whose reply went with the connection (an outage
would repeat that for every thread); the payment goes on."""

import logging

import pytest

from integrations import redis_line
from integrations.redis_line import redis_handle
from payments import services
from tests.factories import ProviderAccountFactory

pytestmark = [pytest.mark.redis, pytest.mark.django_db]


def _pay(n: int):
    return services.payment_create(
        order_id=f"order-rc22l-{n}",
        amount=1050,
        currency="EUR",
        source_token="tok_success",
        capture=True,
        idempotency_key=f"key-rc22l-{n}",
    )


def test_an_outage_after_a_success_count_warns_once(caplog):
    ProviderAccountFactory(slug="sbx-primary", priority=1)
    redis_line.outage.forget()
    assert _pay(0).account.slug == "sbx-primary"
    line = redis_handle().line
    assert line.pending  # the success count's reply is not read yet
    conn = line.connection
    conn.disconnect()
    conn.port = 1  # Redis gone: a reconnect is refused
    try:
        caplog.set_level(logging.INFO)
        assert _pay(1).account.slug == "sbx-primary"
    finally:
        conn.port = int(redis_handle().client.connection_pool.connection_kwargs["port"])
        conn.disconnect()
    warned = [r.name for r in caplog.records if r.levelno >= logging.WARNING]
    assert warned == [redis_line.logger.name]
    assert not any(
        r.exc_info for r in caplog.records if r.name == redis_line.logger.name
    )
