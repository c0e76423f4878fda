"""Pages a sync owes: a page of an incremental-capable ERP's listing that
failed while the run went on past it.

Such a run still moves "since" (``sync.next_since``): its failed pages are
carried to the account's later runs (``SyncRun.owed``) and asked again, with
the query they failed with, before those runs' own pages. Without that, one
page that always fails kept every run partial, so every scheduled run read
from the last complete run (or everything) and failed at the same page.

A page asked again and answered is applied and dropped; one that fails again
waits longer each time (``OWED_RETRY_FIRST`` doubling, up to the daily full
sync), and after ``OWED_ALERT_AFTER_TRIES`` failed tries staff are alerted
once (an error log, after the page's transaction commits; none more while a
page of the account alerted on is still owed; the run's page in the admin
lists them all). A page already owed at the same place of the listing is not
owed again. A full sync read to its end covers every page owed before it:
those are dropped. A run that gave up (or missed a page it could not owe)
moves no "since", so the pages it owed itself are dropped too: the next run
reads them again.
"""

import logging
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.utils.dateparse import parse_datetime

from integrations.errors import ProviderError
from inventory.models import SyncRun, SyncStatus
from inventory.providers.base import LevelsQuery
from inventory.services.errors import stored_text

logger = logging.getLogger(__name__)

# The second try waits this long, each later one twice the one before.
OWED_RETRY_FIRST = timedelta(minutes=15)
OWED_ALERT_AFTER_TRIES = 3
# More failed pages than this and the run no longer moves "since": the ERP
# is failing wholesale, and the next run reads the window again.
MAX_OWED = 50
OPEN = (SyncStatus.QUEUED, SyncStatus.RUNNING)


def owed_inherited(account_id: int) -> list[dict[str, Any]]:
    """What the account's last ended run still owed: the new run's to ask."""
    last = (
        SyncRun.objects.filter(account_id=account_id)
        .exclude(status__in=OPEN)
        .order_by("-pk")
        .values_list("owed", flat=True)
        .first()
    )
    return list(last or [])


def owe(run: SyncRun, query: LevelsQuery, error: ProviderError, now: datetime) -> bool:
    """Carry a failed page of ``run``'s own listing to later runs (asked by
    the next one); False when too many are owed already. A page owed
    already at the same place of the listing is not owed twice: a record
    that keeps failing (and keeps changing, so every run lists it anew)
    stays one page, tried and alerted on once."""
    same = _owed_like(run, query)
    if same is not None:
        if run.full:
            # Read again by this full run: its own now, kept past its end.
            run.owed = [
                {**page, "run": run.pk} if index == same else page
                for index, page in enumerate(run.owed)
            ]
        return True
    # A full run drops the pages it inherited at its end: only its own count.
    mine = [page for page in run.owed if page["run"] == run.pk]
    if len(mine if run.full else run.owed) >= MAX_OWED:
        return False
    run.owed = [
        *run.owed,
        {
            "run": run.pk,
            "since": query.since.isoformat() if query.since else None,
            "cursor": query.cursor,
            "limit": query.limit,
            "tries": 1,
            "failed_at": now.isoformat(),
            "next_at": now.isoformat(),
            "code": error.code,
            "message": stored_text(error.message, 200),
            "alerted": False,
        },
    ]
    return True


def _owed_like(run: SyncRun, query: LevelsQuery) -> int | None:
    """The index of a page owed at ``query``'s place (cursor and size) of a
    listing of the same kind (whole, or since a time; a full run: of the
    same query), or None."""
    since = query.since.isoformat() if query.since else None
    for index, page in enumerate(run.owed):
        if page["cursor"] != query.cursor or int(page["limit"]) != query.limit:
            continue
        if run.full and page["since"] == since:
            return index
        if not run.full and (page["since"] is None) == (since is None):
            return index
    return None


def owed_dropped_by(run: SyncRun) -> None:
    """A run that did not read its whole listing moves no "since": the next
    run reads its window again, so the pages it owed itself need no owing."""
    run.owed = [page for page in run.owed if page["run"] != run.pk]


def owed_due(run: SyncRun) -> tuple[int, LevelsQuery] | None:
    """The first page owed by earlier runs that is due when ``run`` started
    (one asked in this run is due later, so it is asked once a run), and its
    query; None when none is. A full run asks none: it reads them all."""
    if run.full:
        return None
    for index, page in enumerate(run.owed):
        next_at = parse_datetime(page["next_at"])
        if page["run"] != run.pk and next_at is not None and next_at <= run.started_at:
            since = parse_datetime(page["since"]) if page["since"] else None
            query = LevelsQuery(
                cursor=page["cursor"], since=since, limit=int(page["limit"])
            )
            return index, query
    return None


def owed_answered(
    run: SyncRun, index: int, error: ProviderError | None, now: datetime
) -> dict[str, Any] | None:
    """An owed page was asked again: answered (``error`` None), it is
    dropped; failed, it waits twice as long as before. Returns what to alert
    staff about (logged once the page's transaction commits) the first time
    it has failed ``OWED_ALERT_AFTER_TRIES`` times, unless another page of
    the account is alerted on already: one alert while the ERP keeps failing,
    the run's page in the admin lists every page owed."""
    owed = list(run.owed)
    if error is None:
        del owed[index]
        run.owed = owed
        return None
    page = dict(owed[index])
    tries = int(page["tries"]) + 1
    ceiling = timedelta(hours=settings.INVENTORY_SYNC_FULL_EVERY_HOURS)
    wait = min(OWED_RETRY_FIRST * 2 ** min(tries - 2, 20), ceiling)
    page.update(
        tries=tries,
        next_at=(now + wait).isoformat(),
        code=error.code,
        message=stored_text(error.message, 200),
    )
    logger.warning(
        "inventory sync owed page failed",
        extra={"account": run.account.slug, "tries": tries, "code": error.code},
    )
    alert = None
    if tries >= OWED_ALERT_AFTER_TRIES and not page["alerted"]:
        page["alerted"] = True
        if not any(other.get("alerted") for other in owed):
            alert = {
                "account": run.account.slug,
                "cursor": page["cursor"],
                "since": page["since"],
                "tries": tries,
                "code": error.code,
            }
    owed[index] = page
    run.owed = owed
    return alert


def owed_alert(alert: dict[str, Any]) -> None:
    """Tell staff an owed page keeps failing (``owed_answered``)."""
    logger.error("inventory sync page keeps failing", extra=alert)


def owed_after_full(run: SyncRun) -> None:
    """A full run read to its end read every page owed before it (or owes it
    now, failed in this run): only its own failures stay owed."""
    run.owed = [page for page in run.owed if page["run"] == run.pk]


__all__ = [
    "OWED_ALERT_AFTER_TRIES",
    "owe",
    "owed_after_full",
    "owed_alert",
    "owed_answered",
    "owed_dropped_by",
    "owed_due",
    "owed_inherited",
]
