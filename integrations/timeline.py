"""The per-object history staff read on an admin change page: entries, and
the readers for what the core stores about any object (its keyed attempts,
the webhooks that mention it, its domain events). A domain adds its own
entries (refunds, labels) and sorts them together with ``timeline_sorted``.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.db.models import QuerySet, TextField
from django.db.models.functions import Cast
from django.urls import reverse

from integrations.models import Event, WebhookEvent

# Per source, newest first: an object with years of history stays one page.
TIMELINE_LIMIT = 50


@dataclass(frozen=True)
class TimelineEntry:
    at: datetime
    kind: str  # created, attempt, webhook, event, or the domain's own kinds
    title: str
    detail: str = ""
    url: str = ""


def timeline_sorted(entries: Iterable[TimelineEntry]) -> list[TimelineEntry]:
    """``entries`` oldest first."""
    return sorted(entries, key=lambda entry: entry.at)


def attempt_entries(attempts: QuerySet) -> list[TimelineEntry]:
    """One entry per keyed attempt (a ``KeyedAttempt`` queryset)."""
    entries = []
    for attempt in attempts.select_related("account")[:TIMELINE_LIMIT]:
        error = ": ".join(x for x in (attempt.error_code, attempt.error_message) if x)
        took = f"{attempt.duration_ms} ms" if attempt.duration_ms is not None else ""
        entries.append(
            TimelineEntry(
                at=attempt.created_at,
                kind="attempt",
                title=f"{attempt.operation} at {attempt.account.display_name}: "
                f"{attempt.get_outcome_display()}",
                detail=" · ".join(x for x in (error, took) if x),
            )
        )
    return entries


def webhook_entries(*, account_id: int | None, reference: str) -> list[TimelineEntry]:
    """Webhooks of ``account_id`` whose payload mentions ``reference`` (the
    provider's id for the object; where it sits differs by provider, so the
    payload's text is searched)."""
    if not reference or account_id is None:
        return []
    webhooks = (
        WebhookEvent.objects.filter(account_id=account_id)
        .annotate(payload_text=Cast("payload", output_field=TextField()))
        .filter(payload_text__contains=reference)
        .order_by("-received_at")[:TIMELINE_LIMIT]
    )
    return [
        TimelineEntry(
            at=webhook.occurred_at or webhook.received_at,
            kind="webhook",
            title=f"Webhook {webhook.event_type}: {webhook.get_status_display()}",
            detail=webhook.note or webhook.last_error[:200],
            url=reverse("admin:integrations_webhookevent_change", args=[webhook.pk]),
        )
        for webhook in webhooks
    ]


def event_entries(*, subjects: list[str]) -> list[TimelineEntry]:
    """Domain events whose subject is one of ``subjects``."""
    events = Event.objects.filter(subject__in=subjects).order_by("-created_at")[
        :TIMELINE_LIMIT
    ]
    return [
        TimelineEntry(
            at=event.created_at,
            kind="event",
            title=f"Event {event.name}",
            url=reverse("admin:integrations_event_change", args=[event.pk]),
        )
        for event in events
    ]
