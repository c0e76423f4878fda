"""Signed ``inventory.updated`` webhooks through /webhooks/<slug>/: applied by
the sync's rules, older events ignored, reservations kept, forged refused."""

import json
import uuid
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from integrations.models import WebhookEvent
from integrations.providers import sandbox_webhooks
from integrations.webhooks.services import webhook_event_process
from integrations.webhooks.verification import signed_headers
from inventory import services
from inventory.models import StockLevel
from inventory.providers.base import StockLevelRecord
from inventory.providers.sandbox import UPDATED_EVENT, event_data
from inventory.services import LineRequest
from tests.contract.sandbox import OTHER_SECRET, SECRET
from tests.factories import ProviderAccountFactory
from tests.inventory.contract import harness_http_stock as hs
from tests.inventory.factories import StockLevelFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def erp():
    return ProviderAccountFactory(kind="inventory", slug="erp-hooks")


def _post(levels, *, secret=SECRET):
    body = sandbox_webhooks.webhook_body(UPDATED_EVENT, event_data(levels))
    headers = sandbox_webhooks.webhook_headers(
        secret=secret, webhook_id=f"msg_{uuid.uuid4().hex}", body=body
    )
    wsgi = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items()}
    return Client().post(
        "/webhooks/erp-hooks/", data=body, content_type="application/json", **wsgi
    )


def _deliver(levels) -> str | None:
    response = _post(levels)
    assert response.status_code < 300, response.content
    event = WebhookEvent.objects.order_by("-pk").first()
    return webhook_event_process(event_id=event.pk)


def test_update_applies_and_keeps_reservations(erp):
    StockLevelFactory(sku="A", on_hand=10)
    services.reservation_create(order_id="o", lines=[LineRequest("A", 4)])
    assert _deliver([StockLevelRecord("A", "MAIN", 6, timezone.now())]) is not None
    level = StockLevel.objects.get(sku="A")
    assert (level.on_hand, level.reserved, level.source_id) == (6, 4, erp.pk)


def test_older_event_is_ignored(erp):
    now = timezone.now()
    _deliver([StockLevelRecord("A", "MAIN", 6, now)])
    _deliver([StockLevelRecord("A", "MAIN", 99, now - timedelta(minutes=1))])
    assert StockLevel.objects.get(sku="A").on_hand == 6
    assert WebhookEvent.objects.filter(status="processed").count() == 2


def test_forged_webhook_changes_nothing(erp):
    StockLevelFactory(sku="A", on_hand=10)
    response = _post(
        [StockLevelRecord("A", "MAIN", 1, timezone.now())], secret=OTHER_SECRET
    )
    assert 400 <= response.status_code < 500
    assert StockLevel.objects.get(sku="A").on_hand == 10
    assert not WebhookEvent.objects.exists()


def test_a_level_our_columns_cannot_hold_is_noted_and_the_others_applied(erp):
    """One level with on_hand 2^31 (beyond the column) no longer fails the
    event for retry until dead: the valid level is applied, the bad one is
    named in the event's note, and the event is processed (not retried)."""
    StockLevelFactory(sku="GOOD", on_hand=10)
    now = timezone.now()
    status = _deliver(
        [
            StockLevelRecord("GOOD", "MAIN", 2, now),
            StockLevelRecord("HUGE", "MAIN", 2**31, now),
        ]
    )
    event = WebhookEvent.objects.get()
    assert (status, event.status, event.attempts) == ("processed", "processed", 1)
    assert StockLevel.objects.get(sku="GOOD").on_hand == 2
    assert not StockLevel.objects.filter(sku="HUGE").exists()
    assert "1 level refused" in event.note
    assert "HUGE@MAIN" in event.note and "on_hand" in event.note


# The HTTP stock service's signed inventory.updated events, with odd bodies.
@pytest.fixture
def stock_hooks():
    acc = hs.make_account()
    acc.slug = "stock-hooks"
    acc.save()
    return acc


def _stock_post(payload, webhook_id=None):
    body = json.dumps(payload).encode()
    headers = signed_headers(
        secret=SECRET, webhook_id=webhook_id or f"msg_{uuid.uuid4().hex}", body=body
    )
    wsgi = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items()}
    return Client().post(
        "/webhooks/stock-hooks/", data=body, content_type="application/json", **wsgi
    )


def _stock_deliver(payload):
    response = _stock_post(payload)
    assert response.status_code < 300, response.content
    event = WebhookEvent.objects.order_by("-pk").first()
    status = webhook_event_process(event_id=event.pk)
    event.refresh_from_db()
    return status, event


