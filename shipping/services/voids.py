"""Voiding a bought label.

A void is claimed on the shipment row (``void_started_at``) before the
carrier is called, so two voids racing (two storefront workers, the admin's
button and the API) call the carrier once and emit one ``shipment.voided``;
the other is told a void is under way. A claim whose process died is taken
over after ``CLAIM_LIFE`` (``shipping.services.claims``). A refused or
failed void releases the claim. A re-run of a request whose worker died
(``integrations.reruns``) takes over the claim its dead run made, named in
its intent, and no other.
"""

import logging
from datetime import datetime

from django.db import transaction
from django.db.models import Q, QuerySet

from integrations.clock import database_now
from integrations.events import event_emit
from integrations.models import Event
from integrations.reruns import (
    DeadIntent,
    dead_run_intended,
    record_intent,
    rerun_since,
    stamped,
)
from integrations.secrets_registry import staff_text
from shipping.models import Shipment, ShipmentParcel, ShipmentStatus
from shipping.providers.base import LabelUpdate
from shipping.services.claims import CLAIM_LIFE, claim_release, claim_take
from shipping.services.errors import InvalidState, ShippingError
from shipping.services.labels import shipment_event_payload
from shipping.services.quote_hold import quote_release_if_rebought
from shipping.services.tracking import shipment_has_moved
from shipping.services.void_calls import refused_message, void_at_carrier

logger = logging.getLogger(__name__)


def shipment_void(*, shipment: Shipment) -> Shipment:
    """Void a bought label; refused once the parcel is moving, and while
    another void of it is under way. A shipment voided already (by any
    void, any key, or the carrier's word from a poll) is the void done: it
    is answered as it stands, nothing sent and nothing announced again, as
    is a void whose call failed while such a word ended it voided."""
    if shipment.status == ShipmentStatus.VOIDED:
        return _done_already(shipment)
    if shipment.status != ShipmentStatus.PURCHASED:
        raise InvalidState(f"a {shipment.status} shipment cannot be voided")
    if shipment_has_moved(shipment=shipment):
        raise InvalidState("the parcel is already in transit", code="in_transit")
    with transaction.atomic():
        # Noted in the claim's commit, before the carrier call: a re-run of
        # this request takes over this claim (only this one) while it
        # stands; a death between the two would leave a claim no retry could
        # take.
        claimed_at = _claim(shipment)
        if claimed_at is not None:
            record_intent(stamped(_intent(shipment), claimed_at))
    if claimed_at is None:
        return _done_already(shipment)  # voided since it was read
    try:
        others = _other_parcel_labels(shipment)
        result = void_at_carrier(shipment, others)
        # A refused void's refunded parcels are announced now; a confirmed
        # one's are covered by ``shipment.voided``.
        marked = _parcels_voided(
            shipment, result.voided_parcels, claimed_at, announce=not result.voided
        )
        if not result.voided:
            raise InvalidState(
                refused_message(result, others),
                code="void_refused",
                staff_detail=staff_text(result.detail or "")[:255],
            )
    except ShippingError as error:
        _release(shipment, claimed_at)
        if _voided_meanwhile(shipment, error):
            return shipment
        raise
    except BaseException:
        _release(shipment, claimed_at)
        raise
    _voided(shipment, claimed_at, marked)
    if shipment.status != ShipmentStatus.VOIDED:
        _release(shipment, claimed_at)
        raise InvalidState(
            "the carrier rejected the refund while the void was under way",
            code="void_refused",
        )
    return shipment


def _done_already(shipment: Shipment) -> Shipment:
    # The storefront's retry under a new key after a poll voided the label,
    # a double click in the admin: not a refusal (issue 17, 9).
    logger.info(
        "void of a voided shipment answered as done",
        extra={"shipment_id": shipment.public_id},
    )
    return shipment


