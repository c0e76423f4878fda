"""Suppressed addresses: hard bounces, complaints, staff's entries and a
provider's stops that reach order mail (a recipient's unsubscribe from a
transactional stream, an address the provider deactivated) stop all mail to
an address; an unsubscribe stops marketing mail only (order confirmations
still go).

An address has one active entry. A stronger reason replaces a weaker one
(a hard bounce after an unsubscribe): the old row is closed, kept as
history, and a new one inserted; a weaker or equal reason is recorded on the
active entry (``absorbed``), which stays. A provider's reactivation lifts
only its own stops (``suppression_provider_lift``), in the provider's time
order, and makes the strongest absorbed entry of another cause active again;
so does staff's removal. Every write for one address takes its lock first
(``suppression_address_lock``).
"""

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, connections, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from notifications.models import (
    REACTIVATION_NOTE,
    Suppression,
    SuppressionReason,
    normalise_address,
)
from notifications.providers.base import EmailCategory

logger = logging.getLogger(__name__)

# How much mail a reason stops: an unsubscribe marketing mail only, the
# others everything (equal among themselves: the first one stays).
REASON_RANK: dict[str, int] = {
    SuppressionReason.UNSUBSCRIBE: 0,
    SuppressionReason.HARD_BOUNCE: 1,
    SuppressionReason.COMPLAINT: 1,
    SuppressionReason.MANUAL: 1,
    SuppressionReason.UNSUBSCRIBE_ALL: 1,
    SuppressionReason.DEACTIVATED: 1,
}
# A concurrent add for the address can win each try; three is plenty.
_ADD_TRIES = 3
# How long a reactivation note is kept. It refuses a stop of its list older
# than it; such a stop reaches us within Postmark's webhook retries (10 over
# about 10.5 hours) plus our own (WEBHOOK_MAX_ATTEMPTS, backoff capped at an
# hour: under 8 hours) of the reactivation's receipt. 30 days leaves room for
# an outage of the webhook endpoint and a staff replay of what failed in it.
REACTIVATION_NOTE_DAYS = 30
# Deleted in slices: a large backlog never holds one long lock on the table.
_PURGE_BATCH = 5000


def suppression_address_lock(address: str) -> None:
    """Hold, until the transaction ends, the one lock every write of
    ``address``'s suppressions takes first (its normalised key): a stop
    with no active row to lock still waits for a reactivation of the same
    address, and is then seen by it. Must run inside ``transaction.atomic``.

    PostgreSQL: a transaction-scoped advisory lock on a 64-bit hash computed
    here (``hashtext`` may change between server versions). SQLite: none
    needed, the project's IMMEDIATE transactions already write one at a time.
    """
    conn = connections[Suppression.objects.db]
    if conn.vendor != "postgresql":
        return
    digest = hashlib.blake2b(
        f"notifications.suppression:{normalise_address(address)}".encode(),
        digest_size=8,
    ).digest()
    with conn.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(%s)",
            [int.from_bytes(digest, "big", signed=True)],
        )


def suppression_active(address: str) -> Suppression | None:
    return Suppression.objects.filter(
        address=normalise_address(address), removed_at__isnull=True
    ).first()


def suppression_reason_blocks(reason: str | None, category: str) -> bool:
    """Whether an active suppression for ``reason`` (None: none) stops a
    message of ``category``."""
    if reason is None:
        return False
    return not (
        reason == SuppressionReason.UNSUBSCRIBE
        and category == EmailCategory.TRANSACTIONAL
    )


def suppression_blocks(address: str, category: str) -> Suppression | None:
    """The active suppression that stops a message of ``category`` to
    ``address``, or None."""
    found = suppression_active(address)
    if found is None or not suppression_reason_blocks(found.reason, category):
        return None
    return found