def _stock_event(levels, timestamp=None):
    return {
        "type": "inventory.updated",
        "timestamp": timestamp or timezone.now().isoformat(),
        "data": {"levels": levels},
    }


def test_a_malformed_level_is_refused_and_the_valid_ones_applied(stock_hooks):
    """base.py: 'one bad level never fails its page, its event or a sync'.
    A level whose on_hand is 3.0 (or whose location is missing) is refused
    alone: the event is processed with the valid level applied."""
    now = timezone.now().isoformat()
    status, event = _stock_deliver(
        _stock_event(
            [
                {"sku": "GOOD", "location": "main", "on_hand": 5, "modified_at": now},
                {"sku": "ODD", "location": "main", "on_hand": 3.0, "modified_at": now},
            ]
        )
    )
    assert StockLevel.objects.filter(sku="GOOD", on_hand=5).exists(), (
        status,
        event.status,
        event.last_error if hasattr(event, "last_error") else "",
    )
    assert event.status == "processed"


def test_a_far_future_modified_at_does_not_freeze_the_level(stock_hooks):
    """One level stamped year 9999 (a provider clock bug, or a typo in an
    operator's replay) must not make every later figure 'older': the next
    event's figure is applied."""
    _stock_deliver(
        _stock_event(
            [
                {
                    "sku": "A",
                    "location": "main",
                    "on_hand": 5,
                    "modified_at": "9999-01-01T00:00:00+00:00",
                }
            ]
        )
    )
    now = timezone.now().isoformat()
    _stock_deliver(
        _stock_event(
            [{"sku": "A", "location": "main", "on_hand": 0, "modified_at": now}]
        )
    )
    assert StockLevel.objects.get(sku="A").on_hand == 0


def test_a_time_past_year_9999_in_utc_is_refused_and_the_stock_still_reads(
    stock_hooks,
):
    """'9999-12-31T23:59:59-12:00' is a valid aware ISO time whose UTC value
    is in year 10000: PostgreSQL would store it, psycopg cannot read it back
    (the storefront's stock list a 500 for every SKU). The level is refused."""
    from rest_framework.test import APIClient

    from tests.factories import ApiKeyFactory
    from tests.inventory.factories import LocationFactory, StockLevelFactory

    main = LocationFactory(code="main")
    StockLevelFactory(sku="OTHER", location=main, on_hand=3)
    status, _event = _stock_deliver(
        _stock_event(
            [
                {
                    "sku": "B",
                    "location": "main",
                    "on_hand": 5,
                    "modified_at": "9999-12-31T23:59:59-12:00",
                }
            ]
        )
    )
    key = ApiKeyFactory(scopes=["inventory:read"])
    api = APIClient(raise_request_exception=False)
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {key.raw_key}")
    response = api.get("/api/v1/inventory/stock/")
    assert response.status_code == 200, (status, response.status_code)


def test_a_sku_with_nul_is_refused_not_stored_as_a_replacement_character(stock_hooks):
    """docs/inventory.md: a SKU 'with a NUL' is refused with the record
    (rejected, named in the event's note) as the sync does. Through a
    webhook the intake has already replaced it (jsonb holds no NUL) by
    U+FFFD: no level 'A\\ufffd' may merge the ERP's distinct SKUs 'A\\x00'
    and 'A\\ud800'."""
    now = timezone.now().isoformat()
    _status, event = _stock_deliver(
        _stock_event(
            [{"sku": "A\x00", "location": "main", "on_hand": 4, "modified_at": now}]
        )
    )
    assert not StockLevel.objects.exists(), list(
        StockLevel.objects.values_list("sku", "on_hand")
    )
    assert "1 level refused" in event.note


def test_a_far_future_event_timestamp_does_not_freeze_its_levels(stock_hooks):
    """A level without its own modification time takes the event's: a
    timestamp in year 9999 orders nothing."""
    _stock_deliver(
        _stock_event(
            [{"sku": "A", "location": "main", "on_hand": 5, "modified_at": None}],
            timestamp="9999-01-01T00:00:00+00:00",
        )
    )
    _stock_deliver(
        _stock_event(
            [{"sku": "A", "location": "main", "on_hand": 0, "modified_at": None}]
        )
    )
    level = StockLevel.objects.get(sku="A")
    assert (level.on_hand, level.erp_modified_at is not None) == (0, True)


def _stamped(on_hand, at):
    """An event of one level of SKU A, the level and the event stamped ``at``
    (the ERP stamps both by the same clock)."""
    stamp = at.isoformat()
    level = {"sku": "A", "location": "main", "on_hand": on_hand, "modified_at": stamp}
    return _stock_event([level], timestamp=stamp)


