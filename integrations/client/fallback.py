"""Whether another account stands ready to take the current operation.

The failover runner marks the calls it makes while later candidates remain.
The client then stops retrying an account it cannot even reach: the next
account is a faster answer than back-off against a host that is down.
"""

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

# Transport failures before any byte reached the provider: nothing was done,
# and the same host is unlikely to answer a few hundred milliseconds later.
UNREACHABLE_CODES = frozenset(
    {"connection_refused", "connect_timeout", "dns_failure", "tls_error"}
)

_fallback_ready: ContextVar[bool | Callable[[], bool]] = ContextVar(
    "fallback_ready", default=False
)


@contextmanager
def fallback_ready(ready: bool | Callable[[], bool] = True) -> Iterator[None]:
    """Within the block, calls know whether another account can take over;
    a callable is asked only when an unreachable host makes it matter."""
    token = _fallback_ready.set(ready)
    try:
        yield
    finally:
        _fallback_ready.reset(token)


def skip_retry_for(code: str | None) -> bool:
    """True when an error with ``code`` should move on to the next account
    instead of being retried on this one."""
    if code not in UNREACHABLE_CODES:
        return False
    ready = _fallback_ready.get()
    return ready() if callable(ready) else ready