@dataclass(frozen=True)
class ProviderOrigin:
    """Where a provider's stop or reactivation happened: the account whose
    event it was, the provider's list (Postmark's message stream, SendGrid's
    unsubscribe group; "" when the event names none) and the event's own
    time (None: unknown). ``list_only``: a reactivation lifting only stops
    recorded on its list (``EmailEventRecord.list_only``)."""

    account_id: int
    stream: str = ""
    occurred_at: datetime | None = None
    list_only: bool = False


def suppression_add(*, address: str, reason: str, source: str = "") -> Suppression:
    """Suppress ``address`` for ``reason``; the active entry afterwards (the
    one there already, when it is as strong: this add is then recorded on
    it). Safe against a concurrent add for the same address: the unique
    active entry decides, and the loser looks again."""
    found = _add(address, reason, source, None)
    if found is None:  # only a provider's stale stop is refused
        raise RuntimeError("suppression could not be stored")
    return found


def suppression_provider_stop(
    *, address: str, reason: str, source: str, origin: ProviderOrigin
) -> Suppression | None:
    """``suppression_add`` for a provider's stop on one of its lists; None,
    storing nothing, when that account reactivated the address on that list
    at or after the stop's time (webhooks arrive in any order: a retried
    10:00 stop after the 11:00 reactivation is over)."""
    return _add(address, reason, source, origin)


def _add(
    address: str, reason: str, source: str, origin: ProviderOrigin | None
) -> Suppression | None:
    if reason not in REASON_RANK:
        raise ValueError(f"Unknown suppression reason: {reason!r}")
    address = normalise_address(address)
    for _ in range(_ADD_TRIES):
        try:
            with transaction.atomic():
                return _add_once(address, reason, source[:255], origin)
        except IntegrityError:
            # Another add inserted the active entry after we looked.
            continue
    found = suppression_active(address)
    if found is None:
        raise RuntimeError("suppression could not be stored")
    return found


def _add_once(
    address: str, reason: str, source: str, origin: ProviderOrigin | None
) -> Suppression | None:
    # Any other write for the address (another add, a provider's lift, a
    # removal, the rekey) waits for this transaction, and sees its outcome.
    suppression_address_lock(address)
    existing = (
        Suppression.objects.select_for_update()
        .filter(address=address, removed_at__isnull=True)
        .first()
    )
    if origin is not None and _reactivated_since(address, origin):
        logger.info(
            "provider stop older than its reactivation ignored",
            extra={"account_id": origin.account_id, "stream": origin.stream},
        )
        return None
    entry = _entry(reason, source, origin)
    if existing is not None:
        if REASON_RANK[reason] <= REASON_RANK.get(existing.reason, 1):
            _absorb(existing, entry)
            return existing
        existing.removed_at = timezone.now()
        existing.removed_reason = f"replaced by {reason} ({source or 'no source'})"
        existing.save(update_fields=["removed_at", "removed_reason"])
    created = _insert(address, entry)
    logger.info(
        "address suppressed",
        extra={
            "reason": reason,
            "suppression_id": created.pk,
            "replaced_id": existing.pk if existing is not None else None,
        },
    )
    return created


def _reactivated_since(address: str, origin: ProviderOrigin) -> bool:
    if origin.occurred_at is None:
        return False
    return Suppression.objects.filter(
        address=address,
        account_id=origin.account_id,
        stream=origin.stream,
        reactivated_at__gte=origin.occurred_at,
    ).exists()


def _entry(reason: str, source: str, origin: ProviderOrigin | None) -> dict[str, Any]:
    # One add, as kept on the entry that absorbed it (JSON: the time as text).
    at = origin.occurred_at if origin is not None else None
    return {
        "reason": reason,
        "source": source,
        "account_id": origin.account_id if origin is not None else None,
        "stream": origin.stream if origin is not None else "",
        "occurred_at": at.isoformat() if at is not None else None,
    }


def _same_cause(a: dict[str, Any], b: dict[str, Any]) -> bool:
    # A provider's list is one cause whatever its events' ids; else the source.
    if a["account_id"] is not None or b["account_id"] is not None:
        keys = ("reason", "account_id", "stream")
    else:
        keys = ("reason", "source")
    return all(a[k] == b[k] for k in keys)


