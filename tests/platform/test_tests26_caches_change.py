"""A test that changes CACHES leaves no Redis connection behind: Django swaps
in new backends, but the old ones stayed reachable from the thread's context
(asgiref keeps a Local's values in a ContextVar) with their connections open
to the session end (task tests26; tests/conftest.py closes them)."""

import copy
import gc
import weakref

import pytest
from django.core.cache import caches

from integrations.redis_line import redis_handle

pytestmark = pytest.mark.redis


def test_the_replaced_redis_backend_closes_its_connections(settings):
    # A backend of this test's own: asgiref's Local copies its dict on each
    # write, so a context copied by an earlier test (a thread's, an event
    # loop's) may still hold the backend this thread had before.
    settings.CACHES = copy.deepcopy(settings.CACHES)
    caches["default"].set("tests26", 1)
    handle = redis_handle()
    assert handle is not None
    handle.line.command("PING")
    line_conn = handle.line.connection
    pooled = handle.client.connection_pool.get_connection()
    handle.client.connection_pool.release(pooled)
    backend = weakref.ref(caches["default"])
    del handle

    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    }

    assert not line_conn.is_connected
    assert not pooled.is_connected
    gc.collect()
    assert backend() is None
