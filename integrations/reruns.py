"""Whether the current request re-runs one whose worker died, and what that
dead run set out to do: set by the ``Idempotency-Key`` layer around every
handler that commits on its own (``rerunning``), read by a handler whose
second run must answer what the first would have (docs/api.md, "A worker
that dies").

Before its provider call a handler notes its intent on its own request's
idempotency record (``record_intent``, e.g. ``payment.capture:pay_..:600``,
``stamped`` with the instant that names the attempt or claim it is about to
make, read back with ``dead_run_intended``).
A re-run of the same request (same owner, key and body: the row is kept when
a retry takes it over) whose record carries that intent is answered with the
object as it now stands once it reached the intended state, by whatever
route (the first run, the gateway's webhook, reconciliation); a request that
noted nothing is never credited with what another request did."""

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime

from integrations.models import IdempotencyRecord
from integrations.row_sql import row_update_later


@dataclass(frozen=True)
class _Run:
    record: IdempotencyRecord | None
    since: datetime | None
    # The intent the dead run left on the record, read when it was taken over.
    dead_intent: str


_current: ContextVar[_Run | None] = ContextVar("idempotent_run", default=None)


def rerun_since() -> datetime | None:
    """When the dead first run of this request began, or ``None`` when this
    request is not a re-run."""
    run = _current.get()
    return run.since if run is not None else None


@contextmanager
def rerunning(
    since: datetime | None, *, record: IdempotencyRecord | None = None
) -> Iterator[None]:
    """Run the code inside for the request whose idempotency record is
    ``record`` (as claimed: its ``done_mark`` is the dead run's intent);
    ``since``: when the dead run it re-runs began, if any."""
    intent = record.done_mark if record is not None and since is not None else ""
    token = _current.set(_Run(record=record, since=since, dead_intent=intent))
    try:
        yield
    finally:
        _current.reset(token)


def record_intent(intent: str) -> None:
    """Note on this request's record that it is about to do ``intent``;
    before the provider call, so a death after the call finds it. Only while
    the record is still this run's (the version the claim set), as release
    and completion are. Outside an idempotent request: nothing."""
    run = _current.get()
    if run is None or run.record is None:
        return
    record = run.record
    record.done_mark = intent[:128]
    # With the writes that follow it (the attempt row) when they share a
    # commit; the in-memory mark tells the layer to keep the record on error.
    row_update_later(
        record,
        ("done_mark",),
        where={
            "created_at": record.created_at,
            "state": IdempotencyRecord.State.IN_FLIGHT,
        },
    )


@dataclass(frozen=True)
class DeadIntent:
    """What this request's dead run noted it set out to do."""

    # The instant its intent named (its provider attempt's, or its claim's);
    # ``None``: noted without one, by the previous release (``head`` alone).
    at: datetime | None


def stamped(head: str, at: datetime) -> str:
    """The intent ``head`` naming the instant ``at`` of the attempt (claim)
    it is about to make: ``<head>@<iso instant>``."""
    return f"{head}@{at.isoformat()}"


def dead_run_intended(head: str) -> DeadIntent | None:
    """Whether this request re-runs one whose dead run set out to do
    ``head``, noted ``stamped`` or (a worker of the previous release) as
    ``head`` alone; ``None`` when it did not."""
    dead = dead_run_intent()
    if dead == head:
        return DeadIntent(at=None)
    if not dead.startswith(f"{head}@"):
        return None
    try:
        at = datetime.fromisoformat(dead[len(head) + 1 :])
    except ValueError:
        return None
    return DeadIntent(at=at) if at.tzinfo is not None else None


def dead_run_intent() -> str:
    """The intent this request's dead run noted (``""`` when this request is
    not a re-run, or its dead run noted none): for a handler whose intent
    carries what the dead run held (e.g. the instant of its claim)."""
    run = _current.get()
    return run.dead_intent if run is not None and run.since is not None else ""


def noting() -> bool:
    """Whether this code runs for a request that notes its intent (a handler
    that commits on its own, under an ``Idempotency-Key``)."""
    run = _current.get()
    return run is not None and run.record is not None