def _voided_meanwhile(shipment: Shipment, error: ShippingError) -> bool:
    """Our void failed (its answer lost, a refusal such as "already voided"
    after an earlier void of ours landed, or never sent), and the carrier's
    word that the label is void (``shipment_voided_at_carrier``, from a poll
    while ours was out) has ended it voided: the void the caller asked for
    is done, whatever became of our call."""
    shipment.refresh_from_db()
    if shipment.status != ShipmentStatus.VOIDED:
        return False
    logger.info(
        "void not answered as done; the carrier's tracking says the label is voided",
        extra={"shipment_id": shipment.public_id, "code": error.code},
    )
    return True


def _voided(
    shipment: Shipment, claimed_at: datetime, marked: list[ShipmentParcel]
) -> None:
    """The carrier voided the label: its word wins, whoever holds the claim
    now (ours may have run past CLAIM_LIFE and been taken over, and the
    taker failed), but for a rejection of a refund applied since our claim:
    the carrier's later word. Recorded and announced once, under the row
    lock: a void that got there first leaves nothing to do. ``marked``: the
    parcel labels this void refunded, announced one by one when the
    shipment stays bought."""
    with transaction.atomic():
        row = Shipment.objects.select_for_update().get(pk=shipment.pk)
        if row.status == ShipmentStatus.PURCHASED:
            if _rejected_since(row, claimed_at):
                logger.warning(
                    "void answer older than the carrier's rejection; not voided",
                    extra={"shipment_id": row.public_id},
                )
                _labels_announced(row, marked, LABEL_VOIDED)
            else:
                _voided_row(row)
    shipment.refresh_from_db()


def _voided_row(row: Shipment) -> None:
    # Under the row lock, for a purchased shipment.
    row.status, row.void_started_at = ShipmentStatus.VOIDED, None
    row.save(update_fields=["status", "void_started_at", "updated_at"])
    event_emit(
        name="shipment.voided",
        subject=row.public_id,
        payload=shipment_event_payload(row),
        account=row.account,
    )


def shipment_voided_at_carrier(*, shipment: Shipment) -> bool:
    """The carrier's tracking says the label was voided there (a void of
    ours whose answer was lost, or one made at the carrier): its word wins
    as a void's answer does. A purchased shipment ends ``voided``, told
    ``shipment.voided`` once, under the row lock. One whose parcel has
    moved (an MV after delivery, or dated before a movement) or with parcel
    labels (the scan is one package's, voided alone) stays as it is, noted
    for staff once. True when it voided the shipment."""
    with transaction.atomic():
        row = Shipment.objects.select_for_update().get(pk=shipment.pk)
        if row.status != ShipmentStatus.PURCHASED:
            return False
        if shipment_has_moved(shipment=row):
            # Moving or delivered: never voided by us (shipment_void refuses
            # it too), whatever the carrier's billing says.
            _left_for_staff(
                row, "a moving parcel's label voided at the carrier; check it"
            )
            return False
        if _has_parcel_labels(row):
            _left_for_staff(
                row, "a package's label voided at the carrier; check the others"
            )
            return False
        _voided_row(row)
    logger.info("label voided at the carrier", extra={"shipment_id": row.public_id})
    shipment.refresh_from_db()
    return True


def _left_for_staff(row: Shipment, reason: str) -> None:
    """Logged and put on the shipment's timeline (an internal event) the
    first time only: the carrier repeats its word on every poll. Under the
    caller's row lock."""
    noted = Event.objects.filter(name=CARRIER_VOID_LEFT, subject=row.public_id)
    if noted.exists():
        return
    event_emit(
        name=CARRIER_VOID_LEFT,
        subject=row.public_id,
        payload={"shipment": row.public_id, "reason": reason},
    )
    logger.warning(reason, extra={"shipment_id": row.public_id})


# Internal: a carrier's word that a label was voided, left for staff.
CARRIER_VOID_LEFT = "shipment.carrier_void_left"

# The internal note beside the public ``shipment.void_rejected``: it names
# the transaction, which the shop's payload does not carry.
REFUND_REJECTED = "shipment.refund_rejected"
# Public: one parcel's label of a shipment that stays bought is dead (its
# own refund), or live again (that refund rejected).
LABEL_VOIDED = "shipment.label_voided"
LABEL_VOID_REJECTED = "shipment.label_void_rejected"


