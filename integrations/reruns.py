"""Whether the current request re-runs one whose worker died, and what that
dead run did: set by the ``Idempotency-Key`` layer around every handler it
runs (``running``), read by a handler whose second run must answer what the
first would have (docs/api.md, "A worker that dies").

A handler records what it did on its own request's idempotency record
(``record_done``) in the transaction that does it; a re-run of the same
request (same owner, key and body: the record's row is kept when a retry
takes it over) is credited only with what that record says, never with what
another request did meanwhile."""

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime

from integrations.models import IdempotencyRecord


@dataclass(frozen=True)
class _Run:
    record_id: int | None
    since: datetime | None


_current: ContextVar[_Run | None] = ContextVar("idempotent_run", default=None)


def rerun_since() -> datetime | None:
    """When the dead first run of this request began, or ``None`` when this
    request is not a re-run."""
    run = _current.get()
    return run.since if run is not None else None


@contextmanager
def rerunning(
    since: datetime | None, *, record_id: int | None = None
) -> Iterator[None]:
    """Run the code inside for the request whose idempotency record is
    ``record_id``; ``since``: when the dead run it re-runs began, if any."""
    token = _current.set(_Run(record_id=record_id, since=since))
    try:
        yield
    finally:
        _current.reset(token)


def record_done(mark: str) -> None:
    """Note on this request's record that it did ``mark`` (e.g.
    ``payment.capture:pay_...``). Call it in the transaction that does it, so
    the note commits with the deed. Outside an idempotent request: nothing."""
    run = _current.get()
    if run is None or run.record_id is None:
        return
    IdempotencyRecord.objects.filter(pk=run.record_id).update(done_mark=mark[:128])


def done_by_dead_run(mark: str) -> bool:
    """Whether this request re-runs one whose dead run did ``mark``."""
    run = _current.get()
    if run is None or run.since is None or run.record_id is None:
        return False
    return IdempotencyRecord.objects.filter(pk=run.record_id, done_mark=mark).exists()
