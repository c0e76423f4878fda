"""A deadline that travels with the context: every provider operation started
inside ``deadline_scope(seconds)`` ends by then, whatever its own deadline.

The fan-out runner opens one scope per run, so an account's retries and
back-off cannot outlive the run; ``ProviderClient`` takes the smaller of its
own deadline and ``remaining()``. The scope is a contextvar: it reaches the
threads that run a copy of the context (``contextvars.copy_context()``) and
nothing else. Scopes nest; an inner scope can only shorten the outer one.
"""

import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

# The end of the innermost scope, on time.monotonic(); None outside any scope.
_end: ContextVar[float | None] = ContextVar("deadline_end", default=None)


@contextmanager
def deadline_scope(seconds: float) -> Iterator[float]:
    """Inside the block, ``remaining()`` is at most ``seconds``. Yields the
    scope's end on ``time.monotonic()``."""
    end = time.monotonic() + seconds
    outer = _end.get()
    if outer is not None:
        end = min(end, outer)
    token = _end.set(end)
    try:
        yield end
    finally:
        _end.reset(token)


def remaining() -> float:
    """Seconds left in the current scope (negative once it has passed);
    ``math.inf`` outside any scope."""
    end = _end.get()
    if end is None:
        return math.inf
    return end - time.monotonic()


def clamp(seconds: float) -> float:
    """``seconds``, or less if the current scope ends sooner."""
    return min(seconds, remaining())