def _labels_announced(row: Shipment, parcels: list[ShipmentParcel], name: str) -> None:
    """One ``name`` event per parcel label, with the shipment's payload and
    the parcel's sequence and tracking number. In the caller's transaction."""
    for parcel in parcels:
        event_emit(
            name=name,
            subject=row.public_id,
            payload={
                **shipment_event_payload(row),
                "parcel": parcel.sequence,
                "parcel_tracking_number": parcel.tracking_number,
            },
            account=row.account,
        )


def _labels_voided(row: Shipment, references: tuple[str, ...]) -> list[ShipmentParcel]:
    """Mark the live parcel labels of ``row`` named by ``references``
    refunded; those newly marked. Under the row lock."""
    parcels = list(
        ShipmentParcel.objects.filter(
            shipment=row, carrier_reference__in=references, voided_at__isnull=True
        ).exclude(carrier_reference="")
    )
    now = database_now()
    for parcel in parcels:
        parcel.voided_at = now
    ShipmentParcel.objects.bulk_update(parcels, ["voided_at"])
    return parcels


def _every_label_refunded(row: Shipment, transaction_id: str) -> bool:
    """No label of ``row`` is live once ``transaction_id``'s refund counts:
    no parcel label left unrefunded, and its own label refunded (its parcel
    row says so, or, with none, this is its transaction)."""
    labels = ShipmentParcel.objects.filter(shipment=row).exclude(carrier_reference="")
    if labels.filter(voided_at__isnull=True).exists():
        return False
    own_row = labels.filter(carrier_reference=row.carrier_shipment_id).exists()
    return own_row or transaction_id == row.carrier_shipment_id


def _rejected_since(row: Shipment, since: datetime) -> bool:
    """A refund rejection was applied to ``row`` since ``since`` (the
    ``shipment.refund_rejected`` note it wrote records when)."""
    return _rejections(row, since).exists()


def _rejections_since(row: Shipment, since: datetime) -> set[str]:
    """The transactions whose refund rejection was applied since ``since``."""
    found = _rejections(row, since).values_list(
        "payload__rejected_transaction", flat=True
    )
    return {str(transaction) for transaction in found if transaction}


def _rejections(row: Shipment, since: datetime) -> QuerySet[Event]:
    return Event.objects.filter(
        name=REFUND_REJECTED, subject=row.public_id, created_at__gte=since
    )


class VoidUnderWay(Exception):
    """A refund update met a void of the shipment still at the carrier: its
    answer would overwrite the carrier's word. The webhook intake retries
    the update (with backoff, far longer than a void) once it has settled."""


def shipment_refund_update_apply(*, shipment: Shipment, update: LabelUpdate) -> bool:
    """A label's refund made (``refunded``) or rejected, from the carrier's
    webhook: read again from the carrier first when it can be (``recheck``),
    and what it says now applied. True when it changed anything."""
    if update.recheck is not None:
        update = update.recheck()
        if update is None:
            return False
    if update.refund_rejected:
        return shipment_void_rejected_apply(shipment=shipment, update=update)
    if update.refunded:
        return shipment_void_refunded_apply(shipment=shipment, update=update)
    return False


def shipment_void_refunded_apply(*, shipment: Shipment, update: LabelUpdate) -> bool:
    """The carrier refunded a label (a void whose answer was lost, or one
    made at the carrier), under the row lock. Shippo makes one label per
    parcel: a purchased shipment is voided (``shipment.voided`` once) only
    when this refund leaves none of its labels live; otherwise the label is
    no longer served and the shop hears ``shipment.label_voided`` naming it.
    A refund counted before (a redelivery, the void's own answer) changes
    nothing. True when it changed anything."""
    transaction_id = update.carrier_shipment_id
    with transaction.atomic():
        row = Shipment.objects.select_for_update().get(pk=shipment.pk)
        marked = _labels_voided(row, (transaction_id,))
        own = transaction_id == row.carrier_shipment_id
        # A shipment with parcel rows counts its own label's refund there.
        news = bool(marked) or (own and not _has_parcel_labels(row))
        bought = row.status == ShipmentStatus.PURCHASED
        voided = bought and news and _every_label_refunded(row, transaction_id)
        if voided:
            _voided_row(row)
        elif bought:
            _labels_announced(row, marked, LABEL_VOIDED)
    shipment.refresh_from_db()
    return bool(voided or marked)


