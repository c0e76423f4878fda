"""Buying a label from a quote, and reconciling one whose answer was lost
(the carrier's label webhook: ``label_updates``; the periodic sweep:
``label_sweep``; voids: ``voids``).

A label is bought once per shipment: the shipment row and its idempotency key
are committed before the carrier is called (``integrations.attempts``), every
retry sends the same key, and an ``unknown`` outcome (a read timeout) leaves
the shipment ``unknown``. Reconciliation then asks the carrier for the label
bought under that key (``retrieve_label``); it never calls ``create_label``
again, so a lost answer can never become a second label.
"""

import functools
import logging
import re
import uuid
from collections.abc import Callable
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from integrations import money, registry
from integrations.attempts import attempt_run
from integrations.clock import database_now
from integrations.errors import Outcome, ProviderError
from integrations.events import event_emit
from integrations.secrets_registry import staff_text
from shipping import codec
from shipping.models import (
    LIVE_LABEL_STATUSES,
    RateQuote,
    Shipment,
    ShipmentAttempt,
    ShipmentParcel,
    ShipmentStatus,
    TrackingStatusChoice,
)
from shipping.providers.answers import GarbledLabelFile
from shipping.providers.base import (
    Label,
    LabelFormat,
    LabelLookup,
    LabelRequest,
    LabelStatus,
    ParcelLabel,
    RateRequest,
    ShippingAdapter,
)
from shipping.providers.validation import MAX_SHIP_DAYS_AHEAD, date_window
from shipping.services.errors import (
    InvalidState,
    NotFound,
    QuoteExpired,
    ShippingError,
)
from shipping.services.quote_hold import (
    quote_carrier_account,
    quote_release_if_rebought,
)
from shipping.services.tracking import tracking_announce_held
from shipping.tracking_links import recipient_email, tracking_url

logger = logging.getLogger(__name__)

RECONCILE_TASK = "shipping.tasks.reconcile_shipment"
RECONCILE_DELAY_SECONDS = 60
# Asked again this often while a carrier's look-up may still miss a new label.
LAG_RETRY_SECONDS = 300
# Shipments still buying this long are treated as unknown by the sweep (the
# process died between storing the attempt and recording its end).
STUCK_PURCHASING = timedelta(minutes=10)


def shipment_buy(
    *,
    quote_id: str,
    idempotency_key: str = "",
    order_id: str = "",
    label_format: str = "",
) -> Shipment:
    """Buy the label for an unexpired quote; the same ``idempotency_key``
    answers the shipment already made for it without calling anyone. No
    ``label_format``: the carrier's first (preferred) format."""
    key = idempotency_key or uuid.uuid4().hex
    if not _KEY.fullmatch(key):
        raise ShippingError("the idempotency key is not valid", param="idempotency_key")
    existing = Shipment.objects.select_related("quote")
    existing = existing.filter(idempotency_key=key).first()
    if existing is not None:
        return _same_request(existing, quote_id)
    quote = _quote_to_buy(quote_id)
    adapter = registry.get_adapter(quote.account)
    fmt = _label_format(adapter, label_format)
    request = _checked_request(quote, adapter)
    shipment, created = _shipment_from(quote, key, order_id, fmt)
    if not created:
        return shipment  # a concurrent call with the same key (a double submit)
    label_request = LabelRequest(
        from_address=request.from_address,
        to_address=request.to_address,
        parcels=request.parcels,
        customs=request.customs,
        service_code=quote.service_code,
        idempotency_key=key,
        reference=shipment.public_id,
        label_format=fmt,
        carrier_rate_id=quote.carrier_rate_id,
        ship_date=request.ship_date,
    )
    try:
        label = attempt_run(
            ShipmentAttempt,
            owner={"shipment": shipment},
            account=quote.account,
            operation="create_label",
            idempotency_key=key,
            call=lambda _key: adapter.create_label(label_request),
        )
    except ProviderError as error:
        _buy_failed(shipment, error)
        return shipment
    # The carrier's webhook may have recorded this label while we waited;
    # a sweep may have given up on a buy this slow: the label is recorded.
    settle_under_lock(
        shipment, lambda locked: label_made(locked, label), SETTLED_BY_LABEL
    )
    return shipment