def test_an_erp_clock_minutes_fast_still_orders_its_events(stock_hooks):
    """An ERP whose clock runs 6 minutes fast (or sends local time labelled
    UTC) stamps every change ahead of ours: a retry of an older event that
    arrives after a newer one is still ignored (a late event is ignored)."""
    skew = timezone.now() + timedelta(minutes=6)
    _stock_deliver(_stamped(2, skew + timedelta(seconds=30)))
    _stock_deliver(_stamped(9, skew))
    assert StockLevel.objects.get(sku="A").on_hand == 2


def test_a_late_event_stamped_before_a_future_one_is_ignored(stock_hooks):
    """One event stamped 6 minutes ahead of our clock, then one the ERP
    stamped earlier, delivered late: the ERP says it is older, so it is
    ignored (its time is near, not a data bug to repair)."""
    now = timezone.now()
    _stock_deliver(_stamped(5, now - timedelta(minutes=1)))
    _stock_deliver(_stamped(2, now + timedelta(minutes=6)))
    _stock_deliver(_stamped(9, now))
    assert StockLevel.objects.get(sku="A").on_hand == 2


def test_times_ahead_of_our_clock_are_one_warning_per_event(stock_hooks, caplog):
    ahead = (timezone.now() + timedelta(minutes=6)).isoformat()
    levels = [
        {"sku": sku, "location": "main", "on_hand": 1, "modified_at": ahead}
        for sku in ("A", "B", "C")
    ]
    with caplog.at_level("WARNING", logger="inventory.providers.base"):
        _stock_deliver(_stock_event(levels))
    warned = [r for r in caplog.records if "ahead of our clock" in r.getMessage()]
    assert [r.count for r in warned] == [3]
    assert StockLevel.objects.filter(erp_modified_at__isnull=False).count() == 3


def test_a_sku_really_holding_u_fffd_is_applied_and_a_nul_one_refused(stock_hooks):
    """The intake stores the payload with NUL replaced by U+FFFD; the level is
    read from the raw body, so the ERP's real 'A\\ufffd' is applied and its
    'A\\x00' refused, not merged into it."""
    now = timezone.now().isoformat()
    _status, event = _stock_deliver(
        _stock_event(
            [
                {
                    "sku": "A\ufffd",
                    "location": "main",
                    "on_hand": 4,
                    "modified_at": now,
                },
                {"sku": "A\x00", "location": "main", "on_hand": 9, "modified_at": now},
            ]
        )
    )
    assert dict(StockLevel.objects.values_list("sku", "on_hand")) == {"A\ufffd": 4}
    assert "1 level refused" in event.note


def test_without_the_raw_body_a_u_fffd_sku_is_refused(stock_hooks):
    """An event whose raw body is not its payload (an intake storing it
    otherwise): its U+FFFD may be a replaced NUL, so the level is refused."""
    from inventory.webhooks import inventory_webhook_handle

    now = timezone.now().isoformat()
    event = WebhookEvent.objects.create(
        account=stock_hooks,
        event_type="inventory.updated",
        dedupe_key="msg_no_body",
        raw_body=b"",
        payload=_stock_event(
            [
                {
                    "sku": "A\ufffd",
                    "location": "main",
                    "on_hand": 4,
                    "modified_at": now,
                },
                {"sku": "B", "location": "main", "on_hand": 2, "modified_at": now},
            ]
        ),
    )
    inventory_webhook_handle(event)
    assert dict(StockLevel.objects.values_list("sku", "on_hand")) == {"B": 2}
    assert "1 level refused" in event.note and "U+FFFD" in event.note


FAR_STAMP = "9999-12-31T23:59:59-12:00"  # year 10000 in UTC


def test_an_event_stamped_past_year_9999_in_utc_is_processed(stock_hooks):
    """The event's ``timestamp`` past year 9999 in UTC reads as no time: it
    is not stored on the WebhookEvent (psycopg could not read it back), and
    the event's level is applied."""
    now = timezone.now().isoformat()
    level = {"sku": "A", "location": "main", "on_hand": 4, "modified_at": now}
    response = _stock_post(_stock_event([level], timestamp=FAR_STAMP))
    assert response.status_code < 300, response.status_code
    pk = WebhookEvent.objects.values_list("pk", flat=True).get()
    webhook_event_process(event_id=pk)
    assert StockLevel.objects.get(sku="A").on_hand == 4


def test_an_event_stamped_past_year_9999_in_utc_leaves_the_admin_list(
    stock_hooks, admin_client
):
    _stock_post(_stock_event([], timestamp=FAR_STAMP))
    admin_client.raise_request_exception = False
    response = admin_client.get("/admin/integrations/webhookevent/")
    assert response.status_code == 200, response.status_code
