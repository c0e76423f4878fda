"""Whether the current request re-runs one whose worker died: set by the
``Idempotency-Key`` layer when it takes over the dead request's in-flight
record (same key, same request), read by a handler whose second run must
answer what the first would have (docs/api.md, "A worker that dies")."""

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime

_since: ContextVar[datetime | None] = ContextVar("rerun_since", default=None)


def rerun_since() -> datetime | None:
    """When the dead first run of this request began, or ``None`` when this
    request is not a re-run."""
    return _since.get()


@contextmanager
def rerunning(since: datetime | None) -> Iterator[None]:
    """Mark the code inside as a re-run of a request begun at ``since``."""
    token = _since.set(since)
    try:
        yield
    finally:
        _since.reset(token)
