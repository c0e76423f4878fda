"""The shared admin helpers: money display, the read-only mixin and the
timeline mixin, exercised on a throwaway ModelAdmin over ProviderAccount
(what a new domain's admin would do)."""

from datetime import timedelta

import pytest
from django.contrib import admin
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone

from integrations.admin.display import money_column, money_display
from integrations.admin.readonly import ReadOnlyAdminMixin
from integrations.admin.timeline import TimelineAdminMixin
from integrations.models import ProviderAccount
from integrations.timeline import (
    TimelineEntry,
    event_entries,
    timeline_sorted,
    webhook_entries,
)
from tests.factories import (
    EventFactory,
    ProviderAccountFactory,
    WebhookEventFactory,
)


@pytest.mark.parametrize(
    ("amount", "currency", "shown"),
    [
        (1050, "EUR", "€10.50"),
        (1050, "JPY", "¥1,050"),
        (1005, "KWD", "1.005 KWD"),
        (None, "EUR", "-"),
        (1050, "XXX", "1050 XXX"),  # unknown currency: raw figures, no error
    ],
)
def test_money_display(amount, currency, shown):
    assert money_display(amount, currency) == shown


class Row:
    def __init__(self, amount: int, currency: str) -> None:
        self.total, self.currency = amount, currency


def test_money_column_reads_amount_and_currency_and_carries_admin_metadata():
    column = money_column("total", description="Total", ordering="total")
    assert column(None, Row(250, "GBP")) == "£2.50"
    assert column.short_description == "Total"
    assert column.admin_order_field == "total"


