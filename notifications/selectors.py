"""Reads for the notifications admin: delivery analytics and template
previews.

Rates count messages, not events (a message opened five times is one open):
delivered, bounce and complaint rates are shares of the messages sent; open
and click rates are shares of the messages delivered, as the providers
report them.

Delivered means the receiving server took the message, as the providers'
"delivered" does: a message filtered after delivery (Postmark's
SpamNotification, "delivered, but ... blocked by the user, or classified as
spam") counts, once, whether or not a delivery event came first; how many of
the delivered were filtered is its own figure, and shows in the open rate.

A hard bounce is the last word on a message: one that bounced counts as
bounced only, not as delivered (nor filtered, opened or clicked, which are
shares of the delivered), whatever came before it, so delivered and bounced
never add up to more than sent. A complaint still counts (of sent).
"""

import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Count, Exists, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import TruncDate
from django.utils import timezone

from integrations.batch import row_next_try
from integrations.models import BatchRowStatus
from notifications.models import BulkRecipient, EmailEvent, EmailMessage, EmailStatus
from notifications.rendering import (
    EmailRenderError,
    RenderedEmail,
    render_email,
    template_names,
    templates_dir,
)

GROUPS = {
    "day": "day",
    "template": "template",
    "provider": "account__provider",
}
# Evidence of delivery: opening, clicking or complaining needs the mail, and
# a filter's notice comes from the server that took it.
_DELIVERED = ["delivered", "opened", "clicked", "complained", "filtered"]
# A soft bounce is a deferral, not a bounce.
_HARD_BOUNCE = Q(type="bounced", bounce_type__in=["hard", ""])
SAMPLE_FILE = "sample.json"
# The annotation ``with_next_try`` gives a bulk message: its row's next try.
ROW_NEXT_TRY = "row_next_attempt_at"


@dataclass(frozen=True)
class EmailStats:
    label: str
    sent: int
    delivered: int
    bounced: int
    # Of the delivered: filed as spam or blocked by the recipient's filter.
    filtered: int
    complained: int
    opened: int
    clicked: int

    @staticmethod
    def _rate(part: int, whole: int) -> float | None:
        return round(100 * part / whole, 1) if whole else None

    @property
    def delivered_rate(self) -> float | None:
        return self._rate(self.delivered, self.sent)

    @property
    def bounce_rate(self) -> float | None:
        return self._rate(self.bounced, self.sent)

    @property
    def complaint_rate(self) -> float | None:
        return self._rate(self.complained, self.sent)

    @property
    def open_rate(self) -> float | None:
        return self._rate(self.opened, self.delivered)

    @property
    def click_rate(self) -> float | None:
        return self._rate(self.clicked, self.delivered)


def _counted(messages: QuerySet[EmailMessage], group: str) -> QuerySet:
    bounced = Exists(EmailEvent.objects.filter(_HARD_BOUNCE, message=OuterRef("pk")))

    def has(*, delivered: bool = False, **lookup: object) -> Count:
        condition = Q(**{f"events__{k}": v for k, v in lookup.items()})
        if delivered:
            # Of the delivered: a message that ended bounced is not one.
            condition &= ~bounced
        return Count("pk", filter=condition, distinct=True)

    return (
        messages.values(GROUPS[group])
        .annotate(
            sent=Count("pk", filter=Q(sent_at__isnull=False), distinct=True),
            delivered=has(type__in=_DELIVERED, delivered=True),
            filtered=has(type="filtered", delivered=True),
            bounced=Count("pk", filter=Q(bounced), distinct=True),
            complained=has(type="complained"),
            opened=has(type__in=["opened", "clicked"], delivered=True),
            clicked=has(type="clicked", delivered=True),
        )
        .order_by(GROUPS[group])
    )


def email_stats(
    *, group: str, days: int = 30, now: datetime | None = None
) -> list[EmailStats]:
    """Counts and rates of the messages created in the last ``days`` days,
    per ``group`` ("day", "template" or "provider")."""
    if group not in GROUPS:
        raise ValueError(f"unknown group {group!r}")
    since = (now or timezone.now()) - timedelta(days=days)
    messages = EmailMessage.objects.filter(created_at__gte=since)
    if group == "day":
        messages = messages.annotate(day=TruncDate("created_at"))
    rows = _counted(messages, group)
    key = GROUPS[group]
    return [
        EmailStats(
            label=str(row[key]) if row[key] else "(none)",
            **{k: row[k] for k in EmailStats.__dataclass_fields__ if k != "label"},
        )
        for row in rows
    ]


@dataclass(frozen=True)
class TemplatePreview:
    name: str
    context: dict
    rendered: RenderedEmail | None
    error: str


def template_previews() -> list[TemplatePreview]:
    """Every email template rendered with its ``sample.json`` context; a
    template that cannot render shows why (the error a send would raise)."""
    previews = []
    for name in template_names():
        context, error, rendered = {}, "", None
        sample = templates_dir() / name / SAMPLE_FILE
        try:
            if sample.is_file():
                context = json.loads(sample.read_text(encoding="utf-8"))
            rendered = render_email(name, context)
        except (EmailRenderError, ValueError) as exc:
            error = str(exc)
        previews.append(TemplatePreview(name, context, rendered, error))
    return previews


def email_next_try(message: EmailMessage) -> datetime | None:
    """When a queued message is tried again: a single send after the wait
    its providers asked for, or its growing wait for a paused account
    (``sending._next_try``); a bulk send's message when its row is (its
    batch job sends it, not the sweep: ``row_next_try``). None when it is
    not waiting."""
    if message.status != EmailStatus.QUEUED:
        return None
    if message.bulk_send_id is None:
        return message.retry_at
    if hasattr(message, ROW_NEXT_TRY):  # read with the list (``with_next_try``)
        return getattr(message, ROW_NEXT_TRY)
    row = BulkRecipient.objects.filter(message_id=message.pk).first()
    return row_next_try(row) if row is not None else None


def with_next_try(messages: QuerySet[EmailMessage]) -> QuerySet[EmailMessage]:
    """``messages`` with each bulk message's row's next try read in the same
    query (``email_next_try`` uses it): no query per message in a list."""
    pending = BulkRecipient.objects.filter(
        message_id=OuterRef("pk"), status=BatchRowStatus.PENDING
    )
    return messages.annotate(
        **{ROW_NEXT_TRY: Subquery(pending.values("next_attempt_at")[:1])}
    )
