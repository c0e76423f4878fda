"""ERP syncs: page through an account's stock levels and apply each page
(``stock_levels_apply``), keeping a ``SyncRun``.

Incremental by the ERP's last-modified time where the adapter offers it
(``supports_since``): a run asks from when the previous successful run
started, less a margin (``next_since``). A page that fails is recorded in
``SyncRun.errors`` and the run goes on with the next one where the
continuation allows it (an offset, or the next batch of SKUs); the run then
ends ``partial``.
"""

import logging
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import IntegrityError, transaction
from django.utils import timezone

from integrations import registry
from integrations.errors import ProviderError
from integrations.models import ProviderAccount
from integrations.secrets_registry import staff_text
from inventory.models import ReorderPoint, StockLevel, SyncRun, SyncStatus
from inventory.providers.base import (
    InventoryAdapter,
    LevelsQuery,
    RejectedLevel,
    StockLevelPage,
)
from inventory.services.apply import stock_levels_apply
from inventory.services.errors import InventoryError

logger = logging.getLogger(__name__)

Progress = Callable[[SyncRun], None]
MAX_ERRORS_KEPT = 50
MAX_FAILED_PAGES_IN_A_ROW = 3
# A queued or running sync older than this died with its process.
STALE_AFTER = timedelta(hours=1)
OPEN = (SyncStatus.QUEUED, SyncStatus.RUNNING)


def sync_run_start(*, account: ProviderAccount, full: bool = False) -> SyncRun:
    """A queued run for ``account``; ``since`` is when the last complete run
    started, less a margin, unless ``full`` (or the ERP cannot filter by
    time). One run per account at a time: ``sync_running`` otherwise."""
    if account.kind != "inventory":
        raise InventoryError("Not an inventory account.", code="invalid_account")
    try:
        adapter = registry.get_adapter(account)
    except (registry.UnknownProvider, ImproperlyConfigured) as exc:
        raise InventoryError(str(exc), code="invalid_account") from None
    open_runs = SyncRun.objects.filter(account=account, status__in=OPEN)
    # A run whose process died (or whose task the broker lost) ends here,
    # so it does not block every later sync of the account.
    open_runs.filter(started_at__lt=timezone.now() - STALE_AFTER).update(
        status=SyncStatus.FAILED, finished_at=timezone.now()
    )
    since = next_since(account) if not full and adapter.supports_since else None
    try:
        # The partial unique index (one open run per account) decides
        # between two starters racing past any check of ours.
        with transaction.atomic():
            return SyncRun.objects.create(account=account, full=full, since=since)
    except IntegrityError:
        raise InventoryError(
            "A sync of this account is already under way.", code="sync_running"
        ) from None


def next_since(account: ProviderAccount) -> datetime | None:
    """Where an incremental run of ``account`` starts: when the last complete
    run started, less ``INVENTORY_SYNC_SINCE_MARGIN_SECONDS``. Not the newest
    modification time that run saw: a level the ERP changed after its page
    was read is older than that and would never be asked for again."""
    last = (
        # A partial run skipped pages: only a complete one moves "since".
        SyncRun.objects.filter(account=account, status=SyncStatus.SUCCEEDED)
        .order_by("-started_at")
        .first()
    )
    if last is None:
        return None
    return last.started_at - timedelta(
        seconds=settings.INVENTORY_SYNC_SINCE_MARGIN_SECONDS
    )


def sync_run_execute(*, run: SyncRun, progress: Progress | None = None) -> SyncRun:
    """Work the run to its end, saving counters after every page. Anything
    but a provider's error ends the run ``failed`` with its cause kept, and
    is raised as InventoryError(sync_failed)."""
    try:
        return _execute(run, progress)
    except Exception as exc:
        message = staff_text(f"{type(exc).__name__}: {exc}")[:200]
        _end_failed(run, "sync_failed", message)
        logger.exception("inventory sync crashed", extra={"run": run.pk})
        raise InventoryError(
            f"The sync failed: {message}", code="sync_failed"
        ) from None
    except BaseException:
        # Ctrl-C or a worker shut down: the run ends here, or it would keep
        # the account's next syncs waiting for STALE_AFTER.
        _end_failed(run, "sync_interrupted", "The sync was interrupted.")
        logger.warning("inventory sync interrupted", extra={"run": run.pk})
        raise


def _end_failed(run: SyncRun, code: str, message: str) -> None:
    run.errors = [*run.errors, {"code": code, "message": message}]
    run.status, run.finished_at = SyncStatus.FAILED, timezone.now()
    run.save(update_fields=["errors", "status", "finished_at"])