_BUYING = (ShipmentStatus.PURCHASING, ShipmentStatus.UNKNOWN)
# A label the carrier made is its word: recorded over a failure we assumed.
SETTLED_BY_LABEL = (*_BUYING, ShipmentStatus.FAILED)
# What a key and a quote id can be; anything else names nothing (a NUL, a
# megabyte): refused before the database sees it.
_KEY = re.compile(r"[\x21-\x7e]{1,64}")
_QUOTE_ID = re.compile(r"[A-Za-z0-9_]{1,64}")


def _checked_request(quote: RateQuote, adapter: ShippingAdapter) -> RateRequest:
    """The quote's request, refused (``InvalidShippingRequest``, a 400 naming
    the field) when its carrier cannot take it, before a shipment is stored:
    a quote kept from before a limit of the carrier's (issue 17, 9)."""
    request = codec.request_from_json(quote.request)
    # For the label it buys, of the quote's service.
    adapter.check_shipment(request, quote=False, service_code=quote.service_code)
    return request


def _label_format(adapter: ShippingAdapter, label_format: str) -> LabelFormat:
    """The format asked for (none: the carrier's preferred); one the carrier
    does not print is the shop's bad input, refused before any shipment."""
    if label_format and label_format not in {f.value for f in LabelFormat}:
        raise ShippingError("unknown label format", param="label_format")
    fmt = LabelFormat(label_format) if label_format else adapter.label_formats[0]
    if fmt not in adapter.label_formats:
        printed = ", ".join(f.value for f in adapter.label_formats)
        raise ShippingError(
            f"{adapter.display_name} prints {printed} labels, not {fmt.value}",
            code="invalid_label_format",
            param="label_format",
        )
    return fmt


def _same_request(shipment: Shipment, quote_id: str) -> Shipment:
    """The shipment a key bought, if it was bought from this quote: a key
    reused for another (after the API's replay window) is refused, never
    answered with the first label."""
    if shipment.quote is not None and shipment.quote.public_id != quote_id:
        raise ShippingError(
            "this idempotency key bought another quote's label",
            code="idempotency_key_reused",
            param="quote_id",
            status_code=422,
        )
    return shipment


def _quote_to_buy(quote_id: str) -> RateQuote:
    """The quote a label may be bought from: it exists, no other key's label
    holds it, it has not expired, its account is still enabled and its ship
    date has not passed. The held check first: a label of the quote is named,
    never "shop rates again" (a second label for the same parcel)."""
    found = RateQuote.objects.select_related("account").filter(public_id=quote_id)
    quote = found.first() if _QUOTE_ID.fullmatch(quote_id) else None
    if quote is None:
        raise NotFound("no such quote", param="quote_id")
    _refuse_if_held(quote)
    if quote.is_expired():
        raise QuoteExpired("the quote has expired; shop rates again", param="quote_id")
    if not quote.account.enabled:
        raise QuoteExpired(
            "the quote's carrier account is disabled; shop rates again",
            code="account_disabled",
            param="quote_id",
        )
    _refuse_if_ship_date_passed(quote)
    return quote


def _refuse_if_ship_date_passed(quote: RateQuote) -> None:
    """The quote's ship date, checked when quoted, is checked again: a day
    may have passed. Refused, never moved to today: the price and delivery
    estimate were the carrier's for that day."""
    day = codec.request_from_json(quote.request).ship_date
    earliest, latest = date_window(MAX_SHIP_DAYS_AHEAD)
    if day is not None and not earliest <= day <= latest:
        raise QuoteExpired(
            f"the quote's ship_date {day.isoformat()} is outside "
            f"{earliest.isoformat()} to {latest.isoformat()}; shop rates again "
            "with a current ship_date",
            code="ship_date_passed",
            param="quote_id",
        )


def _refuse_if_held(quote: RateQuote) -> None:
    """One label per quote: refused (409) while another key's label of this
    quote is bought or may be (a lost answer, a buy under way), so a retry
    under a new key never buys a second one. A failed or voided label lets
    the quote be bought again; another quote for the same order may be
    bought (an order may ship in several shipments)."""
    holder = (
        Shipment.objects.filter(quote=quote, status__in=LIVE_LABEL_STATUSES)
        .only("public_id", "status")
        .first()
    )
    if holder is None:
        return
    if holder.status == ShipmentStatus.PURCHASED:
        raise InvalidState(
            f"this quote's label was bought: shipment {holder.public_id}",
            code="quote_bought",
            param="quote_id",
        )
    raise InvalidState(
        f"this quote's label is being bought or settled: shipment "
        f"{holder.public_id}; poll it (it may already exist at the carrier)",
        code="label_in_progress",
        param="quote_id",
    )


