"""ERP syncs: page through an account's stock levels and apply each page
(``stock_levels_apply``), keeping a ``SyncRun``.

Incremental by the ERP's last-modified time where the adapter offers it
(``supports_since``): a run asks from when the previous run that read its
whole listing started, less a margin (``next_since``). A page that fails is
recorded in ``SyncRun.errors`` and the run goes on with the next one where
the continuation allows it (an offset, or the next batch of SKUs); the run
then ends ``partial`` and "since" stays: the next run reads the window
again (a page asked again later holds other records). Pages owed by runs of
an older version are covered the same way (``sync_owed``).

On the workers a run is worked a time budget per task (``sync_run_continue``:
claimed by a conditional update, its position saved with every page, the
next task enqueued on commit), so no task outlives ``Q_TIMEOUT``; the
``sync_inventory`` command works a run to its end in one process
(``sync_run_execute``). A run whose task was lost or whose worker died is
resumed from its last page by the schedule (``inventory_syncs_schedule``).
"""

import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import partial

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import IntegrityError, OperationalError, transaction
from django.db.models import Case, F, Q, Value, When
from django.db.models.functions import Coalesce
from django_q.tasks import async_task

from integrations import registry
from integrations.clock import database_now
from integrations.crypto import CredentialsDecryptError
from integrations.db import drop_if_busy
from integrations.errors import ProviderError
from integrations.leases import ClaimLost, describe_error
from integrations.models import ProviderAccount
from integrations.task_batcher import enqueue_failed, shared_broker
from inventory.models import SyncRun, SyncStatus
from inventory.providers.base import InventoryAdapter, LevelsQuery, StockLevelPage
from inventory.services.apply import stock_levels_apply
from inventory.services.errors import InventoryError
from inventory.services.sync_confirm import levels_found_live
from inventory.services.sync_gone import (
    levels_gone_apply,
    listed_forget,
    listed_record,
    seen_after,
)
from inventory.services.sync_owed import owed_floor, owed_inherited, owed_read_by
from inventory.services.sync_pages import (
    PageSource,
    SyncPosition,
    counted_before,
    failed_pages,
    known_skus,
    rejected_levels_record,
)

logger = logging.getLogger(__name__)

Progress = Callable[[SyncRun], None]
SYNC_TASK = "inventory.tasks.run_sync"
# An open sync no worker has moved for this long (no page applied, none
# started) is given up by the next start: resuming it failed.
STALE_AFTER = timedelta(hours=1)
OPEN = (SyncStatus.QUEUED, SyncStatus.RUNNING)
# A page's transaction is tried this often when chosen as a deadlock's victim.
PAGE_TRIES = 3
DEADLOCK = "40P01"  # PostgreSQL's deadlock_detected
CREDENTIALS_UNREADABLE = (
    "the account's credentials cannot be decrypted with the current key "
    "(CREDENTIALS_ENCRYPTION_KEYS); put the key they were encrypted with back "
    "after the newest, run `manage.py rotate_credentials`, then remove it; or "
    "enter the credentials again in the admin"
)
_PAGE_FIELDS = [
    "pages",
    "items_seen",
    "items_changed",
    "items_failed",
    "errors",
]


def sync_run_start(*, account: ProviderAccount, full: bool = False) -> SyncRun:
    """A queued run for ``account``; ``since`` is when the last complete run
    started, less a margin, unless ``full`` (or the ERP cannot filter by
    time). One run per account at a time: ``sync_running`` otherwise; a
    disabled account: ``account_disabled``."""
    if account.kind != "inventory":
        raise InventoryError("Not an inventory account.", code="invalid_account")
    if not account.enabled:
        # Staff disabled it for a reason (the schedule skips it too); a
        # "Sync now" page opened before that still posts its id.
        raise InventoryError(
            f"The account {account.slug} is disabled; it is not synced.",
            code="account_disabled",
        )
    try:
        adapter = registry.get_adapter(account)
    except (registry.UnknownProvider, ImproperlyConfigured) as exc:
        raise InventoryError(str(exc), code="invalid_account") from None
    # A run nobody has moved for an hour (resumed in vain, or its process
    # died) ends here, so it does not block every later sync of the account.
    # Measured from its last page: a long run that keeps going is not stale.
    now = database_now()
    cut = now - STALE_AFTER
    stale = Q(progress_at__lt=cut) | Q(progress_at__isnull=True, started_at__lt=cut)
    SyncRun.objects.filter(stale, account=account, status__in=OPEN).update(
        status=SyncStatus.FAILED, finished_at=now, claimed_at=None
    )
    since = next_since(account) if not full and adapter.supports_since else None
    owed = owed_inherited(account.pk)
    if since is not None:
        # Pages owed by an older version's run: read their window whole
        # again (a page asked again no longer holds its records).
        since = owed_floor(since, owed)
    try:
        # The partial unique index (one open run per account) decides
        # between two starters racing past any check of ours.
        with transaction.atomic():
            return SyncRun.objects.create(
                account=account,
                full=full,
                since=since,
                owed=owed,
                started_at=now,
            )
    except IntegrityError:
        raise InventoryError(
            "A sync of this account is already under way.", code="sync_running"
        ) from None


