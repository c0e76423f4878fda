"""Shared types for contract harnesses (see README.md)."""

from dataclasses import dataclass, field

from payments.providers.base import PaymentEventKind


@dataclass(frozen=True)
class Webhook:
    body: bytes
    headers: dict[str, str]
    url: str = "https://switchyard.test/webhooks/contract/"
    # For webhook_valid: what parse_payment_event must return.
    kind: PaymentEventKind | None = None
    reference: str = ""
    extra: dict = field(default_factory=dict)
