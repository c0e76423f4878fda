"""The integrations dashboard: one row per account, for staff.

Figures come from ``integrations.selectors``; this module only turns the
five-minute buckets into the geometry of a small inline SVG chart (no
JavaScript, nothing loaded from the internet) and renders the page.
"""

from dataclasses import dataclass

from django.contrib import admin
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.utils import timezone

from integrations import selectors
from integrations.selectors import AccountOverview, CallBucket

CHART_WIDTH = 180
CHART_HEIGHT = 40
BAR_GAP = 2
# Refresh without JavaScript; a staff member watching failover sees it move.
REFRESH_SECONDS = 60


@dataclass(frozen=True)
class Bar:
    x: float
    width: float
    ok_y: float
    ok_height: float
    error_y: float
    error_height: float
    title: str


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    bars: list[Bar]
    # One SVG polyline "points" string per run of buckets that had latencies.
    latency_lines: list[str]
    max_calls: int
    max_p95_ms: int


@dataclass(frozen=True)
class DashboardRow:
    overview: AccountOverview
    chart: Chart


def integrations_dashboard(request: HttpRequest) -> TemplateResponse:
    """Staff only: wrapped in ``admin.site.admin_view`` in ``config/urls.py``."""
    rows = [
        DashboardRow(overview=overview, chart=build_chart(overview.stats.buckets))
        for overview in selectors.account_overviews()
    ]
    context = {
        **admin.site.each_context(request),
        "title": "Integrations dashboard",
        "rows": rows,
        "window_minutes": int(selectors.WINDOW.total_seconds() // 60),
        "generated_at": timezone.now(),
        "refresh_seconds": REFRESH_SECONDS,
    }
    return TemplateResponse(request, "admin/integrations/dashboard.html", context)


def build_chart(buckets: list[CallBucket]) -> Chart:
    """Stacked bars of calls (errors on top) and a line of p95 latency.

    Bars are scaled to the busiest bucket and the line to the slowest, each
    on its own axis; the tooltips carry the exact figures.
    """
    max_calls = max((b.calls for b in buckets), default=0)
    max_p95 = max((b.p95_ms or 0 for b in buckets), default=0)
    slot = CHART_WIDTH / max(len(buckets), 1)
    bars = [_bar(i, bucket, slot, max_calls) for i, bucket in enumerate(buckets)]
    return Chart(
        width=CHART_WIDTH,
        height=CHART_HEIGHT,
        bars=bars,
        latency_lines=_latency_lines(buckets, slot, max_p95),
        max_calls=max_calls,
        max_p95_ms=max_p95,
    )


def _bar(index: int, bucket: CallBucket, slot: float, max_calls: int) -> Bar:
    scale = CHART_HEIGHT / max_calls if max_calls else 0
    error_height = bucket.errors * scale
    ok_height = (bucket.calls - bucket.errors) * scale
    local = timezone.localtime(bucket.start)
    p95 = f"{bucket.p95_ms} ms" if bucket.p95_ms is not None else "-"
    return Bar(
        x=round(index * slot + BAR_GAP / 2, 2),
        width=round(slot - BAR_GAP, 2),
        ok_y=round(CHART_HEIGHT - ok_height, 2),
        ok_height=round(ok_height, 2),
        error_y=round(CHART_HEIGHT - ok_height - error_height, 2),
        error_height=round(error_height, 2),
        title=(
            f"{local:%H:%M}: {bucket.calls} calls, {bucket.errors} errors, p95 {p95}"
        ),
    )


def _latency_lines(buckets: list[CallBucket], slot: float, max_p95: int) -> list[str]:
    if not max_p95:
        return []
    lines: list[list[str]] = [[]]
    for i, bucket in enumerate(buckets):
        if bucket.p95_ms is None:
            # A bucket without calls breaks the line rather than drawing a
            # slope through a period with no measurement.
            if lines[-1]:
                lines.append([])
            continue
        x = round(i * slot + slot / 2, 2)
        # Keep a pixel of margin so the peak stays visible under the border.
        y = round(1 + (CHART_HEIGHT - 2) * (1 - bucket.p95_ms / max_p95), 2)
        lines[-1].append(f"{x},{y}")
    return [" ".join(points) for points in lines if points]