def _absorb(existing: Suppression, entry: dict[str, Any]) -> None:
    """Record ``entry`` on the active ``existing``: one per cause, the
    latest (a link clicked twice, a stop repeated by the provider)."""
    kept = [e for e in existing.absorbed if not _same_cause(e, entry)]
    existing.absorbed = [*kept, entry]
    existing.save(update_fields=["absorbed"])
    logger.info(
        "suppression absorbed by the active entry",
        extra={"reason": entry["reason"], "suppression_id": existing.pk},
    )


def suppression_absorb_row(keeper: Suppression, closed: Suppression) -> None:
    """Record on the active ``keeper`` the entry of ``closed`` (closed as
    merged into it: two spellings of one address) and what ``closed`` had
    absorbed, one per cause as ``_absorb`` keeps them, so a later lift of
    ``keeper`` restores them as it restores its own absorbed entries."""
    absorbed = list(keeper.absorbed)
    for entry in (_as_entry(closed), *closed.absorbed):
        absorbed = [e for e in absorbed if not _same_cause(e, entry)] + [entry]
    keeper.absorbed = absorbed
    keeper.save(update_fields=["absorbed"])


def _insert(
    address: str, entry: dict[str, Any], absorbed: list[dict[str, Any]] | None = None
) -> Suppression:
    at = entry.get("occurred_at")
    return Suppression.objects.create(
        address=address,
        reason=entry["reason"],
        source=entry["source"],
        account_id=entry.get("account_id"),
        stream=entry.get("stream") or "",
        occurred_at=parse_datetime(at) if at else None,
        absorbed=absorbed or [],
    )


def suppression_remove(
    *,
    address: str,
    reason: str,
    suppression_id: int | None = None,
    version: int | None = None,
) -> Suppression | None:
    """Lift the active suppression of ``address``, keeping why; None if none
    (or, given ``suppression_id``, if the active entry is another by now;
    given ``version`` too, if that entry changed since it was read: staff
    remove the row they looked at, never what replaced or joined it).
    The strongest entry it absorbed from another cause is active again (a
    customer's complaint under staff's stop), else the unsubscribe it
    replaced: lifting a bounce never resumes marketing mail to someone who
    opted out. Lifting an unsubscribe (a resubscribe) restores nothing."""
    if not reason.strip():
        raise ValueError("A reason is required to remove a suppression.")
    address = normalise_address(address)
    with transaction.atomic():
        suppression_address_lock(address)
        found = (
            Suppression.objects.select_for_update()
            .filter(address=address, removed_at__isnull=True)
            .first()
        )
        if (
            found is None
            or suppression_id not in (None, found.pk)
            or version not in (None, found.version)
        ):
            return None
        _lift(found, reason.strip())
        restored = _restore(address, found, _other_causes(found))
    logger.info(
        "suppression removed",
        extra={
            "suppression_id": found.pk,
            "restored_id": restored.pk if restored is not None else None,
        },
    )
    return found