class AccountTimelineAdmin(TimelineAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    def get_timeline(self, obj: ProviderAccount) -> list[TimelineEntry]:
        now = timezone.now()
        return timeline_sorted(
            [
                TimelineEntry(at=now, kind="later", title="Second thing"),
                TimelineEntry(
                    at=now - timedelta(minutes=1), kind="first", title="First thing"
                ),
            ]
        )


@pytest.fixture
def superuser_request(django_user_model):
    request = RequestFactory().get("/")
    request.user = django_user_model.objects.create_superuser("su", "su@x.io", "pw")
    return request


@pytest.mark.django_db
def test_read_only_mixin_refuses_add_change_delete_even_to_superusers(
    superuser_request,
):
    model_admin = AccountTimelineAdmin(ProviderAccount, admin.site)
    account = ProviderAccountFactory()
    assert not model_admin.has_add_permission(superuser_request)
    assert not model_admin.has_change_permission(superuser_request, account)
    assert not model_admin.has_delete_permission(superuser_request, account)
    assert model_admin.has_view_permission(superuser_request, account)


@pytest.mark.django_db
def test_timeline_mixin_renders_entries_oldest_first_on_the_change_page(
    superuser_request,
):
    model_admin = AccountTimelineAdmin(ProviderAccount, admin.site)
    account = ProviderAccountFactory()
    response = model_admin.change_view(superuser_request, str(account.pk))
    response.render()
    content = response.content.decode()
    assert [e.kind for e in response.context_data["timeline"]] == ["first", "later"]
    assert 'id="provideraccount-timeline"' in content
    assert content.index("First thing") < content.index("Second thing")


@pytest.mark.django_db
def test_timeline_readers_find_webhooks_by_reference_and_events_by_subject():
    account = ProviderAccountFactory()
    hook = WebhookEventFactory(account=account, payload={"data": {"id": "ch_42"}})
    WebhookEventFactory(account=account, payload={"data": {"id": "ch_other"}})
    EventFactory(subject="shipment:shp_1", name="shipment.label_created")
    EventFactory(subject="shipment:shp_2", name="shipment.label_created")

    webhooks = webhook_entries(account_id=account.pk, reference="ch_42")
    events = event_entries(subjects=["shipment:shp_1"])
    assert [entry.kind for entry in webhooks] == ["webhook"]
    assert webhooks[0].url == reverse(
        "admin:integrations_webhookevent_change", args=[hook.pk]
    )
    assert [entry.title for entry in events] == ["Event shipment.label_created"]
    assert webhook_entries(account_id=account.pk, reference="") == []
    assert webhook_entries(account_id=None, reference="ch_42") == []


@pytest.mark.django_db
def test_an_objects_events_are_found_by_an_index_on_subject():
    # Without one, PostgreSQL walked the whole outbox newest first, filtering
    # by subject: an old payment's page read every event written since.
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    if connection.vendor != "postgresql":
        pytest.skip("a PostgreSQL plan")
    from integrations.models import Event

    EventFactory(subject="payment:pay_1")
    # An outbox of some size, its statistics known: on a near-empty table
    # any plan is as cheap as another.
    Event.objects.bulk_create(
        Event(name="payment.captured", subject=f"payment:pay_{n}")
        for n in range(2, 3002)
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE integrations_event")
    with CaptureQueriesContext(connection) as queries:
        event_entries(subjects=["payment:pay_1", "refund:re_1"])
    (statement,) = [q["sql"] for q in queries.captured_queries if "event" in q["sql"]]
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("EXPLAIN " + statement)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "Index Cond: ((subject)::text = ANY" in plan, plan


@pytest.mark.django_db
def test_webhooks_a_handler_applied_are_found_by_subject_wherever_they_are(
    monkeypatch,
):
    from integrations import timeline

    monkeypatch.setattr(timeline, "REFERENCE_SEARCH_ROWS", 2)
    account = ProviderAccountFactory()
    made = timezone.now() - timedelta(days=30)
    applied = WebhookEventFactory(
        account=account, subject="pay_1", payload={"data": {"id": "evt_x"}}
    )
    for _ in range(3):  # later traffic that fills the reference search's rows
        WebhookEventFactory(account=account, received_at=made + timedelta(minutes=5))
    late_mention = WebhookEventFactory(account=account, payload={"id": "ch_42"})

    found = webhook_entries(
        account_id=account.pk, reference="ch_42", subject="pay_1", since=made
    )

    urls = {entry.url for entry in found}
    assert _change_url(applied) in urls
    assert _change_url(late_mention) not in urls  # past the bounded search


@pytest.mark.django_db
def test_the_reference_search_reads_a_bounded_window_from_the_objects_creation(
    monkeypatch,
):
    from integrations import timeline

    monkeypatch.setattr(timeline, "REFERENCE_SEARCH_ROWS", 3)
    account = ProviderAccountFactory()
    made = timezone.now() - timedelta(days=2)
    WebhookEventFactory(  # long before the object existed
        account=account, payload={"id": "ch_42"}, received_at=made - timedelta(days=1)
    )
    early = WebhookEventFactory(
        account=account,
        payload={"id": "ch_42"},
        received_at=made - timedelta(minutes=1),
    )
    within = WebhookEventFactory(
        account=account, payload={"id": "ch_42"}, received_at=made + timedelta(hours=1)
    )
    WebhookEventFactory(  # another account's: it counts in the window too
        payload={"id": "ch_42"}, received_at=made + timedelta(hours=2)
    )

    found = webhook_entries(account_id=account.pk, reference="ch_42", since=made)

    assert {entry.url for entry in found} == {_change_url(early), _change_url(within)}


def _change_url(webhook) -> str:
    return reverse("admin:integrations_webhookevent_change", args=[webhook.pk])


@pytest.mark.django_db
def test_webhooks_are_found_by_subject_through_its_index():
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from integrations.models import WebhookEvent

    if connection.vendor != "postgresql":
        pytest.skip("a PostgreSQL plan")
    account = ProviderAccountFactory()
    WebhookEvent.objects.bulk_create(
        WebhookEventFactory.build(account=account, subject=f"pay_{n}")
        for n in range(3000)
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE integrations_webhookevent")
    with CaptureQueriesContext(connection) as queries:
        webhook_entries(account_id=account.pk, reference="", subject="pay_7")
    (statement,) = [q["sql"] for q in queries.captured_queries]
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("EXPLAIN " + statement)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "webhook_subject_received" in plan, plan
