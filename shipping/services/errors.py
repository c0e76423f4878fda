"""Errors the API and the admin turn into answers."""

from integrations.errors import ProviderError, public_provider_code
from integrations.secrets_registry import staff_text


class ShippingError(Exception):
    """A request the shipment's state or the input does not allow."""

    code = "shipping_error"
    status_code = 400

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        param: str = "",
        status_code: int | None = None,
        staff_detail: str = "",
        provider_code: str = "",
        nothing_sent: bool = False,
    ) -> None:
        super().__init__(message)
        self.message = message
        # The provider's own words (secrets redacted) for staff, never sent
        # to the storefront (issue 17, 3); its code may be.
        self.staff_detail = staff_detail
        self.provider_code = provider_code
        self.code = code or self.code
        self.param = param
        # The provider was not reached (nothing went out): said here, not
        # left to the chained exception, which any except block replaces.
        self.nothing_sent = nothing_sent
        if status_code is not None:
            self.status_code = status_code


class QuoteExpired(ShippingError):
    code = "quote_expired"
    status_code = 409


class InvalidState(ShippingError):
    code = "invalid_state"
    status_code = 409


class NotFound(ShippingError):
    code = "not_found"
    status_code = 404


# Our words per code for what a carrier refused (issue 17, 3): a carrier's
# own text may quote what we sent, so it is kept for staff only.
_REFUSED = {
    "address_invalid": "the carrier cannot use the address",
    "authentication_failed": "the carrier refused this account's credentials",
    "permission_denied": "the carrier does not allow this account to do that",
    "invalid_service": "the carrier does not offer this service here",
    "invalid_country": "the carrier does not serve this country",
    "invalid_currency": "the carrier does not accept this currency",
    "currency_not_supported": "the carrier does not accept this currency",
    "invalid_weight": "the carrier does not accept this weight",
    "invalid_dimensions": "the carrier does not accept these dimensions",
    "parcel_too_heavy": "a parcel is too heavy for the carrier",
    "parcel_too_long": "a parcel is too long for the carrier",
    "customs_required": "the carrier needs customs information",
    "pickup_refused": "the carrier refused the pickup",
    "label_failed": "the carrier refused the label",
    "not_supported": "the carrier does not offer this through us",
    "not_found": "the carrier does not know what we asked about",
    "rate_limited": "the carrier is turning requests away; try again later",
    "not_found_at_carrier": "the carrier has no label for this shipment",
}


def public_refusal(code: str, refused: str = "the request") -> str:
    """Our message for a carrier's refusal under ``code``."""
    return _REFUSED.get(code, f"the carrier refused {refused}")


def carrier_refusal(error: ProviderError, *, refused: str) -> ShippingError:
    """A carrier's refusal as a 422 in our words, its text for staff only
    (``staff_detail``) and its own code in a field of its own."""
    return ShippingError(
        public_refusal(error.code, refused),
        code=error.code,
        status_code=422,
        staff_detail=staff_text(error.message)[:255],
        provider_code=public_provider_code(error),
    )
