"""A fan-out thread closes its Redis connections when it ends (task tests26).

Each thread builds its own cache backend (Django keeps them per thread) and
its own breaker line; redis-py's connections sit in reference cycles, so one
left to the thread's end stayed open until the garbage collector's next full
pass: a process fanning out between two such passes kept a connection or two
per account per run (gc is held off here to show what is left to it)."""

import gc
import threading
from urllib.parse import urlsplit

import pytest
from django.conf import settings as django_settings

from integrations.fanout import run_on_accounts
from integrations.testing.faultserver import FaultServer, respond
from tests.factories import ProviderAccountFactory
from tests.integrations.fanout.adapters import PATH, QUOTE_PATH
from tests.platform.tests26_sockets import HAS_PROC, sockets_to

pytestmark = [
    pytest.mark.redis,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not HAS_PROC, reason="needs /proc"),
]
RUNS = 10


def _quote(adapter) -> dict:
    return adapter.quote()


def _run_and_wait() -> None:
    run = run_on_accounts(
        "shipping", _quote, operation_name="quote", deadline_seconds=5
    )
    assert len(run.results) == 2, run.failures
    for thread in threading.enumerate():
        if thread.name.startswith("fanout-"):
            thread.join(timeout=5)


def test_fan_out_threads_leave_no_redis_connection_open(settings):
    settings.SWITCHYARD_ADAPTERS = {
        **settings.SWITCHYARD_ADAPTERS,
        "shipping": {
            **settings.SWITCHYARD_ADAPTERS.get("shipping", {}),
            "quotes": PATH,
        },
    }
    redis_port = urlsplit(django_settings.REDIS_URL).port or 6379
    with FaultServer() as server:
        server.route("GET", QUOTE_PATH, respond(200, json={"amount": 1}))
        for n in range(2):
            ProviderAccountFactory(
                kind="shipping",
                provider="quotes",
                slug=f"carrier-{n}",
                priority=n,
                settings={"base_url": server.url},
            )
        _run_and_wait()  # this thread's own connections, made once
        gc.collect()
        before = sockets_to(redis_port)
        gc.disable()
        try:
            for _ in range(RUNS):
                _run_and_wait()
            after = sockets_to(redis_port)
        finally:
            gc.enable()
    assert after - before <= 0
