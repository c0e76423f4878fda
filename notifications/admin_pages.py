"""Staff pages beside the email log: every template previewed with its
sample context, and delivery analytics with a CSS bar chart (nothing loaded
from the internet, no JavaScript)."""

from dataclasses import dataclass

from django.contrib import admin
from django.http import HttpRequest
from django.template.response import TemplateResponse

from notifications import selectors
from notifications.models import EmailMessage
from notifications.selectors import EmailStats

DAY_CHOICES = (7, 30, 90)


@dataclass(frozen=True)
class DayBar:
    stats: EmailStats
    # Widths in percent of the busiest day's sent count.
    delivered_pct: float
    bounced_pct: float
    other_pct: float


def _context(request: HttpRequest, title: str) -> dict:
    return {
        **admin.site.each_context(request),
        "title": title,
        "opts": EmailMessage._meta,
    }


def template_preview(request: HttpRequest) -> TemplateResponse:
    """Subject, text and HTML of every template, side by side."""
    context = {
        **_context(request, "Email template previews"),
        "previews": selectors.template_previews(),
    }
    return TemplateResponse(
        request, "admin/notifications/emailmessage/preview.html", context
    )


def analytics(request: HttpRequest) -> TemplateResponse:
    """Sent, delivered, bounce, complaint, open and click rates per day,
    template and provider."""
    raw = request.GET.get("days", "")
    days = int(raw) if raw in {str(choice) for choice in DAY_CHOICES} else 30
    per_day = selectors.email_stats(group="day", days=days)
    context = {
        **_context(request, "Email analytics"),
        "days": days,
        "day_choices": DAY_CHOICES,
        "day_bars": day_bars(per_day),
        "sections": [
            ("Per template", selectors.email_stats(group="template", days=days)),
            ("Per provider", selectors.email_stats(group="provider", days=days)),
        ],
    }
    return TemplateResponse(
        request, "admin/notifications/emailmessage/analytics.html", context
    )


def day_bars(rows: list[EmailStats]) -> list[DayBar]:
    """One bar per day, scaled to the busiest: delivered, bounced and the
    rest of what was sent (still in flight, deferred or silent)."""
    busiest = max((row.sent for row in rows), default=0)

    def pct(value: int) -> float:
        return round(100 * value / busiest, 1) if busiest else 0.0

    bars = []
    for row in rows:
        delivered = min(row.delivered, row.sent)
        bounced = min(row.bounced, row.sent - delivered)
        bars.append(
            DayBar(
                stats=row,
                delivered_pct=pct(delivered),
                bounced_pct=pct(bounced),
                other_pct=pct(row.sent - delivered - bounced),
            )
        )
    return bars
