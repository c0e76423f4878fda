"""Showing money in the admin: amounts are int minor units plus a currency
(``integrations.money``); staff read ``€10.50``, never ``1050``."""

from collections.abc import Callable
from typing import Any

from django.contrib import admin

from integrations.money import MoneyError, format_amount


def money_display(amount: int | None, currency: str) -> str:
    """``€10.50``; ``-`` for no amount. A currency we cannot format still
    shows the raw figures, so one bad row never breaks a change list."""
    if amount is None:
        return "-"
    try:
        return format_amount(amount, currency)
    except MoneyError:
        return f"{amount} {currency}"


def money_column(
    field: str,
    *,
    description: str,
    currency_field: str = "currency",
    ordering: str | None = None,
) -> Callable[[Any, Any], str]:
    """A ModelAdmin column showing ``obj.<field>`` in ``obj.<currency_field>``:
    ``amount_display = money_column("amount", description="Amount",
    ordering="amount")``, then name ``amount_display`` in ``list_display``,
    ``fields`` or ``readonly_fields``."""

    @admin.display(description=description, ordering=ordering)
    def column(model_admin: Any, obj: Any) -> str:
        return money_display(getattr(obj, field), getattr(obj, currency_field))

    return column
