"""Holds forwarded to the ERP (for ERPs that keep their own:
``InventoryAdapter.supports_reservations``).

The shop's reservation is decided locally first and stays the authority
against overselling; the ERP is told afterwards. The service that makes or
closes a reservation writes a ``ReservationForward`` row in its own
transaction (reserve: one per ERP account that supplied a level; release or
confirm: one per account the reserve went to), and a task enqueued on commit
works it: never inside the request's transaction, never delaying its answer.

Each provider call goes through the keyed-attempt recorder with a key fixed
by the reservation's public id, account and operation, so every retry sends
the same key and the same reference: one hold per reservation at the ERP.
``not_processed``, ``paced`` and ``unknown`` outcomes are retried with backoff
(``integrations.leases``; a ``Retry-After`` is honoured), ``rejected`` gives
up at once; either way the error shows on the reservation in the admin.

A release or confirm waits for the reserve of the same hold to end (a
release could otherwise overtake it and leave a hold at the ERP); a reserve
not yet sent when its reservation is released is skipped, and so is the
release after it.
"""

import logging
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta
from functools import partial
from typing import Any, TypeVar

from django.db import transaction
from django.db.models import F
from django_q.tasks import async_task

from integrations import correlation
from integrations.attempts import attempt_run
from integrations.clock import database_now
from integrations.enqueue import enqueue_failed
from integrations.errors import Outcome, ProviderError, Rejected
from integrations.leases import ClaimLost, LeasedRows
from integrations.models import ProviderAccount
from integrations.registry import UnknownProvider, get_adapter, get_adapter_class
from integrations.rows import lock_rows
from integrations.secrets_registry import staff_text
from integrations.task_batcher import shared_broker
from inventory.models import (
    ForwardOperation,
    ForwardStatus,
    Reservation,
    ReservationForward,
    ReservationForwardAttempt,
    ReservationLine,
    ReservationStatus,
    StockLevel,
)
from inventory.providers.base import (
    ConfirmResult,
    InventoryAdapter,
    ReserveRequest,
    ReserveResult,
)
from inventory.providers.base import ReservationLine as HoldLine
from inventory.services.sold import (
    confirm_sending,
    confirm_units,
    sold_forward_ended,
)

logger = logging.getLogger(__name__)
T = TypeVar("T")

FORWARD_TASK = "inventory.tasks.forward_hold"
_OPEN = (ForwardStatus.PENDING, ForwardStatus.FAILED)
_ENDED = (ForwardStatus.DONE, ForwardStatus.DEAD, ForwardStatus.SKIPPED)

_rows = LeasedRows(
    model=ReservationForward,
    waiting=ForwardStatus.PENDING,
    running=ForwardStatus.SENDING,
    failed=ForwardStatus.FAILED,
    dead=ForwardStatus.DEAD,
    created_field="created_at",
    settings_prefix="INVENTORY_FORWARD",
    lease_setting="INVENTORY_FORWARD_LEASE_SECONDS",
    lost_error="worker lost while forwarding (claim expired)",
)


class NotYet(Exception):
    """The reserve of the same hold is still under way."""


# --- Writing forwards (inside the caller's transaction) ---------------------


def holding_accounts(source_ids: Iterable[int]) -> list[ProviderAccount]:
    """The enabled inventory accounts among ``source_ids`` whose adapter
    keeps holds."""
    ids = set(source_ids)
    if not ids:
        return []
    accounts = ProviderAccount.objects.filter(
        pk__in=ids, kind="inventory", enabled=True
    ).order_by("pk")
    return [account for account in accounts if _keeps_holds(account)]


def _keeps_holds(account: ProviderAccount) -> bool:
    try:
        adapter_class = get_adapter_class(account.kind, account.provider)
    except UnknownProvider:
        return False
    return bool(getattr(adapter_class, "supports_reservations", False))


def holds_forward_reserve(
    *, reservation: Reservation, levels: Iterable[StockLevel]
) -> int:
    """A reserve forward per ERP account that supplied one of ``levels`` and
    keeps holds; call it where ``reservation`` was made. Returns how many."""
    sources = {level.source_id for level in levels if level.source_id}
    accounts = holding_accounts(sources)
    for account in accounts:
        _forward_create(reservation, account.pk, ForwardOperation.RESERVE)
    return len(accounts)