def sync_run_queue(*, account: ProviderAccount, full: bool = False) -> SyncRun:
    """Start a run of ``account`` and enqueue its first task when the
    caller's transaction commits ("sync now", the schedule)."""
    with transaction.atomic():
        run = sync_run_start(account=account, full=full)
        transaction.on_commit(partial(_enqueue, run.pk))
    return run


def next_since(account: ProviderAccount) -> datetime | None:
    """Where an incremental run of ``account`` starts: when the last run
    that read its whole listing started, less
    ``INVENTORY_SYNC_SINCE_MARGIN_SECONDS``. Not the newest modification
    time that run saw: a level the ERP changed after its page was read is
    older than that and would never be asked for again."""
    last = (
        # A run that gave up, or missed a page, does not.
        SyncRun.objects.filter(account=account)
        .filter(Q(status=SyncStatus.SUCCEEDED) | Q(covered=True))
        .order_by("-started_at")
        .first()
    )
    if last is None:
        return None
    return last.started_at - timedelta(
        seconds=settings.INVENTORY_SYNC_SINCE_MARGIN_SECONDS
    )


def sync_run_execute(*, run: SyncRun, progress: Progress | None = None) -> SyncRun:
    """Work the run to its end in this process (the command), saving
    counters after every page. Anything but a provider's error ends the run
    ``failed`` with its cause kept, and is raised as
    InventoryError(sync_failed)."""
    if not _claim(run.pk):
        raise InventoryError(
            "A sync of this account is already under way.", code="sync_running"
        )
    run.refresh_from_db()  # as claimed: started now, from its stored position
    try:
        _guarded(run, progress, deadline=None)
    except ClaimLost:
        raise InventoryError(
            "Another worker took this sync over.", code="sync_running"
        ) from None
    return run


def sync_run_continue(
    *, run_id: int, budget_seconds: float | None = None
) -> SyncRun | None:
    """One task's worth of a run: claim it, apply pages for
    ``budget_seconds`` (``sync_time_budget()``; the page under way is never
    cut, and each task applies at least one), then end the run or hand it to
    a fresh task, enqueued on commit, that resumes at the next page. None
    when the run has ended or another worker holds it."""
    if not _claim(run_id):
        logger.info("inventory sync not claimed", extra={"run": run_id})
        return None
    # Read after the claim: the position the last holder saved.
    run = SyncRun.objects.select_related("account").get(pk=run_id)
    budget = sync_time_budget() if budget_seconds is None else budget_seconds
    try:
        more = _guarded(run, None, deadline=time.monotonic() + budget, resumable=True)
    except ClaimLost:
        # Resumed by another worker meanwhile (this one was taken for dead):
        # this task's last page rolled back, the other goes on from before it.
        logger.warning("inventory sync taken over", extra={"run": run_id})
        return None
    if more:
        # Between tasks the run stays running, held by nobody; the next
        # task claims it, or the schedule resumes it if that task is lost.
        released = SyncRun.objects.filter(pk=run.pk, claimed_at=run.claimed_at)
        if released.update(claimed_at=None):
            run.claimed_at = None
            transaction.on_commit(partial(_enqueue, run.pk))
    return run


def sync_time_budget() -> float:
    """Seconds a sync task applies pages: ``INVENTORY_SYNC_TIME_BUDGET_SECONDS``,
    or half of the cluster's timeout."""
    budget = settings.INVENTORY_SYNC_TIME_BUDGET_SECONDS
    return float(settings.Q_CLUSTER["timeout"]) / 2 if budget is None else budget


