"""A label's void at its carrier: the one call, recorded as an attempt, and
the words its refusal or failure is answered with (``voids`` claims the
shipment around it)."""

from integrations import registry
from integrations.attempts import attempt_run
from integrations.errors import Outcome, ProviderError, Rejected
from integrations.secrets_registry import staff_text
from shipping.models import Shipment, ShipmentAttempt
from shipping.providers.base import VoidRequest, VoidResult
from shipping.services.errors import ShippingError


def refused_message(result: VoidResult, others: tuple[str, ...]) -> str:
    # Our words (issue 17, 3); the carrier's are on the attempt, for staff.
    message = "the carrier refused to void the label"
    if others:
        done = len(set(result.voided_parcels) & set(others))
        message += f"; {done} of {len(others)} other parcel labels refunded"
    return message


def void_at_carrier(shipment: Shipment, others: tuple[str, ...]) -> VoidResult:
    """Void ``shipment``'s label (and the parcel labels ``others``) at its
    carrier: a refusal is handed back as the result, a failure raised."""
    adapter = registry.get_adapter(shipment.account)
    request = VoidRequest(
        carrier_shipment_id=shipment.carrier_shipment_id,
        tracking_number=shipment.tracking_number,
        idempotency_key=f"{shipment.idempotency_key}-void",
        service_code=shipment.service_code,
        parcel_references=others,
    )
    if not adapter.supports("void_label"):
        raise ShippingError(
            no_void_reason(adapter.display_name),
            code="not_supported",
            status_code=422,
        )
    try:
        return attempt_run(
            ShipmentAttempt,
            owner={"shipment": shipment},
            account=shipment.account,
            operation="void_label",
            idempotency_key=request.idempotency_key,
            call=lambda _key: _refusal_raised(adapter.void_label(request)),
            reference_of=lambda _result: shipment.carrier_shipment_id,
        )
    except _VoidRefused as refused:
        return refused.result  # its text stored on the attempt, for staff
    except ProviderError as error:
        raise ShippingError(
            _NOT_VOIDED.get(error.outcome, "the carrier did not void the label"),
            code=f"carrier_{error.outcome}",
            status_code=502,
            staff_detail=staff_text(error.message)[:255],
        ) from None


def no_void_reason(carrier: str) -> str:
    """Why a label of a carrier without a void stays bought, and what to do
    (the API's refusal and the shipment page say the same)."""
    return (
        f"{carrier} has no void: the label is still valid, and billed only "
        "once the carrier picks the parcel up; keep the parcel back (and "
        "cancel its pickup)"
    )


class _VoidRefused(Rejected):
    """A void the carrier answered and refused: recorded on the attempt as
    rejected with the carrier's words, then handed back as its result."""

    def __init__(self, result: VoidResult) -> None:
        super().__init__(result.detail or "the carrier refused", code="void_refused")
        self.result = result


def _refusal_raised(result: VoidResult) -> VoidResult:
    if not result.voided:
        raise _VoidRefused(result)
    return result


_NOT_VOIDED = {
    Outcome.REJECTED: "the carrier refused to void the label",
    Outcome.UNKNOWN: "the carrier's answer to the void was lost; it may have "
    "landed: try the void again",
}
