"""The per-object history staff read on an admin change page: entries, and
the readers for what the core stores about any object (its keyed attempts,
the webhooks that mention it, its domain events). A domain adds its own
entries (refunds, labels) and sorts them together with ``timeline_sorted``.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

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


# Webhooks no handler applied to the object (ignored types, rows processed
# before subjects were stored) are found by the reference in their payload,
# among at most this many received (from every account: the webhook table
# has no per-account time index, one write fewer per webhook) from the
# object's creation on: an old object costs a bounded read, not a scan.
REFERENCE_SEARCH_ROWS = 5000
# A webhook may arrive just before our own record of what it is about.
_EARLY = timedelta(hours=1)


def webhook_entries(
    *,
    account_id: int | None,
    reference: str,
    subject: str = "",
    since: datetime | None = None,
) -> list[TimelineEntry]:
    """Webhooks about one object: those a handler applied to it or failed to
    (``subject``, its public id, by index), and those of ``account_id``
    whose payload mentions ``reference`` (the provider's id for it; where it
    sits differs by provider) among the first ``REFERENCE_SEARCH_ROWS``
    webhooks of any account received from ``since`` (its creation; the
    latest ones without it)."""
    found: dict[int, WebhookEvent] = {}
    if subject:
        applied = WebhookEvent.objects.filter(subject=subject)
        found.update(
            (w.pk, w) for w in applied.order_by("-received_at")[:TIMELINE_LIMIT]
        )
    if reference and account_id is not None:
        found.update((w.pk, w) for w in _mentioning(account_id, reference, since))
    webhooks = sorted(found.values(), key=lambda w: w.received_at, reverse=True)
    return [
        TimelineEntry(
            at=webhook.occurred_at or webhook.received_at,
            kind="webhook",
            title=f"Webhook {webhook.event_type}: {webhook.get_status_display()}",
            detail=webhook.note or webhook.last_error[:200],
            url=reverse("admin:integrations_webhookevent_change", args=[webhook.pk]),
        )
        for webhook in webhooks[:TIMELINE_LIMIT]
    ]


def _mentioning(
    account_id: int, reference: str, since: datetime | None
) -> QuerySet[WebhookEvent]:
    window = WebhookEvent.objects.all()
    if since is None:
        window = window.order_by("-received_at")
    else:
        window = window.filter(received_at__gte=since - _EARLY).order_by("received_at")
    return (
        WebhookEvent.objects.filter(
            pk__in=window.values("pk")[:REFERENCE_SEARCH_ROWS], account_id=account_id
        )
        .annotate(payload_text=Cast("payload", output_field=TextField()))
        .filter(payload_text__contains=reference)
        .order_by("-received_at")[:TIMELINE_LIMIT]
    )


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