def inventory_syncs_schedule() -> int:
    """The schedule: queue a run, one task each, for every enabled account
    with none open (a start first ends runs stale for STALE_AFTER), then
    resume runs whose task was lost or whose worker died, from their last
    page. Returns how many runs were started."""
    started = 0
    for account in inventory_accounts():
        try:
            sync_run_queue(account=account, full=_full_due(account))
        except InventoryError as error:
            logger.info(
                "inventory sync skipped",
                extra={"account": account.slug, "code": error.code},
            )
            continue
        except Exception:
            # One account's fault (its data, its settings) must not stop the
            # accounts after it, or the resuming of lost runs, on every tick.
            logger.exception(
                "inventory sync not queued", extra={"account": account.slug}
            )
            continue
        started += 1
    resumed = sync_runs_resume()
    if resumed:
        logger.warning("inventory syncs resumed", extra={"count": resumed})
    return started


def _full_due(account: ProviderAccount) -> bool:
    """No full sync that read the ERP within INVENTORY_SYNC_FULL_EVERY_HOURS:
    an incremental run misses what it held back or what was stamped early. A
    partial one counts: a page that always fails would otherwise make every
    tick a full sync."""
    # By the database's clock, which the runs' starts are stamped by.
    every = timedelta(hours=settings.INVENTORY_SYNC_FULL_EVERY_HOURS)
    recent = database_now() - every
    return not SyncRun.objects.filter(
        account=account,
        full=True,
        status__in=(SyncStatus.SUCCEEDED, SyncStatus.PARTIAL),
        started_at__gte=recent,
    ).exists()


def sync_runs_resume() -> int:
    """Enqueue open runs nobody has held for ``INVENTORY_SYNC_LEASE_SECONDS``
    (queued or between tasks with their task lost, or held by a worker that
    died); their claim keeps a duplicate task harmless."""
    lease = timedelta(seconds=settings.INVENTORY_SYNC_LEASE_SECONDS)
    idle = (
        SyncRun.objects.filter(status__in=OPEN, account__enabled=True)
        .alias(seen_at=Coalesce("claimed_at", "progress_at", "started_at"))
        .filter(seen_at__lt=database_now() - lease)
    )
    ids = list(idle.order_by("pk").values_list("pk", flat=True))
    for run_id in ids:
        transaction.on_commit(partial(_enqueue, run_id))
    return len(ids)


def _enqueue(run_id: int) -> None:
    try:
        async_task(SYNC_TASK, run_id, broker=shared_broker())
    except Exception as exc:
        # The run stays open: the schedule (sync_runs_resume) resumes it.
        enqueue_failed("inventory sync", exc, {"run": run_id})


def _claim(run_id: int) -> bool:
    """Take an open run nobody holds (or whose holder's lease expired) for
    this worker: a conditional update, so two tasks never work one run.
    The first claim is the run's start. Both are stamped by the database's
    clock, which every other claimant and the schedule measure the lease
    by."""
    now = database_now()
    lease = timedelta(seconds=settings.INVENTORY_SYNC_LEASE_SECONDS)
    free = Q(claimed_at__isnull=True) | Q(claimed_at__lt=now - lease)
    claimed = (
        SyncRun.objects.filter(pk=run_id, status__in=OPEN)
        .filter(free)
        .update(
            status=SyncStatus.RUNNING,
            claimed_at=now,
            started_at=Case(
                When(status=SyncStatus.QUEUED, then=Value(now)),
                default=F("started_at"),
            ),
        )
    )
    return claimed == 1


