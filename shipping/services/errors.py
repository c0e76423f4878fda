"""Errors the API and the admin turn into answers."""


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
    ) -> None:
        super().__init__(message)
        self.message = message
        # The provider's own words (secrets redacted) for staff, never sent
        # to the storefront (issue 17, 3).
        self.staff_detail = staff_detail
        self.code = code or self.code
        self.param = param
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