def _has_parcel_labels(row: Shipment) -> bool:
    return (
        ShipmentParcel.objects.filter(shipment=row)
        .exclude(carrier_reference="")
        .exists()
    )


def shipment_void_rejected_apply(*, shipment: Shipment, update: LabelUpdate) -> bool:
    """The carrier rejected a refund it had accepted (Shippo REFUNDREJECTED
    after QUEUED or PENDING, which we counted as voided): its word wins. The
    label is valid and billed again: a voided shipment goes back to
    ``purchased`` (a parcel's label too: it can then be voided again; the
    labels still refunded count as done, its own is not served), a parcel's
    label is served again. Raises ``VoidUnderWay`` while a void is at the
    carrier (a claim younger than ``CLAIM_LIFE``). Staff are alerted (the log
    names the transaction). The shop, which was told ``shipment.voided``, is
    told ``shipment.void_rejected`` (the shipment's payload) once; told a
    parcel's label of a bought shipment was dead (``shipment.label_voided``),
    it is told ``shipment.label_void_rejected`` naming that label.
    True when it changed anything; a duplicate webhook changes nothing."""
    transaction_id = update.carrier_shipment_id
    with transaction.atomic():
        row = Shipment.objects.select_for_update().get(pk=shipment.pk)
        _no_void_under_way(row)
        parcels = list(
            ShipmentParcel.objects.filter(
                shipment=row, carrier_reference=transaction_id, voided_at__isnull=False
            )
        )
        ShipmentParcel.objects.filter(pk__in=[p.pk for p in parcels]).update(
            voided_at=None
        )
        own = transaction_id == row.carrier_shipment_id
        reopened = (own or bool(parcels)) and row.status == ShipmentStatus.VOIDED
        if reopened:
            _reopened(row, own)
        _rejection_announced(row, parcels, reopened=reopened)
        if reopened or parcels:
            logger.error(
                "carrier rejected a refund counted as a void",
                extra={
                    "shipment_id": row.public_id,
                    "status": row.status,
                    "transaction": transaction_id,
                },
            )
            # Internal: which label's refund, for a late void answer to skip.
            event_emit(
                name=REFUND_REJECTED,
                subject=row.public_id,
                payload={"rejected_transaction": transaction_id},
            )
    shipment.refresh_from_db()
    return bool(reopened or parcels)


def _rejection_announced(
    row: Shipment, parcels: list[ShipmentParcel], *, reopened: bool
) -> None:
    """The shop's word on a rejected refund, under the row lock: a voided
    shipment bought again is ``shipment.void_rejected``, then one
    ``shipment.label_voided`` per label of it still refunded (the shop took
    them all for dead, then all for live); a parcel's label of a shipment
    that stayed bought is ``shipment.label_void_rejected``."""
    if not reopened:
        _labels_announced(row, parcels, LABEL_VOID_REJECTED)
        return
    event_emit(
        name="shipment.void_rejected",
        subject=row.public_id,
        payload=shipment_event_payload(row),
        account=row.account,
    )
    refunded = ShipmentParcel.objects.filter(
        shipment=row, voided_at__isnull=False
    ).exclude(carrier_reference="")
    _labels_announced(row, list(refunded), LABEL_VOIDED)


def _no_void_under_way(row: Shipment) -> None:
    """Raise ``VoidUnderWay`` while a live void holds ``row``; a claim older
    than ``CLAIM_LIFE`` is a dead process's (``claims``): released, so the
    carrier's word is applied instead of retried until dead-lettered. Under
    the row lock."""
    if row.void_started_at is None:
        return
    if row.void_started_at > database_now() - CLAIM_LIFE:
        raise VoidUnderWay("a void of the shipment is under way")
    row.void_started_at = None
    row.save(update_fields=["void_started_at", "updated_at"])


