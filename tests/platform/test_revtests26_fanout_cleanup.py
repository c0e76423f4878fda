"""A fan-out thread's answer survives a failure while it closes its
connections (task revtests26): the close ran in ``finally`` ahead of the
answer, so a close that raised lost a result already in hand and the caller
waited out the whole deadline to call the account timed out."""

import time

import pytest
from redis.connection import ConnectionPool

from integrations.fanout import run_on_accounts
from integrations.testing.faultserver import FaultServer, respond
from tests.factories import ProviderAccountFactory
from tests.integrations.fanout.adapters import PATH, QUOTE_PATH

pytestmark = [pytest.mark.redis, pytest.mark.django_db(transaction=True)]
DEADLINE = 3.0


def _quote(adapter) -> dict:
    return adapter.quote()


def _broken_disconnect(self, *args, **kwargs) -> None:
    raise RuntimeError("disconnect failed")


def test_an_answer_is_kept_when_closing_the_threads_connections_fails(
    settings, monkeypatch, caplog
):
    settings.SWITCHYARD_ADAPTERS = {
        **settings.SWITCHYARD_ADAPTERS,
        "shipping": {
            **settings.SWITCHYARD_ADAPTERS.get("shipping", {}),
            "quotes": PATH,
        },
    }
    with FaultServer() as server:
        server.route("GET", QUOTE_PATH, respond(200, json={"amount": 7}))
        ProviderAccountFactory(
            kind="shipping",
            provider="quotes",
            slug="carrier-a",
            settings={"base_url": server.url},
        )
        monkeypatch.setattr(ConnectionPool, "disconnect", _broken_disconnect)
        started = time.monotonic()
        run = run_on_accounts(
            "shipping", _quote, operation_name="quote", deadline_seconds=DEADLINE
        )
        elapsed = time.monotonic() - started
        monkeypatch.undo()

    assert run.failures == ()
    assert [r.result for r in run.results] == [{"amount": 7}]
    assert elapsed < DEADLINE / 2
    # The failure is not lost either: logged with its traceback.
    (logged,) = [r for r in caplog.records if r.exc_info]
    assert "disconnect failed" in str(logged.exc_info[1])
