"""Mailgun's webhook replay tokens on the database cache (the fallback
without Redis) between web processes whose clocks disagree: a token is kept
by the database's clock, which also culls the table, so a row a process
behind stamped is not culled while processes behind still accept its
signature (a replayed token then passed as new)."""

import contextlib
import json
import time
from collections.abc import Iterator
from unittest import mock

import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.test import Client

from integrations.models import WebhookEvent
from integrations.testing.clocks import whole_machine_clock
from tests.notifications.contract.harness_mailgun import event, make_account, signed

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

BEHIND = 700.0  # a web host's clock 700 s slow (the time check allows 300)


@pytest.fixture
def database_cache(settings) -> None:
    """The database cache, culled by every write past one entry."""
    settings.CACHES = {
        "default": {
            "BACKEND": "integrations.cache_clock.DatabaseClockCache",
            "LOCATION": "switchyard_cache",
            "OPTIONS": {"MAX_ENTRIES": 1},
        }
    }
    call_command("createcachetable", verbosity=0)
    cache.clear()


_MACHINE_TIME = time.time


@contextlib.contextmanager
def _web_process(skew: float) -> Iterator[None]:
    """A web process on a machine whose clock is ``skew`` seconds off: its
    ``time.time`` too (the signature's time check; Django's cache stamps an
    entry's expiry by it and compares by ``timezone.now``)."""
    skewed = lambda: _MACHINE_TIME() + skew  # noqa: E731
    with whole_machine_clock(skew), mock.patch.object(time, "time", skewed):
        yield


def _post(account, body: bytes):
    return Client().post(
        f"/webhooks/{account.slug}/", data=body, content_type="application/json"
    )


def test_a_token_stamped_by_a_process_behind_outlives_a_cull(database_cache):
    account = make_account()
    # Signed now by the true clock: the slow host checks the time by the
    # database's too (a 700 s old one it refuses: test_core20_webhook_*).
    first = signed(event("delivered"), timestamp=int(_MACHINE_TIME()))
    with _web_process(-BEHIND):
        assert _post(account, first.body).status_code == 200
    cache.set("another-entry", 1)  # past MAX_ENTRIES: the next write culls
    cache.set("one-more", 1)
    forged = json.loads(first.body)
    forged["event-data"] = event("complained")
    with _web_process(-BEHIND):
        response = _post(account, json.dumps(forged).encode())
    assert response.status_code == 401
    assert response.json()["error"]["param"] == "signature.token"
    assert WebhookEvent.objects.filter(account=account).count() == 1


def test_a_token_seen_on_time_is_refused_to_a_process_ahead(database_cache):
    account = make_account()
    first = signed(event("delivered"))
    assert _post(account, first.body).status_code == 200
    forged = json.loads(first.body)
    forged["event-data"] = event("complained")
    with _web_process(250):  # within the time check's 300 s
        response = _post(account, json.dumps(forged).encode())
    assert response.status_code == 401
    assert response.json()["error"]["param"] == "signature.token"