def suppression_provider_lift(
    *,
    address: str,
    origin: ProviderOrigin,
    marketing_only: bool,
    reason: str,
    ours: Callable[[Suppression], bool],
) -> Suppression | None:
    """Lift the active suppression of ``address`` when the provider lifted
    the stop that caused it: ``origin``'s account reactivated the address on
    its list ``origin.stream`` at ``origin.occurred_at``. The lifted entry, or None.

    Lifted only when ``ours`` (this account's event caused it), on that list
    (a row stored before lists were kept, by reach: ``marketing_only`` for
    a list that stops marketing mail only) and not newer than the
    reactivation. The strongest entry it absorbed from another cause is
    active after it (our unsubscribe link, staff's stop, another account's
    complaint), else the unsubscribe it had replaced, unless of that list
    (``_superseded_mark``). Recorded either way (``reactivated_at``), so a
    stop of that list older than it that arrives later is ignored
    (``suppression_provider_stop``)."""
    address = normalise_address(address)

    def lifted_by_it(entry: dict[str, Any]) -> bool:
        # An absorbed add names no account unless a provider's stop made it.
        return entry["account_id"] == origin.account_id and _on_list(
            entry, origin, marketing_only
        )

    with transaction.atomic():
        suppression_address_lock(address)
        _superseded_mark(address, origin, lifted_by_it)
        active = (
            Suppression.objects.select_for_update()
            .filter(address=address, removed_at__isnull=True)
            .first()
        )
        if (
            active is None
            or not ours(active)
            or not _on_list(_as_entry(active), origin, marketing_only)
        ):
            if active is not None:
                _absorbed_drop(active, lifted_by_it)
            _note_reactivation(address, origin, marketing_only, reason)
            return None
        # A row stored before lists were kept learns whose list it was on.
        active.account_id = active.account_id or origin.account_id
        active.stream = active.stream or origin.stream
        active.reactivated_at = origin.occurred_at
        _lift(active, reason)
        restored = _restore(address, active, lambda e: not lifted_by_it(e))
    logger.info(
        "suppression lifted by the provider",
        extra={
            "suppression_id": active.pk,
            "restored_id": restored.pk if restored is not None else None,
        },
    )
    return active


def _superseded_mark(
    address: str, origin: ProviderOrigin, lifted: Callable[[dict[str, Any]], bool]
) -> None:
    # The reactivation's own stops a stronger one replaced are over too:
    # marked, so lifting that one never restores them (_unsubscribe_restore).
    if origin.occurred_at is None:
        return
    rows = Suppression.objects.filter(
        address=address,
        account_id=origin.account_id,
        removed_at__isnull=False,
        reactivated_at__isnull=True,
    )
    for row in rows:
        if row.removed_reason.startswith(_SUPERSEDED) and lifted(_as_entry(row)):
            row.reactivated_at = origin.occurred_at
            row.save(update_fields=["reactivated_at"])


def _absorbed_drop(
    active: Suppression, lifted: Callable[[dict[str, Any]], bool]
) -> None:
    # The reactivation's own stops that another entry absorbed are over.
    kept = [e for e in active.absorbed if not lifted(e)]
    if kept != active.absorbed:
        active.absorbed = kept
        active.save(update_fields=["absorbed"])


def _lift(found: Suppression, reason: str) -> None:
    found.removed_at = timezone.now()
    found.removed_reason = reason
    found.save(
        update_fields=[
            "removed_at",
            "removed_reason",
            "reactivated_at",
            "account_id",
            "stream",
        ]
    )


def _as_entry(row: Suppression) -> dict[str, Any]:
    at = row.occurred_at
    return {
        "reason": row.reason,
        "source": row.source,
        "account_id": row.account_id,
        "stream": row.stream,
        "occurred_at": at.isoformat() if at is not None else None,
    }


def _on_list(
    entry: dict[str, Any], origin: ProviderOrigin, marketing_only: bool
) -> bool:
    """Whether the stop ``entry`` records, of ``origin``'s account, is one
    ``origin``'s reactivation lifts: on its list, and not newer."""
    if entry["stream"] or origin.list_only:
        if entry["stream"] != origin.stream:
            return False
    elif marketing_only and entry["reason"] != SuppressionReason.UNSUBSCRIBE:
        # Stored before lists were kept: a list of marketing mail only held
        # no stop of all mail. The transactional list held any (the release
        # before stored its recipient's unsubscribe as "unsubscribe").
        return False
    at = parse_datetime(entry["occurred_at"]) if entry["occurred_at"] else None
    # A stop newer than the reactivation is one the provider still holds.
    return at is None or origin.occurred_at is None or at <= origin.occurred_at