def holds_forward_close(
    *,
    reservation: Reservation,
    status: str,
    sold: Mapping[int, dict[str, int]] | None = None,
) -> list[int]:
    """Inside the transaction that closed ``reservation``: tell every account
    its hold went to (confirmed: ``confirm``, carrying ``sold``'s units of
    the levels it supplies; released or expired: ``release``). Returns
    those accounts' ids."""
    operation = (
        ForwardOperation.CONFIRM
        if status == ReservationStatus.CONFIRMED
        else ForwardOperation.RELEASE
    )
    account_ids = list(
        ReservationForward.objects.filter(
            reservation=reservation, operation=ForwardOperation.RESERVE
        ).values_list("account_id", flat=True)
    )
    for account_id in account_ids:
        units = None
        if operation == ForwardOperation.CONFIRM:
            units = (sold or {}).get(account_id, {})
        _forward_create(reservation, account_id, operation, sold_units=units)
    return account_ids


def _forward_create(
    reservation: Reservation,
    account_id: int,
    operation: str,
    sold_units: dict[str, int] | None = None,
) -> None:
    forward = ReservationForward.objects.create(
        reservation=reservation,
        account_id=account_id,
        operation=operation,
        sold_units=sold_units,
    )
    # Outside a transaction (the one-statement reservation) this runs at once.
    transaction.on_commit(partial(_enqueue, forward.pk, correlation.get() or ""))


def forwards_enqueue(forward_ids: Iterable[int]) -> None:
    """Enqueue forwards written by a statement of the caller's (the
    one-statement reservation): at once in autocommit, else on commit."""
    for forward_id in forward_ids:
        transaction.on_commit(partial(_enqueue, forward_id, correlation.get() or ""))


def _enqueue(forward_id: int, correlation_id: str = "") -> None:
    try:
        async_task(FORWARD_TASK, forward_id, correlation_id, broker=shared_broker())
    except Exception as exc:
        # The row is stored; the sweeper enqueues it again later.
        enqueue_failed(
            logger,
            "hold forward enqueue failed; left for the sweeper",
            exc,
            extra={"forward_id": forward_id},
        )


# --- Working one forward (a task, outside any transaction) ------------------


def hold_forward_run(*, forward_id: int, now: datetime | None = None) -> str | None:
    """Send one forward to its ERP if this worker wins the claim; returns its
    new status, or None when another worker has it or it has ended. Times are
    the database's (``integrations.clock``) unless ``now`` is given."""
    if not _rows.claim(forward_id, now):
        logger.info("hold forward not claimed", extra={"forward_id": forward_id})
        return None
    forward = ReservationForward.objects.select_related("reservation", "account").get(
        pk=forward_id
    )
    # The claim's time, by the clock the sweep measures its lease on.
    now = now or forward.claimed_at
    try:
        status = _work(forward, now)
    except ClaimLost:
        logger.warning("hold forward claim lost", extra={"forward_id": forward_id})
        return None
    except NotYet:
        return _wait(forward, now)
    except ProviderError as error:
        status = _failed(forward, error, now)
    except Exception as exc:
        # The job boundary: a bug is kept on the row and retried like a fault.
        status = _rows.fail(forward, exc, now)
        logger.exception("hold forward crashed", extra={"forward_id": forward_id})
    if forward.operation == ForwardOperation.RESERVE and status in _ENDED:
        _wake_followers(forward, now)
    if forward.operation == ForwardOperation.CONFIRM and status == ForwardStatus.DEAD:
        confirms_given_up([forward.pk])
    return status


def _work(forward: ReservationForward, now: datetime) -> str:
    adapter = get_adapter(forward.account)
    if not isinstance(adapter, InventoryAdapter) or not adapter.supports_reservations:
        raise Rejected("the account keeps no holds", code="not_supported")
    if forward.operation == ForwardOperation.RESERVE:
        return _reserve(forward, adapter, now)
    releasing = forward.operation == ForwardOperation.RELEASE
    if _reserve_never_sent(forward, now):
        if releasing:
            return _finish(forward, ForwardStatus.SKIPPED, now)
        return _confirm_ended(forward, ForwardStatus.SKIPPED, now)
    reference = forward.reservation.public_id
    send = adapter.release if releasing else adapter.confirm
    if not releasing:
        _confirm_sending(forward)
    answer = _record(
        forward,
        lambda key: send(reference=reference, idempotency_key=key),
    )
    if releasing:
        return _finish(forward, ForwardStatus.DONE, now)
    erp_at = answer.confirmed_at if isinstance(answer, ConfirmResult) else None
    return _confirm_ended(forward, ForwardStatus.DONE, now, erp_at=erp_at)


def _confirm_ended(
    forward: ReservationForward,
    status: str,
    now: datetime,
    *,
    erp_at: datetime | None = None,
) -> str:
    """End a confirm forward together with the sold units its levels wait
    for (levels locked first, then the forward row, like every writer).
    ``erp_at``: the ERP's own time of the confirm, when it gave one."""
    with transaction.atomic():
        # After the ERP's answer: a figure read from now on shows it. By the
        # database's clock, which a webhook's arrival is compared by.
        sold_forward_ended(
            forward=forward, status=status, at=database_now(), erp_at=erp_at
        )
        return _finish(forward, status, now, awaiting_since=None)