def _guarded(
    run: SyncRun,
    progress: Progress | None,
    deadline: float | None,
    *,
    resumable: bool = False,
) -> bool:
    """``_work`` ending the run ``failed`` on anything but a lost claim. A
    stop (Ctrl-C, a worker shut down) ends it too, unless ``resumable`` (a
    task's run): then it is released, and the schedule resumes it from its
    last page."""
    try:
        return _work(run, progress, deadline)
    except ClaimLost:
        raise
    except CredentialsDecryptError:
        # Says why and what to do; a rerun would fail the same way.
        _end_failed(run, "credentials_unreadable", CREDENTIALS_UNREADABLE)
        logger.error(
            "inventory sync: credentials unreadable",
            extra={"run": run.pk, "account": run.account.slug},
        )
        raise InventoryError(
            CREDENTIALS_UNREADABLE, code="credentials_unreadable"
        ) from None
    except Exception as exc:
        message = describe_error(exc)[:200]
        _end_failed(run, "sync_failed", message)
        logger.exception("inventory sync crashed", extra={"run": run.pk})
        raise InventoryError(
            f"The sync failed: {message}", code="sync_failed"
        ) from None
    except BaseException:
        drop_if_busy()  # a stop inside a statement's reading left it unread
        if resumable:
            SyncRun.objects.filter(pk=run.pk, claimed_at=run.claimed_at).update(
                claimed_at=None
            )
            logger.warning("inventory sync stopped; resumable", extra={"run": run.pk})
            raise
        # The operator stopped it: it ends here, or it would keep the
        # account's next syncs waiting.
        _end_failed(run, "sync_interrupted", "The sync was interrupted.")
        logger.warning("inventory sync interrupted", extra={"run": run.pk})
        raise


def _end_failed(run: SyncRun, code: str, message: str) -> None:
    run.errors = [*run.errors, {"code": code, "message": message}]
    run.status, run.finished_at = SyncStatus.FAILED, database_now()
    SyncRun.objects.filter(pk=run.pk, claimed_at=run.claimed_at).update(
        errors=run.errors,
        status=run.status,
        finished_at=run.finished_at,
        claimed_at=None,
    )
    run.claimed_at = None


def _work(run: SyncRun, progress: Progress | None, deadline: float | None) -> bool:
    """Apply pages from the run's position until none is left (the run is
    finished: False) or the next one would end past ``deadline`` (True)."""
    adapter = registry.get_adapter(run.account)
    # Opened before the first page: an adapter reads them lazily, where the
    # client turns the failure into unexpected_error and opens the breaker.
    run.account.get_credentials()
    source = PageSource(adapter, run)
    position = SyncPosition.of(run, adapter)
    slowest, pages = 0.0, 0
    while (query := source.query(position)) is not None:
        # At least one page a task, or a page slower than the budget would
        # never be applied; then none that would end past the deadline.
        if pages and deadline is not None and time.monotonic() + slowest > deadline:
            return True
        # By the database's clock, which the ERP's acknowledgement of a
        # confirm and its send are stamped by (sold.figure_stale).
        began, asked_at = time.monotonic(), database_now()
        page, error = _ask(adapter, query)
        # The ERP computed it somewhere between the ask and its answer.
        window = (asked_at, database_now())
        again = counted_before(position, page) if page is not None else 0
        position = source.after(position, query, page, error)
        position = seen_after(position, page)
        _page_save(run, (page, again), window, position)
        slowest, pages = max(slowest, time.monotonic() - began), pages + 1
        if progress is not None:
            progress(run)
    # The look-ups before the last transaction take time too: a task of their
    # own when a page more would not have fitted (sync_confirm).
    late = deadline is not None and time.monotonic() + slowest > deadline
    if pages and late and adapter.looks_up_items:
        return True
    _finish(run, position, adapter, deadline)
    return False


def _ask(
    adapter: InventoryAdapter, query: LevelsQuery
) -> tuple[StockLevelPage | None, ProviderError | None]:
    """The page ``query`` asks for, or the error it failed with."""
    try:
        return adapter.levels(query), None
    except ProviderError as error:
        return None, error


def _page_save(
    run: SyncRun,
    read: tuple[StockLevelPage | None, int],
    window: tuple[datetime, datetime],
    position: SyncPosition,
) -> None:
    """``_page_apply``, again when PostgreSQL made its transaction a
    deadlock's victim (rolled back whole; the page's answer still holds):
    one staff or ERP write crossing it fails neither the page nor the run.
    Past PAGE_TRIES the run ends failed as before: a lock order is broken."""
    counters = {name: getattr(run, name) for name in (*_PAGE_FIELDS, "high_water")}
    for attempt in range(1, PAGE_TRIES + 1):
        try:
            _page_apply(run, read, window, position)
            return
        except OperationalError as exc:
            cause = exc.__cause__
            if attempt == PAGE_TRIES or getattr(cause, "sqlstate", "") != DEADLOCK:
                raise
        for name, value in counters.items():
            setattr(run, name, value)  # as before the rolled back try
        logger.warning(
            "inventory sync page deadlocked; applied again",
            extra={"run": run.pk, "attempt": attempt},
        )


