"""Reads for the payments admin (a payment's timeline, the payments behind a
review-queue selection) and the API's read of the enabled accounts."""

from typing import Any

from django.db.models import QuerySet
from django.urls import reverse

from integrations.admin.display import money_display
from integrations.failover import enabled_accounts as failover_accounts
from integrations.failover import enabled_accounts_statement
from integrations.models import ProviderAccount
from integrations.timeline import (
    TIMELINE_LIMIT,
    TimelineEntry,
    attempt_entries,
    event_entries,
    timeline_sorted,
    webhook_entries,
)
from payments import fraud
from payments.models import Payment
from payments.services.attempts import KIND


def payment_timeline(payment: Payment) -> list[TimelineEntry]:
    """Everything that happened to ``payment``, oldest first."""
    created = TimelineEntry(
        at=payment.created_at,
        kind="created",
        title="Payment created",
        detail=f"{money_display(payment.amount, payment.currency)} for order "
        f"{payment.order_id}",
    )
    return timeline_sorted(
        [
            created,
            *attempt_entries(payment.attempts.all()),
            *_refund_entries(payment),
            *_note_entries(payment),
            *webhook_entries(
                account_id=payment.account_id,
                reference=payment.provider_reference,
                subject=payment.public_id,
                since=payment.created_at,
            ),
            *event_entries(
                subjects=[payment.public_id, f"payment:{payment.public_id}"]
            ),
        ]
    )


def _refund_entries(payment: Payment) -> list[TimelineEntry]:
    entries = []
    for refund in payment.refunds.all()[:TIMELINE_LIMIT]:
        who = f"by {refund.requested_by}" if refund.requested_by else ""
        failure = refund.failure_message or refund.failure_code
        entries.append(
            TimelineEntry(
                at=refund.created_at,
                kind="refund",
                title=f"Refund {money_display(refund.amount, refund.currency)}: "
                f"{refund.get_status_display()}",
                detail=" · ".join(x for x in (refund.reason, who, failure) if x),
                url=reverse("admin:payments_refund_change", args=[refund.pk]),
            )
        )
    return entries


def _note_entries(payment: Payment) -> list[TimelineEntry]:
    return [
        TimelineEntry(
            at=note.created_at, kind=note.kind, title=note.title, detail=note.detail
        )
        for note in payment.notes.all()[:TIMELINE_LIMIT]
    ]


def provider_said(payment: Payment) -> str:
    """The gateway's latest words about ``payment`` (secrets masked), for
    staff only: the storefront gets our own message."""
    note = payment.notes.filter(kind="provider_message").order_by("-pk").first()
    return note.detail if note else ""


def payments_selected(queryset: QuerySet) -> QuerySet[Payment]:
    """Plain payments for a selection of payment-backed rows (the review
    queue's proxy rows), so admin log entries belong to the payment."""
    return Payment.objects.filter(pk__in=queryset.values("pk"))


def enabled_accounts() -> list[ProviderAccount]:
    """The enabled payments accounts in failover order, read now."""
    return failover_accounts(KIND)


def payment_create_reads(data: Any) -> list[tuple[str, list[Any]]]:
    """The reads a payment's create makes first, for the request body
    ``data`` as sent, to send them ahead (``integrations.db.reads_ahead``):
    the enabled accounts, and the screening's velocity lock and read of the
    body's values. The validated body reads its own, served by one of these
    only if it is the very same statement with the same values."""
    return payment_create_reads_screened(data)[0]


def payment_create_reads_screened(
    data: Any,
) -> tuple[list[tuple[str, list[Any]]], "fraud.Ahead | None"]:
    """``payment_create_reads``, and the screening worked out for them (for
    the same request's ``payment_screen``), if any."""
    reads = [enabled_accounts_statement(KIND)]
    if not isinstance(data, dict):
        return reads, None
    # None or absent is blank; any other non-string is a 400 to come.
    values = {name: data.get(name) or "" for name in _SCREENED}
    if not all(isinstance(value, str) for value in values.values()):
        return reads, None
    # The velocity lock first: the read after it counts the payments of
    # whoever held it before (docs/payments.md, "Fraud screening").
    ahead = fraud.screening_ahead(**values)
    return reads + ahead.statements, ahead


# The body's values the screening reads with.
_SCREENED = (
    "currency",
    "customer_reference",
    "customer_email",
    "ip_address",
    "card_fingerprint",
)