def _reopened(row: Shipment, own: bool) -> None:
    """A voided ``row`` bought again: a refund of one of its labels was
    rejected. Its own label stays refunded unless that is the one rejected:
    its parcel row records it voided, so it is not served (the void that
    follows finds it refunded already and counts it done). Under the row
    lock. Its quote, bought again since the void, stays with the other
    label (one live label per quote); staff are alerted to void one."""
    if quote_release_if_rebought(row):
        logger.error(
            "refund rejected for a label whose quote was bought again",
            extra={"shipment_id": row.public_id},
        )
    row.status = ShipmentStatus.PURCHASED
    row.save(update_fields=["status", "updated_at"])
    if not own:
        ShipmentParcel.objects.filter(
            shipment=row, carrier_reference=row.carrier_shipment_id, voided_at=None
        ).exclude(carrier_reference="").update(voided_at=database_now())


def _intent(shipment: Shipment) -> str:
    # Noted ``stamped`` with the instant of the void's claim.
    return f"shipment.void:{shipment.public_id}"


def _dead_run(shipment: Shipment) -> DeadIntent | None:
    """What this request's dead run noted when it set out to void
    ``shipment`` (its claim's instant), if this request re-runs one."""
    return dead_run_intended(_intent(shipment))


def _dead_runs_claim(dead: DeadIntent | None) -> Q | None:
    """The void claim a re-run takes over: the one its dead run made, never
    one another request took since (after it ran out, or was released). A
    dead run of the previous release noted no instant: a claim taken since
    it began, as that release took it over."""
    if dead is None:
        return None
    if dead.at is not None:
        return Q(void_started_at=dead.at)
    return Q(void_started_at__gte=rerun_since())


def _claim(shipment: Shipment) -> datetime | None:
    """Take the void for this call (one conditional UPDATE); None when the
    shipment is voided now, InvalidState when it is otherwise no longer
    bought or another void holds it."""
    now = database_now()
    own = _dead_runs_claim(_dead_run(shipment))
    bought = Shipment.objects.filter(pk=shipment.pk, status=ShipmentStatus.PURCHASED)
    if claim_take(bought, "void_started_at", now, also=own):
        shipment.void_started_at = now
        return now
    shipment.refresh_from_db()
    if shipment.status == ShipmentStatus.VOIDED:
        return None
    if shipment.status != ShipmentStatus.PURCHASED:
        raise InvalidState(f"a {shipment.status} shipment cannot be voided")
    raise InvalidState(
        "a void of this shipment is already under way", code="void_in_progress"
    )


def _release(shipment: Shipment, claimed_at: datetime) -> None:
    claim_release(shipment, "void_started_at", claimed_at)


def _other_parcel_labels(shipment: Shipment) -> tuple[str, ...]:
    """The other parcels' labels a carrier voids one by one (Shippo), but
    those a part-way void already voided."""
    references = (
        ShipmentParcel.objects.filter(shipment=shipment, voided_at__isnull=True)
        .exclude(carrier_reference__in=("", shipment.carrier_shipment_id))
        .order_by("sequence")
        .values_list("carrier_reference", flat=True)
    )
    return tuple(references)


def _parcels_voided(
    shipment: Shipment,
    references: tuple[str, ...],
    claimed_at: datetime,
    *,
    announce: bool,
) -> list[ShipmentParcel]:
    """Kept even when the void as a whole was refused: those labels are
    refunded, no longer served, and not sent again; but for a refund the
    carrier rejected since our claim (its later word: the label is live).
    ``announce``: each one newly marked of a bought shipment is told to the
    shop (``shipment.label_voided``). Those newly marked."""
    with transaction.atomic():
        row = Shipment.objects.select_for_update().get(pk=shipment.pk)
        rejected = _rejections_since(row, claimed_at)
        marked = _labels_voided(row, tuple(r for r in references if r not in rejected))
        if announce and row.status == ShipmentStatus.PURCHASED:
            _labels_announced(row, marked, LABEL_VOIDED)
    return marked
