"""Stored address keys re-keyed under today's ``normalise_address``: what
migration 0004 did at the deploy, for the rows the release before wrote
while the deploy ran (its workers and webhooks still took events), and after
any later change of the encoding (``manage.py rekey_addresses``). The
migration keeps its own copy of this, frozen as of its day; this is the
live code, on the live models.

Idempotent, in batches, a row per transaction (webhooks write suppressions
meanwhile), so a run stopped half way is finished by running it again. A
value neither IDNA encodes, or one too long for its column once encoded, is
kept as given.

- Suppressions: where the new key is already active, the stronger reason
  stays active and the other is closed, as merged (``suppression_remove``
  reads that as superseded, not lifted).
- Bulk recipients: where the send already has the new key, the row is kept
  as given; not worked yet (pending, no message), it is done as a duplicate,
  as a send keeps an address once at creation (bulk sending also sends one
  message per address: ``bulk_duplicates``).
"""

import logging
from collections.abc import Iterator
from dataclasses import asdict, dataclass

from django.db import IntegrityError, transaction
from django.db.models import F, QuerySet
from django.utils import timezone

from integrations.models import BatchJob, BatchRowStatus
from notifications.models import (
    BulkRecipient,
    EmailMessage,
    Suppression,
    normalise_address,
)
from notifications.services.bulk_chunk import idempotency_key
from notifications.services.bulk_duplicates import NON_ASCII
from notifications.services.suppressions import (
    suppression_absorb_row,
    suppression_address_lock,
    suppression_reason_blocks,
)

logger = logging.getLogger(__name__)

_BATCH = 500
# A concurrent suppression_add can take the new key between look and write.
_TRIES = 3


@dataclass
class RekeyResult:
    suppressions: int = 0  # re-keyed
    merged: int = 0  # of those, closed as the weaker of two spellings
    recipients: int = 0  # re-keyed
    duplicates: int = 0  # recipients done as a duplicate of another row
    kept: int = 0  # left as given: a busy key, or a recipient already worked

    def summary(self) -> str:
        """One line for staff."""
        return (
            f"Re-keyed {self.suppressions} suppression(s) ({self.merged} merged "
            f"into an active one) and {self.recipients} bulk recipient(s); "
            f"{self.duplicates} recipient(s) done as a duplicate, "
            f"{self.kept} row(s) kept as given."
        )


def addresses_rekey() -> RekeyResult:
    """Re-key every stored address not in today's key (module docstring)."""
    result = RekeyResult()
    for rows in _batches(Suppression.objects.all(), "address"):
        for pk, address in rows:
            if normalise_address(address) != address:
                _suppression_rekey(pk, result)
    # Rows are stored normalised: only a non-ASCII one can be spelt otherwise.
    recipients = BulkRecipient.objects.filter(email__regex=NON_ASCII)
    for rows in _batches(recipients, "email"):
        for pk, email in rows:
            if normalise_address(email) != email:
                _recipient_rekey(pk, email, result)
    logger.info("stored addresses re-keyed", extra=asdict(result))
    return result


def _batches(queryset: QuerySet, field: str) -> Iterator[list[tuple[int, str]]]:
    """``(pk, value)`` pairs of ``queryset`` by pk, a batch at a time."""
    last = 0
    while True:
        rows = list(
            queryset.filter(pk__gt=last)
            .order_by("pk")
            .values_list("pk", field)[:_BATCH]
        )
        if not rows:
            return
        yield rows
        last = rows[-1][0]


def _suppression_rekey(pk: int, result: RekeyResult) -> None:
    for _ in range(_TRIES):
        try:
            outcome = _suppression_rewrite(pk)
        except IntegrityError:
            continue  # the new key became active after we looked: again
        if outcome:
            result.suppressions += 1
            result.merged += outcome == "merged"
        return
    result.kept += 1


def _suppression_rewrite(pk: int) -> str:
    """The outcome: "rekeyed", "merged", or "" (nothing to do any more)."""
    spelt = Suppression.objects.filter(pk=pk).values_list("address", flat=True)
    with transaction.atomic():
        if (given := spelt.first()) is None:
            return ""
        # Taken before the row locks, as every write of the new key takes it.
        suppression_address_lock(normalise_address(given))
        row = Suppression.objects.select_for_update().filter(pk=pk).first()
        if row is None or (new := normalise_address(row.address)) == row.address:
            return ""
        other = (
            Suppression.objects.select_for_update()
            .filter(address=new, removed_at__isnull=True)
            .first()
        )
        merged = row.removed_at is None and other is not None
        if merged:
            keeper, closed = (row, other) if _keeps(row, other) else (other, row)
            closed.removed_at = timezone.now()
            closed.removed_reason = f"merged into suppression {keeper.pk}"
            closed.save(update_fields=["removed_at", "removed_reason"])
            # The closed row's cause (and what it absorbed) still stands:
            # lifting the keeper restores it, as if it had been absorbed.
            suppression_absorb_row(keeper, closed)
        # A new spelling is a change staff's removal must not miss (version).
        Suppression.objects.filter(pk=pk).update(address=new, version=F("version") + 1)
    return "merged" if merged else "rekeyed"


def _keeps(row: Suppression, other: Suppression) -> bool:
    """Whether ``row`` stays active rather than ``other``: the stronger
    reason (one stopping all mail), else the older entry."""
    strength = [
        suppression_reason_blocks(s.reason, "transactional") for s in (row, other)
    ]
    if strength[0] != strength[1]:
        return strength[0]
    return (row.created_at, row.pk) < (other.created_at, other.pk)


def _recipient_rekey(pk: int, email: str, result: RekeyResult) -> None:
    new = normalise_address(email)
    try:
        with transaction.atomic():
            updated = BulkRecipient.objects.filter(pk=pk, email=email).update(email=new)
        result.recipients += updated
        return
    except IntegrityError:
        pass  # its send has the key already
    if _duplicate_done(pk, new):
        result.duplicates += 1
    else:
        result.kept += 1


def _duplicate_done(pk: int, key: str) -> bool:
    """Mark the row done as a duplicate of the row holding ``key``, if no
    worker had it yet (pending, with no message of its own)."""
    with transaction.atomic():
        row = (
            BulkRecipient.objects.select_for_update()
            .filter(pk=pk, status=BatchRowStatus.PENDING, message__isnull=True)
            .select_related("bulk_send")
            .first()
        )
        if row is None:
            return False
        # A message by the row's key: worked before (e.g. paced), its own.
        own = idempotency_key(row.pk, row.bulk_send)
        if EmailMessage.objects.filter(idempotency_key=own).exists():
            return False
        holder = BulkRecipient.objects.filter(
            bulk_send_id=row.bulk_send_id, email=key
        ).first()
        BulkRecipient.objects.filter(pk=pk).update(
            status=BatchRowStatus.DONE,
            done_at=timezone.now(),
            next_attempt_at=None,
            last_error=f"duplicate of recipient {holder.pk if holder else '?'}",
        )
        BatchJob.objects.filter(pk=row.job_id).update(done=F("done") + 1)
    return True