def _confirm_sending(forward: ReservationForward) -> None:
    """Before a confirm's first call (again after it was given up): its
    levels await the answer from now on (levels locked first)."""
    if forward.awaiting_since is not None:
        return
    # By the database's clock, which a sync page's ask and answer are.
    at, units = database_now(), confirm_units(forward)
    with transaction.atomic():
        lock_rows(StockLevel, sorted(units))
        opened = _rows.held(forward).filter(awaiting_since__isnull=True)
        # A row written before the units were kept: the levels found now are
        # the ones the wait ends on, whatever their source is by then.
        kept = {str(level_id): count for level_id, count in units.items()}
        if not opened.update(awaiting_since=at, sold_units=kept):
            raise ClaimLost
        confirm_sending(units, at)
    forward.awaiting_since, forward.sold_units = at, kept


def confirms_given_up(forward_ids: Iterable[int] | None = None) -> int:
    """Confirm forwards ended ``dead`` whose answer their levels still await
    (``forward_ids``, or all: the sweep also finds those a lost worker or a
    crash left): their levels take the ERP's figures again, less the units
    (still unsent: nothing says the ERP took them). Returns how many."""
    rows = ReservationForward.objects.filter(
        operation=ForwardOperation.CONFIRM,
        status=ForwardStatus.DEAD,
        awaiting_since__isnull=False,
    )
    if forward_ids is not None:
        rows = rows.filter(pk__in=list(forward_ids))
    count = 0
    for forward in rows:
        with transaction.atomic():
            lock_rows(StockLevel, sorted(confirm_units(forward)))
            # Levels locked first; the row's own update decides who ends it.
            ended = ReservationForward.objects.filter(
                pk=forward.pk, status=ForwardStatus.DEAD, awaiting_since__isnull=False
            ).update(awaiting_since=None)
            if ended:
                sold_forward_ended(
                    forward=forward, status=ForwardStatus.DEAD, at=database_now()
                )
                count += 1
    return count


def _reserve(
    forward: ReservationForward, adapter: InventoryAdapter, now: datetime
) -> str:
    reservation = forward.reservation
    reservation.refresh_from_db(fields=["status"])
    closed = (ReservationStatus.RELEASED, ReservationStatus.EXPIRED)
    lines = tuple(
        HoldLine(sku=line.sku, location_code=line.location.code, quantity=line.quantity)
        for line in ReservationLine.objects.filter(
            reservation=reservation, stock_level__source_id=forward.account_id
        ).select_related("location")
    )
    if reservation.status in closed or not lines:
        return _finish(forward, ForwardStatus.SKIPPED, now)

    def call(key: str) -> ReserveResult:
        request = ReserveRequest(
            reference=reservation.public_id,
            lines=lines,
            idempotency_key=key,
            expires_at=reservation.expires_at,
        )
        return adapter.reserve(request)

    result = _record(forward, call, reference_of=lambda r: r.external_reference)
    return _finish(
        forward,
        ForwardStatus.DONE,
        now,
        external_reference=result.external_reference[:255],
    )


def _record(forward: ReservationForward, call: Callable[[str], T], **kwargs: Any) -> T:
    """One provider call through the keyed-attempt recorder."""
    reservation = forward.reservation
    return attempt_run(
        ReservationForwardAttempt,
        owner={"forward": forward, "reservation": reservation},
        account=forward.account,
        operation=forward.operation,
        idempotency_key=forward_key(forward),
        call=call,
        **kwargs,
    )


def forward_key(forward: ReservationForward) -> str:
    """Fixed per (reservation, account, operation): every retry reuses it."""
    return f"{forward.reservation.public_id}-a{forward.account_id}-{forward.operation}"


def _reserve_never_sent(forward: ReservationForward, now: datetime) -> bool:
    """Whether this release or confirm has no hold to act on: its reserve
    was skipped (or is cancelled here) before any call. Raises ``NotYet``
    while the reserve is still due or in flight."""
    reserve = ReservationForward.objects.filter(
        reservation_id=forward.reservation_id,
        account_id=forward.account_id,
        operation=ForwardOperation.RESERVE,
    ).first()
    if reserve is None:
        return False
    if forward.operation == ForwardOperation.RELEASE:
        # A released hold need not reach the ERP at all.
        ReservationForward.objects.filter(pk=reserve.pk, status__in=_OPEN).update(
            status=ForwardStatus.SKIPPED, next_attempt_at=None, finished_at=now
        )
        reserve.refresh_from_db(fields=["status"])
    if reserve.status not in _ENDED:
        raise NotYet
    sent = ReservationForwardAttempt.objects.filter(forward=reserve).exists()
    return reserve.status == ForwardStatus.SKIPPED and not sent


