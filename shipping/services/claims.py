"""A row claimed for one carrier call at a time: a timestamp column set by
one conditional UPDATE (label voids, pickup cancels). A second request while
the claim stands is refused (409 ``*_in_progress``); a claim older than
``CLAIM_LIFE`` belongs to a process that died and is taken over.

Not ``integrations.leases``: that is the waiting/running/failed/dead life
cycle of task rows, with attempts and backoff; this is one column on a
domain row whose status says the rest.
"""

from datetime import datetime, timedelta

from django.db.models import Model, Q, QuerySet

from integrations.db import drop_if_busy

# Longer than any carrier call with its retries.
CLAIM_LIFE = timedelta(minutes=10)


def claim_take(
    rows: QuerySet, field: str, now: datetime, *, also: Q | None = None
) -> bool:
    """Set ``field`` to ``now`` on ``rows`` where it is free (unset, or
    older than ``CLAIM_LIFE``) or matches ``also``; whether one was taken."""
    free = Q(**{f"{field}__isnull": True}) | Q(**{f"{field}__lt": now - CLAIM_LIFE})
    if also is not None:
        free |= also
    return rows.filter(free).update(**{field: now}) > 0


def claim_release(row: Model, field: str, claimed_at: datetime) -> None:
    """Clear our claim on ``row``, only while it is ours: one taken over
    after ``CLAIM_LIFE`` is the other process's."""
    # A release often follows a stop, which may have left an answer unread.
    drop_if_busy()
    type(row)._default_manager.filter(pk=row.pk, **{field: claimed_at}).update(
        **{field: None}
    )
    setattr(row, field, None)