def _note_reactivation(
    address: str, origin: ProviderOrigin, marketing_only: bool, reason: str
) -> None:
    # A row closed when made (REACTIVATION_NOTE): the reactivation's time for
    # a stop of that list that arrives after it. No one's stop, so nothing
    # restores it; purged once it can no longer matter.
    if origin.occurred_at is None:
        return
    now = timezone.now()
    Suppression.objects.create(
        address=address,
        reason=(
            SuppressionReason.UNSUBSCRIBE
            if marketing_only
            else SuppressionReason.DEACTIVATED
        ),
        source=reason[:255],
        account_id=origin.account_id,
        stream=origin.stream,
        reactivated_at=origin.occurred_at,
        created_at=now,
        removed_at=now,
        removed_reason=f"{reason}; nothing of its was active here",
    )


def suppression_notes_purge(*, now: datetime | None = None) -> int:
    """Delete reactivation notes received more than ``REACTIVATION_NOTE_DAYS``
    ago: no stop older than their reactivation can still arrive. Rows of
    anyone's stop (lifted, replaced, merged) are history and stay. How many
    were deleted."""
    cutoff = (now or timezone.now()) - timedelta(days=REACTIVATION_NOTE_DAYS)
    old = Suppression.objects.filter(REACTIVATION_NOTE, created_at__lt=cutoff)
    deleted = 0
    while ids := list(old.values_list("pk", flat=True)[:_PURGE_BATCH]):
        deleted += Suppression.objects.filter(pk__in=ids).delete()[0]
    logger.info(
        "reactivation notes purged",
        extra={"deleted": deleted, "cutoff": cutoff.isoformat()},
    )
    return deleted


def _other_causes(lifted: Suppression) -> Callable[[dict[str, Any]], bool]:
    # Lifting an unsubscribe (a resubscribe) ends every opt-out; lifting a
    # stronger entry ends its own cause's repeats only: what it absorbed from
    # another (the customer's unsubscribe or complaint, a bounce) still holds.
    own = _as_entry(lifted)

    def keep(entry: dict[str, Any]) -> bool:
        return lifted.reason != SuppressionReason.UNSUBSCRIBE and not _same_cause(
            entry, own
        )

    return keep


def _restore(
    address: str, lifted: Suppression, keep: Callable[[dict[str, Any]], bool]
) -> Suppression | None:
    """The strongest entry ``lifted`` absorbed that ``keep`` keeps (the
    first of equals) active again, with the other kept ones absorbed; else
    the unsubscribe ``lifted`` had replaced."""
    kept = [e for e in lifted.absorbed if keep(e)]
    if not kept:
        return _unsubscribe_restore(address, lifted)
    best = max(kept, key=lambda e: REASON_RANK.get(e["reason"], 1))
    return _insert(address, best, [e for e in kept if e is not best])


# How a row closed without anyone lifting it says so (suppression_add, and
# the 0003 migration's merge of two spellings).
_SUPERSEDED = ("replaced by ", "merged into suppression ")


def _unsubscribe_restore(address: str, lifted: Suppression) -> Suppression | None:
    """The unsubscribe ``lifted`` had superseded, active again; None when
    the address's latest unsubscribe was itself lifted (a resubscribe), or
    its provider reactivated its list since."""
    if lifted.reason == SuppressionReason.UNSUBSCRIBE:
        return None
    latest = (
        Suppression.objects.filter(
            address=address, reason=SuppressionReason.UNSUBSCRIBE
        )
        .exclude(pk=lifted.pk)
        # A reactivation's note (closed when made) is no one's unsubscribe.
        .exclude(removed_at=F("created_at"))
        .order_by("-pk")
        .first()
    )
    if latest is None or not latest.removed_reason.startswith(_SUPERSEDED):
        return None
    if latest.reactivated_at is not None:
        return None  # its provider lifted it since (_superseded_mark)
    return _insert(address, _as_entry(latest), latest.absorbed)


__all__ = [
    "REASON_RANK",
    "ProviderOrigin",
    "SuppressionReason",
    "suppression_absorb_row",
    "suppression_active",
    "suppression_add",
    "suppression_address_lock",
    "suppression_blocks",
    "suppression_notes_purge",
    "suppression_provider_lift",
    "suppression_provider_stop",
    "suppression_reason_blocks",
    "suppression_remove",
]
