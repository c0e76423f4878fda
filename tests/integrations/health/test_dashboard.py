from datetime import timedelta

import pytest
from django.utils import timezone

from integrations.admin.dashboard import CHART_HEIGHT, build_chart
from integrations.models import HealthCheckResult
from integrations.selectors import CallBucket
from tests.factories import ProviderAccountFactory, ProviderCallFactory

pytestmark = pytest.mark.django_db

URL = "/admin/integrations/dashboard/"


def _row(html: str, slug: str) -> str:
    start = html.index(f'data-account="{slug}"')
    return html[start : html.index("</tr>", start)]


def _buckets(*figures: tuple[int, int, int | None]) -> list[CallBucket]:
    start = timezone.now()
    return [
        CallBucket(start + timedelta(minutes=5 * i), calls, errors, p95)
        for i, (calls, errors, p95) in enumerate(figures)
    ]


def test_chart_stacks_errors_on_calls_and_draws_p95():
    chart = build_chart(_buckets((0, 0, None), (4, 1, 100), (2, 2, 50)))

    empty, mixed, failed = chart.bars
    assert (chart.max_calls, chart.max_p95_ms) == (4, 100)
    assert (empty.ok_height, empty.error_height) == (0, 0)
    assert (mixed.x, mixed.width) == (61.0, 58.0)
    assert (mixed.ok_y, mixed.ok_height) == (10.0, 30.0)
    assert (mixed.error_y, mixed.error_height) == (0.0, 10.0)
    assert (failed.ok_height, failed.error_y, failed.error_height) == (0, 20.0, 20.0)
    assert mixed.title.endswith("4 calls, 1 errors, p95 100 ms")
    assert chart.latency_lines == ["90.0,1.0 150.0,20.0"]


def test_chart_line_breaks_where_a_bucket_had_no_calls():
    chart = build_chart(_buckets((1, 0, 10), (0, 0, None), (1, 0, 10)))

    assert chart.latency_lines == ["30.0,1.0", "150.0,1.0"]
    assert all(bar.ok_height == CHART_HEIGHT for bar in (chart.bars[0], chart.bars[2]))


def test_chart_without_calls_is_empty():
    chart = build_chart(_buckets(*[(0, 0, None)] * 12))

    assert chart.latency_lines == []
    assert all(b.ok_height == b.error_height == 0 for b in chart.bars)


def test_staff_sees_figures_for_each_account(staff_client):
    account = ProviderAccountFactory(slug="sbx-pay", display_name="Sandbox Pay")
    ProviderAccountFactory(slug="sbx-ship", kind="shipping", enabled=False)
    for outcome, duration in [("success", 10), ("success", 30), ("unknown", 80)]:
        ProviderCallFactory(
            account=account,
            outcome=outcome,
            duration_ms=duration,
            operation="capture",
            error_code="read_timeout" if outcome == "unknown" else "",
            http_status=None,
        )
    HealthCheckResult.objects.create(
        account=account,
        status="unhealthy",
        latency_ms=12,
        detail="<b>down</b>",
        last_error="<b>down</b>",
        last_error_at=timezone.now() - timedelta(hours=2),
        checked_at=timezone.now(),
    )

    response = staff_client.get(URL)

    assert response.status_code == 200
    html = response.content.decode()
    row = _row(html, "sbx-pay")
    assert "Sandbox Pay" in row
    assert "Unhealthy" in row
    assert "closed" in row
    assert '<td class="num">3</td>' in row
    assert '<td class="num">33 %</td>' in row
    assert '<td class="num">30 ms</td>' in row  # p50 of 10, 30, 80
    assert '<td class="num">80 ms</td>' in row  # p95
    assert "capture: read_timeout" in row  # newer than the probe's error
    assert "<svg" in row and '<rect class="err"' in row and "<polyline" in row
    assert 'data-account="sbx-ship"' in html
    assert "&lt;b&gt;down&lt;/b&gt;" in html
    assert "<b>down</b>" not in html


def test_page_without_accounts(staff_client):
    response = staff_client.get(URL)

    assert response.status_code == 200
    assert "No provider accounts yet" in response.content.decode()


def test_non_staff_is_sent_to_login(client, django_user_model):
    user = django_user_model.objects.create_user("shopper", password="pw")
    client.force_login(user)

    response = client.get(URL)

    assert response.status_code == 302
    assert response["Location"] == f"/admin/login/?next={URL}"


def test_anonymous_is_sent_to_login(client):
    response = client.get(URL)

    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


def test_admin_index_links_to_the_dashboard(staff_client):
    response = staff_client.get("/admin/")

    assert response.status_code == 200
    assert f'href="{URL}"' in response.content.decode()