def _page_apply(
    run: SyncRun,
    read: tuple[StockLevelPage | None, int],
    window: tuple[datetime, datetime],
    position: SyncPosition,
) -> None:
    """Apply a page (and how many of its levels the page before counted)
    and save the run's counters and position in one
    transaction, while this worker's claim stands (ClaimLost rolls both
    back): a resumed run never applies a page twice or skips one."""
    page, again = read
    with transaction.atomic():
        # The database's time: the claim's lease and the holds' expiry are.
        now = database_now()
        if page is not None:
            rejected_levels_record(run, page.rejected)
            # Its figures are current as of when it was asked for, or later,
            # up to when its answer came (sold.figure_stale).
            result = stock_levels_apply(
                account=run.account,
                records=page.records,
                now=now,
                as_of=window[0],
                answered_at=window[1],
            )
            run.items_seen += result.seen - min(again, result.seen)
            run.items_changed += result.changed
            if result.newest and (not run.high_water or result.newest > run.high_water):
                run.high_water = result.newest
        listed_record(run, position, page)
        run.pages += 1
        saved = SyncRun.objects.filter(pk=run.pk, claimed_at=run.claimed_at).update(
            **{name: getattr(run, name) for name in _PAGE_FIELDS},
            high_water=run.high_water,
            position=position.as_json(),
            progress_at=now,
            claimed_at=now,
        )
        if saved != 1:
            raise ClaimLost
    run.position, run.progress_at, run.claimed_at = position.as_json(), now, now


def _finish(
    run: SyncRun,
    position: SyncPosition,
    adapter: InventoryAdapter,
    deadline: float | None,
) -> SyncRun:
    # Records refused as invalid were read: counted and listed, but only a
    # page that failed makes the run partial (and moves no "since").
    run.covered = not position.incomplete
    # Read whole from before the pages an older run owed: they are covered
    # (otherwise kept, for the next run to read their window).
    if run.covered and owed_read_by(run):
        run.owed = []
    missed = [e for e in run.errors if e.get("code") != "invalid_level"]
    if not missed:
        run.status = SyncStatus.SUCCEEDED
    elif run.items_seen:
        run.status = SyncStatus.PARTIAL
    else:
        run.status = SyncStatus.FAILED
    # Only a listing read whole tells what the ERP no longer has. The ERP
    # confirms it item by item first, with no transaction held open.
    checks = run.status == SyncStatus.SUCCEEDED and position.seen is not None
    live = levels_found_live(run, adapter, deadline) if checks else frozenset()
    run.finished_at = database_now()
    with transaction.atomic():
        if checks:
            levels_gone_apply(run, run.finished_at, live=live)
        listed_forget(run)
        ended = SyncRun.objects.filter(pk=run.pk, claimed_at=run.claimed_at).update(
            status=run.status,
            finished_at=run.finished_at,
            claimed_at=None,
            covered=run.covered,
            owed=run.owed,
            errors=run.errors,
        )
        if not ended:
            raise ClaimLost
    run.claimed_at = None
    logger.info(
        "inventory sync finished",
        extra={
            "account": run.account.slug,
            "status": run.status,
            "seen": run.items_seen,
            "changed": run.items_changed,
            "failed_pages": failed_pages(run),
        },
    )
    return run


def inventory_sync(
    *,
    account: ProviderAccount,
    full: bool = False,
    progress: Progress | None = None,
) -> SyncRun:
    """Start and run a sync of ``account`` to its end in this process."""
    run = sync_run_start(account=account, full=full)
    return sync_run_execute(run=run, progress=progress)


def inventory_accounts() -> list[ProviderAccount]:
    return list(
        ProviderAccount.objects.filter(kind="inventory", enabled=True).order_by(
            "priority", "pk"
        )
    )


__all__ = [
    "inventory_accounts",
    "inventory_sync",
    "inventory_syncs_schedule",
    "known_skus",
    "sync_run_continue",
    "sync_run_execute",
    "sync_run_queue",
    "sync_run_start",
    "sync_runs_resume",
    "sync_time_budget",
]
