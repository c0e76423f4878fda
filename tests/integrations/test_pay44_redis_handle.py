"""pay44: ``redis_handle`` answers from what this context found last (the
cache handler's ``caches["default"]`` cost ~10 Python calls a look-up, ~6
look-ups a payment), and finds it again whenever that could have changed:
another thread, a CACHES change, the thread's connections closed."""

import cProfile
import pstats
import threading

import pytest
from django.core.cache import caches

from integrations.redis_line import close_thread_connections, redis_handle

pytestmark = pytest.mark.redis


@pytest.fixture(autouse=True)
def _redis(settings):
    if not settings.REDIS_URL:
        pytest.skip("needs service: Redis not configured (set REDIS_URL)")


def test_a_handle_found_costs_a_handful_of_calls():
    redis_handle()
    profile = cProfile.Profile()
    profile.enable()
    for _ in range(100):
        redis_handle()
    profile.disable()
    assert pstats.Stats(profile).total_calls / 100 <= 4


def test_the_same_handle_as_the_cache_backend_gives():
    handle = redis_handle()
    assert handle is not None
    client = caches["default"]._cache
    assert handle is redis_handle()
    written = client.get_client(write=True)
    assert handle.client.connection_pool is written.connection_pool


def test_another_thread_gets_its_own():
    mine = redis_handle()
    theirs = []
    thread = threading.Thread(target=lambda: theirs.append(redis_handle()))
    thread.start()
    thread.join()
    assert theirs[0] is not None and theirs[0] is not mine


def test_closed_connections_are_not_handed_out_again():
    before = redis_handle()
    close_thread_connections()
    after = redis_handle()
    assert after is not None and after is not before


def test_a_caches_change_is_followed(settings):
    before, redis_caches = redis_handle(), settings.CACHES
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    }
    assert redis_handle() is None
    settings.CACHES = redis_caches  # back to Redis: a new backend, a new handle
    after = redis_handle()
    assert after is not None and after is not before
