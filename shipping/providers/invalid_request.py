"""The refusal of a shipping request before any carrier is called
(``validation``, ``state_checks``): a 400 whose ``param`` names the field."""

from integrations.errors import Rejected


class InvalidShippingRequest(Rejected):
    """Refused before any call; ``param`` is the offending field's path."""

    default_code = "invalid_request"

    def __init__(self, message: str, *, param: str, code: str | None = None) -> None:
        super().__init__(message, code=code, http_status=400)
        self.param = param