def settle_under_lock(
    shipment: Shipment,
    apply: Callable[[Shipment], None],
    statuses: tuple[str, ...] = _BUYING,
) -> bool:
    """``apply`` to the locked row if it is still in ``statuses``; True when
    it was. The buy's own answer, a poll and the carrier's webhook race to
    settle a label: the first records it (and its event), the others change
    nothing. ``shipment`` is refreshed either way."""
    with transaction.atomic():
        locked = Shipment.objects.select_for_update().get(pk=shipment.pk)
        applied = locked.status in statuses
        if applied:
            apply(locked)
    shipment.refresh_from_db()
    return applied


def _shipment_from(
    quote: RateQuote, key: str, order_id: str, label_format: LabelFormat
) -> tuple[Shipment, bool]:
    """The new shipment, or (``False``) the one a concurrent call with the
    same key stored first."""
    try:
        with transaction.atomic():
            return _shipment_create(quote, key, order_id, label_format), True
    except IntegrityError:
        same_key = Shipment.objects.filter(idempotency_key=key).first()
        if same_key is not None:
            return same_key, False
    # Another key's buy of this quote got in first (the one-live-label
    # constraint): refused as a buy that had seen it would be.
    _refuse_if_held(quote)
    raise InvalidState(
        "this quote's label is being bought; try again",
        code="label_in_progress",
        param="quote_id",
    )


def _shipment_create(
    quote: RateQuote, key: str, order_id: str, label_format: LabelFormat
) -> Shipment:
    request = quote.request
    return Shipment.objects.create(
        order_id=order_id,
        from_address=request["from_address"],
        to_address=request["to_address"],
        parcels=request["parcels"],
        customs=request.get("customs"),
        account=quote.account,
        carrier=quote.carrier,
        service_code=quote.service_code,
        service_name=quote.service_name,
        amount=quote.amount,
        currency=quote.currency,
        quote=quote,
        carrier_account=quote_carrier_account(quote),
        idempotency_key=key,
        label_format=label_format,
        estimated_delivery=quote.estimated_delivery,
    )


def _buy_failed(shipment: Shipment, error: ProviderError) -> None:
    failed = functools.partial(_after_error, error=error)
    # A garbled file's label was made: its ids are kept even where a sweep
    # moved a buy this slow to unknown meanwhile.
    garbled = isinstance(error, GarbledLabelFile)
    settle_under_lock(
        shipment, failed, _BUYING if garbled else (ShipmentStatus.PURCHASING,)
    )


def _after_error(shipment: Shipment, error: ProviderError) -> None:
    shipment.failure_code = error.code[:64]
    shipment.failure_message = staff_text(error.message)[:255]
    if error.outcome == Outcome.UNKNOWN:
        # The carrier may have made the label: ask it later, never rebuy.
        shipment.status = ShipmentStatus.UNKNOWN
        kept = _garbled_file_ids(shipment, error)
        fields = ["status", "failure_code", "failure_message", *kept]
        shipment.save(update_fields=fields)
        reconciliation_schedule(shipment=shipment)
        return
    shipment.status = ShipmentStatus.FAILED
    shipment.save(update_fields=["status", "failure_code", "failure_message"])
    logger.info(
        "label not bought",
        extra={"shipment_id": shipment.public_id, "code": error.code},
    )


def _garbled_file_ids(shipment: Shipment, error: ProviderError) -> list[str]:
    """A label made whose file came garbled: its ids kept on the shipment
    (the file is fetched again, or staff settle it from them); the fields
    set. Nothing for any other error."""
    if not isinstance(error, GarbledLabelFile) or error.label is None:
        return []
    shipment.carrier_shipment_id = error.label.carrier_shipment_id
    shipment.tracking_number = error.label.tracking_number
    # Staff see it (an ERROR) where no poll can fetch the file again.
    adapter = registry.get_adapter_class("shipping", shipment.account.provider)
    log = logger.warning if adapter.supports("retrieve_label") else logger.error
    log(
        "label bought but its file is garbled; fetch it again or settle by hand",
        extra={"shipment_id": shipment.public_id, "carrier": shipment.carrier},
    )
    return ["carrier_shipment_id", "tracking_number"]


