"""Pages owed by runs of an older version. Runs used to carry a failed page
to later runs (``SyncRun.owed``), which asked it again by its cursor and
moved "since" past it. A page number, an offset or a key asked again later
holds other records (levels changed meanwhile move records across it), so
no adapter owes pages any more (h/invy) and the workflow is gone: a failed
page leaves the run uncovered and the next run reads its window again.

Pages an older run still owes are covered the same way: the next run asks
from the earliest of their "since" (the whole listing if one was owed by a
full run), carries them while it has not read that window whole, and drops
them once it has. Nothing else reads or writes ``SyncRun.owed``."""

from datetime import datetime
from typing import Any

from django.utils.dateparse import parse_datetime

from inventory.models import SyncRun, SyncStatus

OPEN = (SyncStatus.QUEUED, SyncStatus.RUNNING)


def owed_inherited(account_id: int) -> list[dict[str, Any]]:
    """What the account's last ended run still owed: the new run covers it."""
    last = (
        SyncRun.objects.filter(account_id=account_id)
        .exclude(status__in=OPEN)
        .order_by("-pk")
        .values_list("owed", flat=True)
        .first()
    )
    return list(last or [])


def owed_floor(since: datetime, owed: list[dict[str, Any]]) -> datetime | None:
    """``since``, or the earliest "since" of the pages ``owed`` when older
    (None when one was owed by a whole listing): where a run reads from to
    cover the pages owed before."""
    for page in owed:
        owed_since = parse_datetime(page["since"]) if page["since"] else None
        if owed_since is None:
            return None
        since = min(since, owed_since)
    return since


def owed_read_by(run: SyncRun) -> bool:
    """Whether ``run`` asked its listing from no later than every page
    owed to it (``owed_floor``): read whole, it read their records. One
    started by an older version may not have."""
    if run.since is None or not run.owed:
        return True
    return owed_floor(run.since, run.owed) == run.since


__all__ = ["owed_floor", "owed_inherited", "owed_read_by"]
