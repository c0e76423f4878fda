"""Errors the API turns into answers."""

from integrations.secrets_registry import staff_text
from integrations.webhooks.messages import storable


class InventoryError(Exception):
    """A request the stock or the reservation's state does not allow."""

    code = "inventory_error"

    def __init__(self, message: str, *, code: str | None = None, param: str = ""):
        super().__init__(message)
        self.message = message
        self.code = code or self.code
        self.param = param


class InvalidReservation(InventoryError, ValueError):
    code = "invalid_request"


class InsufficientStock(InventoryError):
    """A line that cannot be met: nothing was reserved (all or nothing)."""

    code = "insufficient_stock"

    def __init__(self, *, sku: str, requested: int, available: int) -> None:
        super().__init__(
            f"Only {available} of {requested} units of {sku} are available.",
            param="lines",
        )
        self.sku = sku
        self.requested = requested
        self.available = available


class InvalidState(InventoryError):
    code = "invalid_state"


# PostgreSQL text and jsonb refuse NUL, and UTF-8 cannot carry a lone
# surrogate: one such character in an ERP's message would fail the whole save.
def stored_text(text: str, limit: int) -> str:
    """A provider's ``text`` as staff may see it (secrets masked), cut to
    ``limit`` and with characters the database refuses replaced."""
    return storable(staff_text(text))[:limit]