def label_apply(shipment: Shipment, label: Label) -> None:
    """Record a label the carrier made (or still renders: pending)."""
    shipment.carrier_shipment_id = label.carrier_shipment_id
    if label.status == LabelStatus.PENDING:
        shipment.status = ShipmentStatus.UNKNOWN
        shipment.save(update_fields=["carrier_shipment_id", "status"])
        reconciliation_schedule(shipment=shipment)
        return
    with transaction.atomic():
        shipment.status = ShipmentStatus.PURCHASED
        # Scans the carrier posted while the file was garbled stand.
        if shipment.tracking_status == TrackingStatusChoice.UNKNOWN:
            shipment.tracking_status = TrackingStatusChoice.PRE_TRANSIT
        shipment.tracking_number = label.tracking_number
        shipment.label_data = label.label_data
        shipment.label_format = label.label_format
        shipment.estimated_delivery = (
            label.estimated_delivery or shipment.estimated_delivery
        )
        _billed_store(shipment, label)
        shipment.failure_code = shipment.failure_message = ""
        shipment.save()
        _parcels_store(shipment, label)
        event_emit(
            name="shipment.label_created",
            subject=shipment.public_id,
            payload=shipment_event_payload(shipment),
            account=shipment.account,
        )
        tracking_announce_held(shipment)
    logger.info("label bought", extra={"shipment_id": shipment.public_id})


def _billed_store(shipment: Shipment, label: Label) -> None:
    """What the carrier billed, where it said, in the ISO code the money
    helpers read it in ("usd" is USD); else the quote's price stands."""
    if label.amount is None:
        return
    try:
        currency = money.validate_currency(label.currency)
    except money.MoneyError:
        return
    shipment.amount, shipment.currency = label.amount, currency


def _parcels_store(shipment: Shipment, label: Label) -> None:
    """Each parcel's tracking number, and its own label where the carrier
    prints one per parcel; nothing for a single parcel (the shipment's own
    label and number are that parcel's)."""
    if label.parcel_labels:
        rows = list(label.parcel_labels)
    else:
        rows = [ParcelLabel(number) for number in label.parcel_tracking_numbers]
    if len(rows) < 2:
        return
    ShipmentParcel.objects.filter(shipment=shipment).delete()
    ShipmentParcel.objects.bulk_create(
        ShipmentParcel(
            shipment=shipment,
            sequence=sequence,
            tracking_number=parcel.tracking_number,
            label_data=parcel.label_data,
            carrier_reference=parcel.carrier_reference,
        )
        for sequence, parcel in enumerate(rows, start=1)
    )


def shipment_event_payload(shipment: Shipment) -> dict:
    return {
        "shipment": shipment.public_id,
        "order_id": shipment.order_id,
        "carrier": shipment.carrier,
        "service_code": shipment.service_code,
        "tracking_number": shipment.tracking_number,
        "amount": shipment.amount,
        "currency": shipment.currency,
        "status": shipment.status,
        "tracking_status": shipment.tracking_status,
        # What the shipping notice needs (notifications.wiring).
        "customer_email": recipient_email(shipment.to_address),
        "tracking_url": tracking_url(shipment.carrier, shipment.tracking_number),
    }


def reconciliation_schedule(*, shipment: Shipment, delay: int | None = None) -> None:
    """Ask the carrier about ``shipment`` after ``delay`` seconds (a stored
    django-q2 schedule); the periodic sweep is the backstop."""
    from django_q.models import Schedule
    from django_q.tasks import schedule

    seconds = RECONCILE_DELAY_SECONDS if delay is None else delay

    def create() -> None:
        schedule(
            RECONCILE_TASK,
            shipment.pk,
            name=f"reconcile-{shipment.public_id}-{uuid.uuid4().hex[:8]}",
            schedule_type=Schedule.ONCE,
            next_run=timezone.now() + timedelta(seconds=seconds),
        )

    transaction.on_commit(create)
    logger.warning(
        "label outcome unknown; reconciliation scheduled",
        extra={"shipment_id": shipment.public_id, "delay_seconds": seconds},
    )


