"""Rate limits per API key, in the shared cache (Redis in production), so every
web process counts against the same bucket.

On Redis the window is one sorted set per key, trimmed, counted and added to by
one script: atomic (DRF's read-then-write history can let concurrent requests
of one key past the limit), one round trip instead of a pickled GET and SET,
and on Redis's clock (TIME in the script), not each web process's. Elsewhere
DRF's own history does the same: on the database cache (the fallback without
Redis) stored and timed by the database's clock, its row locked from read to
write (atomic too), in a local cache by this process's."""

import logging
import secrets
import threading
from typing import TYPE_CHECKING, Any

from django.core.cache.backends.locmem import LocMemCache
from redis.exceptions import RedisError
from rest_framework.request import Request
from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle

from config.checks import DEFAULT_API_RATE, api_rate_problem
from integrations import cache_clock
from integrations.clock import database_now
from integrations.models import ApiKey
from integrations.ratelimit import SERVER_NOW_LUA
from integrations.redis_line import outage, raw_key, redis_handle

if TYPE_CHECKING:
    from rest_framework.views import APIView

    from integrations.redis_line import RedisHandle

logger = logging.getLogger(__name__)


# While Redis is unreachable each process counts on its own (fail open, but
# still limited: a key gets the rate once per web process, not without end).
_OUTAGE_HISTORY = LocMemCache("api-throttle-redis-outage", {"MAX_ENTRIES": 10_000})
_OUTAGE_LOCK = threading.Lock()


class ApiKeyRateThrottle(SimpleRateThrottle):
    """One bucket per API key (per user for staff sessions, per IP otherwise).

    The rate is ``DEFAULT_THROTTLE_RATES["api_key"]`` (``API_RATE``). A 429
    carries ``Retry-After`` and the API's JSON error shape.
    """

    scope = "api_key"
    retry_after: float | None = None

    def get_rate(self) -> str | None:
        # Read at request time rather than at import (DRF's default), so a
        # settings change (and a test's override) takes effect.
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)

    def parse_rate(self, rate: str | None) -> tuple[int | None, int | None]:
        # API_RATE is checked at start; a rate set another way that DRF cannot
        # read would raise in every request, so the default limit holds instead.
        if rate is not None and api_rate_problem(rate):
            logger.error(
                "API rate malformed, using the default",
                extra={"rate": rate, "default": DEFAULT_API_RATE},
            )
            rate = DEFAULT_API_RATE
        return super().parse_rate(rate)

    def get_cache_key(self, request: Request, view: "APIView") -> str:
        if isinstance(request.auth, ApiKey):
            ident = f"key-{request.auth.pk}"
        elif request.user is not None and request.user.is_authenticated:
            ident = f"user-{request.user.pk}"
        else:
            ident = f"ip-{self.get_ident(request)}"
        return self.cache_format % {"scope": self.scope, "ident": ident}

    def allow_request(self, request: Request, view: "APIView") -> bool:
        handle = redis_handle()
        if handle is None:
            if cache_clock.on_database_cache():
                # The database cache would expire the history, and DRF would
                # time it, by this web process's clock: one ahead would slide
                # the window past the key's requests, one behind stretch it.
                self.cache = _DatabaseClockHistory()
                self.timer = _database_seconds
                # The key's row stays locked from DRF's read to its write:
                # requests read at once would otherwise all fit and all pass.
                with cache_clock.atomic():
                    return super().allow_request(request, view)
            return super().allow_request(request, view)
        if self.rate is None:
            return True
        key = self.get_cache_key(request, view)
        if key is None:
            return True
        counted = self._count_on_redis(handle, key)
        if counted is None:
            # DRF's own history, read and written under one lock.
            self.cache = _OUTAGE_HISTORY
            with _OUTAGE_LOCK:
                return super().allow_request(request, view)
        allowed, retry_after = counted
        if int(allowed):
            return True
        self.retry_after = max(0.0, float(retry_after))
        return self.throttle_failure()

    def _count_on_redis(
        self, handle: "RedisHandle", key: str
    ) -> tuple[Any, Any] | None:
        # None while Redis is unreachable: the shop keeps selling, counted in
        # this process (docs/transport.md). Not asked again for a pause
        # (``redis_line.outage``): one timeout and one warning per pause.
        try:
            outage.check()
            # The window runs on Redis's clock, not this web process's: one
            # ahead would slide it past the key's requests, one behind stretch it.
            counted = handle.run(
                WINDOW_LUA,
                # Its own key: DRF's pickled history may still sit at ``key``.
                [raw_key(key + ":window")],
                [self.duration, self.num_requests, secrets.token_hex(8)],
            )
        except RedisError as exc:
            outage.failed(exc)
            return None
        outage.answered()
        return counted

    def wait(self) -> float | None:
        if self.retry_after is not None:
            return self.retry_after
        return super().wait()


class _DatabaseClockHistory:
    """DRF's history store (``get``/``set``) on ``integrations.cache_clock``."""

    def get(self, key: str, default: list | None = None) -> list | None:
        history = cache_clock.get_locked(key)
        return default if history is None else history

    def set(self, key: str, value: list, timeout: float) -> None:
        cache_clock.set_value(key, value, timeout)


def _database_seconds() -> float:
    return database_now().timestamp()


# KEYS[1] the key's window; ARGV window seconds, limit, a unique member.
# Returns {1, 0} when the request is counted, else {0, seconds until one more
# fits}: until the oldest leaves, or, when the window holds more than the
# limit (the rate lowered since), as many as it is over by.
WINDOW_LUA = (
    SERVER_NOW_LUA
    + """
local window = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('%.17g', now - window))
local count = redis.call('ZCARD', KEYS[1])
if count < limit then
  redis.call('ZADD', KEYS[1], string.format('%.17g', now), ARGV[3])
  redis.call('PEXPIRE', KEYS[1], math.ceil(window * 1000))
  return {1, '0'}
end
local over = count - limit
local leaving = redis.call('ZRANGE', KEYS[1], over, over, 'WITHSCORES')
if leaving[2] == nil then return {0, string.format('%.17g', window)} end
return {0, string.format('%.17g', tonumber(leaving[2]) + window - now)}
"""
)
