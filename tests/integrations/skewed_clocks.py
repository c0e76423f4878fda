"""Set-up shared by the tests of workers (or web processes) whose clocks
disagree: the shared store they meet in (Redis, or the database cache on a
server database), a limiter on a skewed machine, and the API throttle's
client. Fixtures are imported and used by their names (``store``,
``client``)."""

import contextlib
import time
from collections.abc import Callable, Iterator

import pytest
from django.core.management import call_command
from rest_framework.test import APIClient

from integrations.ratelimit import RateLimiter, limiter_for
from integrations.testing.clocks import whole_machine_clock
from tests.factories import ApiKeyFactory
from tests.integrations.api.helpers import assert_error

AHEAD = 3600.0  # a machine whose clock is an hour fast
DATABASE_CACHE = "django.core.cache.backends.db.DatabaseCache"
# The database cache's skew needs a server database: SQLite's one clock is
# this machine's, so a skewed worker there skews the database too.
STORES = ["redis", pytest.param("database", marks=pytest.mark.postgres)]


def stopwatch() -> Callable[[], float]:
    """Seconds since this was called, on this machine's monotonic clock: the
    most the shared clock can have moved meanwhile. A wait the store reports
    is checked against it, not a fixed margin a loaded machine's descheduling
    outlasts."""
    began = time.monotonic()
    return lambda: time.monotonic() - began


def use_database_cache(settings, backend: str = DATABASE_CACHE) -> None:
    """The database cache (the fallback when there is no Redis), its table made."""
    settings.CACHES = {"default": {"BACKEND": backend, "LOCATION": "switchyard_cache"}}
    call_command("createcachetable", verbosity=0)


def use_store(request, settings, backend: str = DATABASE_CACHE) -> str:
    """The shared store ``request.param`` names (one of ``STORES``): Redis at
    REDIS_URL, or the database cache."""
    if request.param == "redis":
        request.applymarker(pytest.mark.redis)
        if not settings.REDIS_URL:
            pytest.skip("needs service: Redis not configured (set REDIS_URL)")
    else:
        use_database_cache(settings, backend)
    return request.param


@pytest.fixture(name="store", params=STORES)
def limiter_store(request, settings) -> str:
    """The limiter's shared store: Redis, or the database cache."""
    return use_store(request, settings)


@contextlib.contextmanager
def skewed_limiter(account, skew: float = 0.0) -> Iterator[RateLimiter]:
    """A limiter in a worker on a machine whose clock is ``skew`` seconds off."""
    with whole_machine_clock(skew):
        yield limiter_for(account, clock=lambda: time.time() + skew)


def throttle_rate(settings, rate: str) -> None:
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"api_key": rate},
    }


@pytest.fixture(name="client")
def api_key_client() -> APIClient:
    """An API client holding a fresh key."""
    api_key = ApiKeyFactory(scopes=["inventory:write"])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key.raw_key}")
    return client


def throttled(response) -> int:
    """The Retry-After of a throttled answer."""
    assert_error(response, 429, "throttled")
    return int(response["Retry-After"])