def _finish(
    forward: ReservationForward, status: str, now: datetime, **fields: str | None
) -> str:
    _rows.finish(forward, status, finished_at=now, **fields)
    logger.info(
        "hold forward ended",
        extra={
            "forward_id": forward.pk,
            "operation": forward.operation,
            "status": status,
        },
    )
    return status


def _wait(forward: ReservationForward, now: datetime) -> str:
    """Due again after the first backoff step, without using up an attempt;
    the reserve wakes it sooner when it ends."""
    _rows.held(forward).update(
        status=ForwardStatus.FAILED,
        attempts=F("attempts") - 1,
        last_error="waiting for the reserve of this hold to end",
        next_attempt_at=now + _rows.retry_delay(1),
    )
    return ForwardStatus.FAILED


def _failed(forward: ReservationForward, error: ProviderError, now: datetime) -> str:
    text = f"{error.outcome} {error.code}: " + staff_text(error.message)
    if error.outcome == Outcome.REJECTED:
        # The ERP said no: retrying would get the same answer.
        _rows.held(forward).update(
            status=ForwardStatus.DEAD,
            last_error=text[:2000],
            next_attempt_at=None,
            finished_at=now,
        )
        status = ForwardStatus.DEAD
    else:
        status = _rows.fail(forward, Exception(text), now)
        if status == ForwardStatus.FAILED and error.retry_after:
            # The ERP named its own wait: never come back sooner.
            _rows.model.objects.filter(
                pk=forward.pk,
                next_attempt_at__lt=now + timedelta(seconds=error.retry_after),
            ).update(next_attempt_at=now + timedelta(seconds=error.retry_after))
        ReservationForward.objects.filter(pk=forward.pk).update(last_error=text[:2000])
    log = logger.error if status == ForwardStatus.DEAD else logger.warning
    log(
        "hold forward failed",
        extra={
            "forward_id": forward.pk,
            "operation": forward.operation,
            "outcome": str(error.outcome),
            "code": error.code,
            "status": status,
        },
    )
    return status


def _wake_followers(reserve: ReservationForward, now: datetime) -> None:
    """The reserve ended: the release or confirm waiting on it goes now."""
    waiting = ReservationForward.objects.filter(
        reservation_id=reserve.reservation_id,
        account_id=reserve.account_id,
        status=ForwardStatus.FAILED,
    ).exclude(operation=ForwardOperation.RESERVE)
    for forward_id in list(waiting.values_list("pk", flat=True)):
        ReservationForward.objects.filter(pk=forward_id).update(next_attempt_at=now)
        _enqueue(forward_id, correlation.get() or "")


# --- Sweeping and staff retries ---------------------------------------------


def hold_forwards_sweep(*, now: datetime | None = None) -> int:
    """Enqueue forwards that are due again or were lost by the broker; take
    back ones whose worker died. Returns how many were enqueued. By the
    database's clock (the forwards' created, claimed and retry times) unless
    ``now`` is given."""
    now = now or database_now()
    dead, retrying = _rows.release_expired(now)
    if dead or retrying:
        logger.warning(
            "hold forward claims expired", extra={"dead": dead, "retrying": retrying}
        )
    # Also those a crash left between giving up and ending the wait.
    confirms_given_up()
    batch = list(_rows.due(now).values_list("pk", flat=True)[:500])
    for forward_id in batch:
        _enqueue(forward_id)
    if batch:
        logger.info("hold forwards swept", extra={"count": len(batch)})
    return len(batch)


def hold_forwards_retry(*, reservations: Iterable[Reservation]) -> int:
    """Staff: send the failed or abandoned forwards of ``reservations`` again,
    with fresh attempts (the same idempotency keys)."""
    retryable = [ForwardStatus.FAILED, ForwardStatus.DEAD]
    with transaction.atomic():
        rows = ReservationForward.objects.filter(
            reservation__in=list(reservations), status__in=retryable
        )
        ids = list(rows.values_list("pk", flat=True))
        ReservationForward.objects.filter(pk__in=ids, status__in=retryable).update(
            status=ForwardStatus.PENDING, attempts=0, next_attempt_at=None
        )
        for forward_id in ids:
            transaction.on_commit(
                partial(_enqueue, forward_id, correlation.get() or "")
            )
    logger.info("hold forwards retried", extra={"count": len(ids)})
    return len(ids)
