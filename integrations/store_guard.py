"""The provider client's Redis calls (the breaker's state and counts, the
rate limit, the concurrency slots) while Redis cannot be reached
(``redis_line.outage``): the one place that decides how a call goes on.

Fail open: Redis holds guards, not records (a payment's idempotency is
PostgreSQL's), so an interactive call goes out unguarded: the breaker counts
as closed (failover still works by the providers' own errors) and the
limiter neither paces nor caps it; a provider's 429 is then its own answer.
A paced (bulk) call can come back later, so it is refused as not sent
(``RedisUnreachable``), as is a health probe (``fail_closed``): the
operator's check then reports Redis down (not checked), not a pass. After
an attempt the provider's answer stands: a count Redis does not take is
lost, never the outcome. Either way Redis is not asked again for the
outage's pause (docs/transport.md)."""

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from redis.exceptions import RedisError

from integrations.errors import NotProcessed, RedisUnreachable
from integrations.redis_line import outage

if TYPE_CHECKING:
    from integrations.breaker import CircuitBreaker

# Set by callers whose result would mislead without Redis (health probes).
_CLOSED: ContextVar[bool] = ContextVar("store_guard_closed", default=False)

# The gate's answer while Redis is unreachable: call without breaker or limiter.
UNGUARDED = object()


def store_failed(exc: RedisError, *, paced: bool) -> None:
    """Note the outage; a paced call is refused (not sent), others go on."""
    outage.failed(exc)
    if paced or _CLOSED.get():
        raise RedisUnreachable(
            "circuit breaker and rate limit unreadable: Redis unreachable"
        ) from exc


@contextmanager
def fail_closed() -> Iterator[None]:
    """Calls in the block are refused (RedisUnreachable) while Redis is
    unreachable, as paced ones are."""
    token = _CLOSED.set(True)
    try:
        yield
    finally:
        _CLOSED.reset(token)


def gated(
    reserve: Callable[[], Any],
    *,
    paced: bool,
    breaker: "CircuitBreaker",
    claim: bool = True,
) -> Any:
    """``reserve()`` (the breaker's state and the rate limit), or UNGUARDED
    while Redis is unreachable; ``breaker`` then still refuses an account
    staff forced open (its row) or one this process last read open until
    its open period is over, then lets one try through (``claim``: the
    caller's call may be it; a pre-check passes False), as
    ``CircuitBreaker.admit_offline`` says."""
    try:
        outage.check()
        reservation = reserve()
    except RedisError as exc:
        store_failed(exc, paced=paced)
        try:
            breaker.admit_offline(claim=claim)
        except NotProcessed as refused:
            raise refused from exc
        return UNGUARDED
    outage.answered()
    return reservation


def count_guarded(record: Callable[..., None], *args: Any, **kwargs: Any) -> None:
    """Run a breaker ``record`` (it notes the outcome in this process, then
    asks Redis only outside an outage's pause); while Redis is unreachable,
    count nothing there."""
    try:
        record(*args, **kwargs)
    except RedisError as exc:
        outage.failed(exc)