def _execute(run: SyncRun, progress: Progress | None) -> SyncRun:
    adapter = registry.get_adapter(run.account)
    run.status, run.started_at = SyncStatus.RUNNING, timezone.now()
    run.save(update_fields=["status", "started_at"])
    for page, asked_at in _pages(adapter, run):
        if page is not None:
            _record_rejected(run, page.rejected)
            result = stock_levels_apply(
                account=run.account,
                records=page.records,
                now=timezone.now(),
                as_of=asked_at,
            )
            run.items_seen += result.seen
            run.items_changed += result.changed
            if result.newest and (not run.high_water or result.newest > run.high_water):
                run.high_water = result.newest
        run.pages += 1
        run.save(
            update_fields=[
                "pages",
                "items_seen",
                "items_changed",
                "items_failed",
                "errors",
                "high_water",
            ]
        )
        if progress is not None:
            progress(run)
    return _finish(run)


def _finish(run: SyncRun) -> SyncRun:
    if not run.errors:
        run.status = SyncStatus.SUCCEEDED
    elif run.items_seen:
        run.status = SyncStatus.PARTIAL
    else:
        run.status = SyncStatus.FAILED
    run.finished_at = timezone.now()
    run.save(update_fields=["status", "finished_at"])
    logger.info(
        "inventory sync finished",
        extra={
            "account": run.account.slug,
            "status": run.status,
            "seen": run.items_seen,
            "changed": run.items_changed,
            "failed_pages": len(run.errors),
        },
    )
    return run


def _pages(
    adapter: InventoryAdapter, run: SyncRun
) -> Iterator[tuple[StockLevelPage | None, datetime]]:
    """Each page (None for one that failed and was recorded) and when it was
    asked for: its figures are current as of then or later."""
    limit = min(settings.INVENTORY_SYNC_PAGE_SIZE, adapter.max_page_size)
    first = LevelsQuery(since=run.since, limit=limit)
    if adapter.levels_by_sku:
        skus = known_skus()
        batches = [skus[i : i + limit] for i in range(0, len(skus), limit)]
        starts = [LevelsQuery(limit=limit, skus=tuple(batch)) for batch in batches]
    else:
        starts = [first]
    for start in starts:
        query: LevelsQuery | None = start
        failures = 0
        while query is not None:
            asked_at = timezone.now()
            try:
                page = adapter.levels(query)
            except ProviderError as error:
                _record_failure(run, query, error)
                yield None, asked_at
                failures += 1
                # Past a few failures in a row the ERP is down, not one page bad.
                give_up = failures >= MAX_FAILED_PAGES_IN_A_ROW
                query = None if give_up else _skip(adapter, query)
                continue
            failures = 0
            yield page, asked_at
            query = query.next(page) if page.has_more else None


def _skip(adapter: InventoryAdapter, query: LevelsQuery) -> LevelsQuery | None:
    """The query after a failed one: the next batch of SKUs follows anyway;
    otherwise the adapter's ``cursor_after`` (None: nothing can follow)."""
    if query.skus:
        return None
    cursor = adapter.cursor_after(query)
    return None if cursor is None else replace(query, cursor=cursor)


def _record_failure(run: SyncRun, query: LevelsQuery, error: ProviderError) -> None:
    run.items_failed += len(query.skus) or query.limit
    if len(run.errors) < MAX_ERRORS_KEPT:
        run.errors = [
            *run.errors,
            {
                "cursor": query.cursor,
                "skus": len(query.skus),
                "code": error.code,
                "outcome": str(error.outcome),
                "message": staff_text(error.message)[:200],
            },
        ]
    logger.warning(
        "inventory sync page failed",
        extra={"account": run.account.slug, "code": error.code},
    )


def _record_rejected(run: SyncRun, rejected: tuple[RejectedLevel, ...]) -> None:
    """Levels of a page our columns cannot hold (the adapter's page left them
    out): counted as failed and listed for staff; the page's others apply."""
    run.items_failed += len(rejected)
    for level in rejected:
        if len(run.errors) < MAX_ERRORS_KEPT:
            run.errors = [
                *run.errors,
                {
                    "code": "invalid_level",
                    "sku": level.sku,
                    "location": level.location_code,
                    "message": level.reason,
                },
            ]
        logger.warning(
            "inventory sync level refused",
            extra={
                "account": run.account.slug,
                "sku": level.sku,
                "reason": level.reason,
            },
        )


def known_skus() -> list[str]:
    """Every SKU we stock or reorder: what a ``levels_by_sku`` ERP is asked."""
    stocked = StockLevel.objects.values_list("sku", flat=True).distinct()
    reordered = ReorderPoint.objects.values_list("sku", flat=True)
    return sorted(set(stocked) | set(reordered))


def inventory_sync(
    *,
    account: ProviderAccount,
    full: bool = False,
    progress: Progress | None = None,
) -> SyncRun:
    """Start and run a sync of ``account`` in this process."""
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
    "known_skus",
    "sync_run_execute",
    "sync_run_start",
]
