"""The provider client's Redis calls (the breaker's state and counts, the
rate limit) while Redis cannot be reached (``redis_line.outage``).

Before the attempt, fail closed: the gate's reads refused as not processed
(nothing was sent), so the operation fails over and ends as "no provider
available". After it, the provider's answer stands: a count that cannot be
kept is lost, never the outcome (a charge made must be recorded). Either
way Redis is not asked again for the outage's pause."""

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from redis.exceptions import RedisError

from integrations.errors import RedisUnreachable
from integrations.redis_line import outage


@contextmanager
def gate_guard() -> Iterator[None]:
    """Around the reads before an attempt: a RedisError is RedisUnreachable
    (not processed)."""
    try:
        outage.check()
        yield
    except RedisError as exc:
        outage.failed(exc)
        raise RedisUnreachable(
            "circuit breaker and rate limit unreadable: Redis unreachable"
        ) from exc
    outage.answered()


def count_guarded(record: Callable[..., None], *args: Any, **kwargs: Any) -> None:
    """Run a breaker ``record``; while Redis is unreachable, count nothing."""
    try:
        outage.check()
        record(*args, **kwargs)
    except RedisError as exc:
        outage.failed(exc)
