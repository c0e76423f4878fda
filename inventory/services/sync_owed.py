"""Pages a sync owes: a page of an incremental-capable ERP's listing that
failed while the run went on past it, where the adapter says the page holds
the same records when asked again (``owes_failed_pages``). A page number or
offset does not: levels changed meanwhile move records across it, onto a
page no run reads again, so such a run moves no "since"; pages owed before
are read again by the next run from their "since" (``owed_floor``).

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
lists them all). A page is owed once per query (cursor, size and "since");
one failing at the place of an owed page under another "since" holds other
records and is owed too, with that page's tries and alert. A full sync read
to its end covers every page owed before it: those are dropped. A run that
gave up (or missed a page it could not owe) moves no "since", so the pages
it owed itself are dropped too (the next run reads them again), and those a
full run took over go back to the run that owed them.
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
# More places of the listing failing than this and the run no longer moves
# "since": the ERP is failing wholesale, and the next run reads the window
# again.
MAX_OWED = 50
# Counted by place: a record that keeps failing and keeps changing is owed
# once a run under a new "since" (until a full sync), but fails in one
# place. Past this many queries the list stops growing all the same.
MAX_OWED_QUERIES = 200
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


def owed_floor(since: datetime, owed: list[dict[str, Any]]) -> datetime | None:
    """``since``, or the earliest "since" of the pages ``owed`` when older
    (None when one was owed by a whole listing): where a run of an ERP that
    owes no pages reads from to cover the pages owed before."""
    for page in owed:
        owed_since = parse_datetime(page["since"]) if page["since"] else None
        if owed_since is None:
            return None
        since = min(since, owed_since)
    return since


def owed_read_by(run: SyncRun) -> bool:
    """Whether ``run`` asked its listing from no later than every page
    owed to it (``owed_floor``): read whole, it read their records."""
    if run.since is None or not run.owed:
        return True
    return owed_floor(run.since, run.owed) == run.since


def owe(run: SyncRun, query: LevelsQuery, error: ProviderError, now: datetime) -> bool:
    """Carry a failed page of ``run``'s own listing to later runs (asked by
    the next one); False when too many are owed already. A page is owed
    once per query: the same cursor under another "since" lists other
    records, so it is owed too, with the tries and alert of the page owed
    at its place (a record that keeps failing, and keeps changing so every
    run lists it anew, is alerted on once)."""
    same = _owed_index(run, query)
    if same is not None:
        if run.full:
            # Read again by this full run: its own now, kept past its end if
            # the run ends covered, handed back to its owner otherwise.
            page = run.owed[same]
            took = {**page, "run": run.pk, "was": page.get("was", page["run"])}
            run.owed = [took if i == same else p for i, p in enumerate(run.owed)]
        return True
    # A full run drops the pages it inherited at its end: only its own count.
    mine = [page for page in run.owed if page["run"] == run.pk]
    counted = mine if run.full else run.owed
    places = {
        (page["cursor"], page["limit"], page["since"] is None) for page in counted
    }
    if len(places) >= MAX_OWED or len(counted) >= MAX_OWED_QUERIES:
        return False
    entry = {
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
    }
    older = _owed_at_place(run, query)
    if older is not None:
        entry.update(tries=older["tries"], alerted=older["alerted"])
    run.owed = [*run.owed, entry]
    return True


def _since(query: LevelsQuery) -> str | None:
    return query.since.isoformat() if query.since else None


def _owed_index(run: SyncRun, query: LevelsQuery) -> int | None:
    """The index of the page owed with ``query`` itself, or None."""
    since = _since(query)
    for index, page in enumerate(run.owed):
        if (
            page["cursor"] == query.cursor
            and int(page["limit"]) == query.limit
            and page["since"] == since
        ):
            return index
    return None


def _owed_at_place(run: SyncRun, query: LevelsQuery) -> dict[str, Any] | None:
    """The latest page owed at ``query``'s place (cursor and size) of a
    listing of the same kind (whole, or since a time), or None."""
    since = _since(query)
    for page in reversed(run.owed):
        if (
            page["cursor"] == query.cursor
            and int(page["limit"]) == query.limit
            and (page["since"] is None) == (since is None)
        ):
            return page
    return None


def owed_dropped_by(run: SyncRun) -> None:
    """A run that did not read its whole listing moves no "since": the next
    run reads its window again, so the pages it owed itself need no owing.
    A page a full run took over (``owe``) is handed back to the run that
    owed it: that run's "since" moved past it."""
    kept = []
    for page in run.owed:
        if page["run"] != run.pk:
            kept.append(page)
        elif "was" in page:
            back = {key: value for key, value in page.items() if key != "was"}
            kept.append({**back, "run": page["was"]})
    run.owed = kept


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
    staff about (logged once the page's transaction commits) once it has
    failed ``OWED_ALERT_AFTER_TRIES`` times, unless another page owed by the
    account was alerted on: one alert while the ERP keeps failing (the run's
    page in the admin lists every page owed), and the next page still
    failing is alerted on once no alerted page is owed any more."""
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
    # Marked only when staff are told: one suppressed by another page's alert
    # is checked again at its next failure, once that page may be gone.
    told = any(other.get("alerted") for other in owed)
    if tries >= OWED_ALERT_AFTER_TRIES and not page["alerted"] and not told:
        page["alerted"] = True
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
    run.owed = [
        {key: value for key, value in page.items() if key != "was"}
        for page in run.owed
        if page["run"] == run.pk
    ]


__all__ = [
    "OWED_ALERT_AFTER_TRIES",
    "owe",
    "owed_after_full",
    "owed_alert",
    "owed_answered",
    "owed_dropped_by",
    "owed_due",
    "owed_floor",
    "owed_inherited",
    "owed_read_by",
]
