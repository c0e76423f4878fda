"""The inventory migrations on a live table: 0011 copies each location's
``active`` onto its stock levels in batches, writes only the rows that
differ, and runs again (backwards, forwards) to the same result. Needs
``--migrations``."""

import importlib
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.migration_state import historical_apps, migrated_back

# `make test` runs these in a second pass, with --migrations.
pytestmark = [pytest.mark.migrations, pytest.mark.django_db(transaction=True)]

COPY = importlib.import_module(
    "inventory.migrations.0011_stocklevel_location_active_copy"
)


@pytest.fixture
def at_0010(request: pytest.FixtureRequest) -> Iterator[None]:
    with migrated_back(request, "inventory", "0010"):
        yield


def _models(migration: str) -> tuple[Any, Any]:
    """Location and StockLevel as they are at ``migration``: today's models
    name columns later migrations add."""
    apps = historical_apps("inventory", migration)
    return apps.get_model("inventory", "Location"), apps.get_model(
        "inventory", "StockLevel"
    )


def _flags() -> dict[str, bool]:
    _location, level = _models("0011")
    return dict(level.objects.values_list("sku", "location_active"))


def test_the_copy_gives_each_level_its_locations_flag(at_0010, monkeypatch):
    monkeypatch.setattr(COPY, "BATCH", 2)  # several batches, one gap
    Location, StockLevel = _models("0010")
    shut = Location.objects.create(code="SHUT", active=False)
    open_ = Location.objects.create(code="OPEN", active=True)
    # As 0010 leaves them: every level's flag true (the column's default).
    for sku, location in [("A", shut), ("B", open_), ("C", shut), ("D", shut)]:
        StockLevel.objects.create(sku=sku, location=location)
    StockLevel.objects.filter(sku="C").delete()
    # Drift the copy repairs too: a level off at an active location.
    StockLevel.objects.create(sku="E", location=open_, location_active=False)

    call_command("migrate", "inventory", "0011", verbosity=0)
    expected = {"A": False, "B": True, "D": False, "E": True}
    assert _flags() == expected

    call_command("migrate", "inventory", "0010", verbosity=0)
    assert _flags() == expected  # backwards leaves the column as it is
    call_command("migrate", "inventory", "0011", verbosity=0)
    assert _flags() == expected


def test_the_copy_of_an_empty_table_does_nothing(at_0010):
    call_command("migrate", "inventory", "0011", verbosity=0)
    assert _flags() == {}


def test_the_copy_skips_the_gaps_of_sparse_ids(at_0010, monkeypatch):
    """Batches start at the next id there is: a table whose ids jump (old
    levels purged) costs no transaction per empty range."""
    monkeypatch.setattr(COPY, "BATCH", 2)
    Location, StockLevel = _models("0010")
    shut = Location.objects.create(code="SHUT", active=False)
    first = StockLevel.objects.create(sku="A", location=shut)
    StockLevel.objects.create(pk=first.pk + 1, sku="B", location=shut)
    StockLevel.objects.create(pk=first.pk + 100_000, sku="C", location=shut)

    with CaptureQueriesContext(connection) as queries:
        call_command("migrate", "inventory", "0011", verbosity=0)
    copies = [q for q in queries if q["sql"].startswith("UPDATE inventory_stocklevel")]
    assert len(copies) == 2
    assert _flags() == {"A": False, "B": False, "C": False}


@pytest.fixture
def at_0011(request: pytest.FixtureRequest) -> Iterator[None]:
    with migrated_back(request, "inventory", "0011"):
        yield


def test_erp_times_psycopg_cannot_read_back_are_cleared(at_0011):
    """A level stamped year 10000 in UTC (stored before level_problem refused
    it) made every read of the stock list fail: 0012 clears it, and keeps
    the readable times."""
    if connection.vendor != "postgresql":
        pytest.skip("SQLite stores such a time as text")
    Location, StockLevel = _models("0011")
    location = Location.objects.create(code="MAIN")
    for sku in ("BROKEN", "LAST_DAY", "FINE"):
        StockLevel.objects.create(sku=sku, location=location)
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE inventory_stocklevel SET erp_modified_at = CASE sku "
            "WHEN 'BROKEN' THEN '10000-01-01 11:59:59+00'::timestamptz "
            "WHEN 'LAST_DAY' THEN '9999-12-31 20:00:00+00'::timestamptz "
            "ELSE '2026-12-04 09:30:00+00'::timestamptz END"
        )

    call_command("migrate", "inventory", "0012", verbosity=0)

    _location, level = _models("0012")
    times = dict(level.objects.values_list("sku", "erp_modified_at"))
    assert times["BROKEN"] is None
    assert times["LAST_DAY"] is None  # no local time zone could show it
    assert times["FINE"].isoformat() == "2026-12-04T09:30:00+00:00"


@pytest.fixture
def integrations_at_0006(request: pytest.FixtureRequest) -> Iterator[None]:
    with migrated_back(request, "integrations", "0006"):
        yield


def test_webhook_event_times_psycopg_cannot_read_back_are_cleared(
    integrations_at_0006,
):
    """An ERP's event stamped 9999-12-31T23:59:59-12:00 (year 10000 in UTC,
    stored before iso_time read it as none) failed its processing and the
    admin's list of events: integrations 0007 clears it, and keeps the
    readable times."""
    from tests.factories import ProviderAccountFactory

    if connection.vendor != "postgresql":
        pytest.skip("SQLite stores such a time as text")
    account = ProviderAccountFactory(kind="inventory", slug="erp-hooks")
    # The model as it is at 0006: today's leaves received_at to a database
    # default that later migration adds.
    old = historical_apps("integrations", "0006_idempotency_done_mark")
    WebhookEvent = old.get_model("integrations", "WebhookEvent")
    for key in ("BROKEN", "LAST_DAY", "FINE"):
        WebhookEvent.objects.create(
            account_id=account.pk, event_type="inventory.updated", dedupe_key=key
        )
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE integrations_webhookevent SET occurred_at = CASE dedupe_key "
            "WHEN 'BROKEN' THEN '10000-01-01 11:59:59+00'::timestamptz "
            "WHEN 'LAST_DAY' THEN '9999-12-31 20:00:00+00'::timestamptz "
            "ELSE '2026-12-04 09:30:00+00'::timestamptz END"
        )

    call_command("migrate", "integrations", "0007", verbosity=0)

    times = dict(WebhookEvent.objects.values_list("dedupe_key", "occurred_at"))
    assert times["BROKEN"] is None
    assert times["LAST_DAY"] is None  # no local time zone could show it
    assert times["FINE"].isoformat() == "2026-12-04T09:30:00+00:00"