def shipment_reconcile(*, shipment: Shipment) -> Shipment:
    """Ask the carrier what became of an ``unknown`` (or stuck) label buy:
    the label it made under our key is recorded; a carrier that answers it
    has none fails the shipment; anything else leaves it unknown (a buy
    stuck ``purchasing`` past its claim life becomes ``unknown``)."""
    if shipment.status not in _BUYING:
        return shipment
    Shipment.objects.filter(pk=shipment.pk).update(reconciled_at=database_now())
    adapter = registry.get_adapter(shipment.account)
    lookup = LabelLookup(
        idempotency_key=shipment.idempotency_key,
        reference=shipment.public_id,
        carrier_shipment_id=shipment.carrier_shipment_id,
        since=shipment.created_at,
        parcel_count=len(shipment.parcels or ()),
    )
    try:
        label = attempt_run(
            ShipmentAttempt,
            owner={"shipment": shipment},
            account=shipment.account,
            operation="retrieve_label",
            idempotency_key=shipment.idempotency_key,
            call=lambda _key: adapter.retrieve_label(lookup),
            reference_of=lambda found: found.carrier_shipment_id if found else "",
        )
    except ProviderError as error:
        logger.warning(
            "label reconciliation inconclusive",
            extra={"shipment_id": shipment.public_id, "code": error.code},
        )
        # A garbled file: the label's ids kept, its file asked again by the
        # sweep (never a second buy).
        if isinstance(error, GarbledLabelFile):
            settle_under_lock(shipment, functools.partial(_poll_garbled, error=error))
        stuck_to_unknown(shipment, error.code)
        return shipment
    if label is None and _lookup_may_lag(shipment, adapter):
        logger.info(
            "label not found at the carrier yet",
            extra={"shipment_id": shipment.public_id},
        )
        reconciliation_schedule(shipment=shipment, delay=LAG_RETRY_SECONDS)
        stuck_to_unknown(shipment, "lookup_may_lag")
        return shipment
    # A label webhook may have settled it while we asked: record once.
    settle_under_lock(
        shipment,
        _not_found if label is None else lambda locked: label_apply(locked, label),
    )
    return shipment


def _poll_garbled(shipment: Shipment, error: ProviderError) -> None:
    kept = _garbled_file_ids(shipment, error)
    if kept:
        shipment.failure_code = error.code[:64]
        shipment.failure_message = staff_text(error.message)[:255]
        shipment.save(update_fields=[*kept, "failure_code", "failure_message"])


def stuck_to_unknown(shipment: Shipment, code: str) -> None:
    """A buy still ``purchasing`` past its claim life (its process died, or
    its answer broke it) that the carrier cannot settle now: ``unknown``,
    the state staff watch and settle, not ``purchasing`` for ever."""
    if shipment.status != ShipmentStatus.PURCHASING:
        return
    if database_now() - shipment.created_at < STUCK_PURCHASING:
        return

    def mark(locked: Shipment) -> None:
        locked.status = ShipmentStatus.UNKNOWN
        locked.failure_code = locked.failure_code or code[:64]
        locked.save(update_fields=["status", "failure_code"])
        logger.warning(
            "stuck label buy now unknown",
            extra={"shipment_id": locked.public_id, "code": code},
        )

    settle_under_lock(shipment, mark, (ShipmentStatus.PURCHASING,))


def _lookup_may_lag(shipment: Shipment, adapter: ShippingAdapter) -> bool:
    """A miss by our reference too soon after the buy may be the carrier's
    list not showing the label yet, not proof that none was made."""
    lag = adapter.lookup_lag_seconds
    if shipment.carrier_shipment_id or not lag:
        return False
    return database_now() - shipment.created_at < timedelta(seconds=lag)


def _not_found(shipment: Shipment) -> None:
    shipment.status = ShipmentStatus.FAILED
    shipment.failure_code = "not_found_at_carrier"
    shipment.failure_message = "the carrier has no label for this shipment"
    shipment.save(update_fields=["status", "failure_code", "failure_message"])


def label_made(shipment: Shipment, label: Label) -> None:
    if shipment.status == ShipmentStatus.FAILED:
        logger.error(
            "label made for a failed shipment; recorded",
            extra={"shipment_id": shipment.public_id},
        )
        quote_release_if_rebought(shipment)
    label_apply(shipment, label)
