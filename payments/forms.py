"""Forms staff fill in the payments admin."""

import secrets
from typing import Any

from django import forms

from integrations.admin.display import money_display
from integrations.admin.staff_action import StaffActionForm
from integrations.money import MoneyError, from_decimal_string, to_decimal_string
from payments.models import Payment
from payments.services import payment_refundable


class RefundForm(forms.Form):
    amount = forms.CharField(max_length=32)
    reason = forms.CharField(max_length=255)
    confirm = forms.BooleanField(
        label="I confirm: send this refund to the customer now.",
        error_messages={"required": "Tick the box to confirm the refund."},
    )
    # One key per form shown: a double submit is one refund, not two.
    token = forms.RegexField(regex=r"^[0-9a-f]{32}$", widget=forms.HiddenInput)

    def __init__(self, *args: Any, payment: Payment, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.payment = payment
        # Refunds still in flight are already spoken for.
        self.refundable = payment_refundable(payment=payment)
        currency = payment.currency
        remainder = to_decimal_string(self.refundable, currency)
        self.fields["amount"].label = f"Amount ({currency})"
        self.fields["amount"].initial = remainder
        self.fields["amount"].help_text = (
            f"In {currency} (e.g. {remainder}); at most "
            f"{money_display(self.refundable, currency)} is left to refund."
        )
        self.fields["token"].initial = secrets.token_hex(16)

    def clean_amount(self) -> int:
        currency = self.payment.currency
        try:
            amount = from_decimal_string(self.cleaned_data["amount"], currency)
        except MoneyError as exc:
            raise forms.ValidationError(
                f"Enter an amount in {currency}: {exc}."
            ) from exc
        if amount <= 0:
            raise forms.ValidationError("Enter an amount above zero.")
        if amount > self.refundable:
            raise forms.ValidationError(
                f"At most {money_display(self.refundable, currency)} can be "
                "refunded on this payment."
            )
        return amount

    @property
    def idempotency_key(self) -> str:
        return f"admin-refund:{self.payment.public_id}:{self.cleaned_data['token']}"


class SettleForm(StaffActionForm):
    """Staff's outcome for an ``unknown`` payment the gateway cannot settle."""

    outcome = forms.ChoiceField(
        choices=[
            ("captured", "Captured: the money was taken"),
            ("authorized", "Authorized: the money is held, not taken yet"),
            ("failed", "Failed: nothing was charged"),
        ],
        widget=forms.RadioSelect,
    )
    provider_reference = forms.CharField(
        label="Gateway reference",
        max_length=255,
        required=False,
        help_text="The gateway's id of the charge that holds the money "
        "(required for captured and authorized).",
    )
    note = forms.CharField(
        label="Staff note",
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="How you know (e.g. what the gateway's dashboard shows).",
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        reference = (data.get("provider_reference") or "").strip()
        if data.get("outcome") in ("captured", "authorized") and not reference:
            self.add_error(
                "provider_reference",
                "Required: the gateway's reference of the charge holding the money.",
            )
        data["provider_reference"] = reference
        return data
