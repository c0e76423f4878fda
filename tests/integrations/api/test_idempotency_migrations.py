"""Migration 0006 rolled back (a deploy rolled back to 0005): the records
0006's code left ``abandoned`` must mean to 0005's code what they meant
(a request whose worker died), never a completed request: 0005's code reads
any state but in-flight as completed and would replay its empty response as
a 200 with ``Idempotent-Replayed: true``, whatever the dead request did."""

import importlib
from datetime import timedelta

import pytest
from django.apps import apps as django_apps
from django.conf import settings
from django.db import migrations
from django.utils import timezone

from integrations.models import IdempotencyRecord

pytestmark = pytest.mark.django_db(transaction=True)


def _record(key: str, state: str, age: timedelta) -> IdempotencyRecord:
    return IdempotencyRecord.objects.create(
        owner="api-key:1",
        key=key,
        method="POST",
        path="/api/v1/payments/p/capture/",
        request_hash="h",
        state=state,
        created_at=timezone.now() - age,
        done_mark="payment.capture:p:600" if state == "abandoned" else "",
    )


def _migrate_back_to_0005() -> None:
    # The suite builds its tables from the models (--nomigrations): run
    # 0006's reverse data step as `migrate integrations 0005` runs it.
    migration = importlib.import_module(
        "integrations.migrations.0006_idempotency_done_mark"
    )
    operations = migration.Migration.operations
    (step,) = [op for op in operations if isinstance(op, migrations.RunPython)]
    assert step is operations[-1]  # reversed first, while the states exist
    step.reverse_code(django_apps, None)


def test_rolling_back_0006_leaves_abandoned_records_as_dead_in_flight_ones():
    _record("fresh-abandoned", "abandoned", timedelta(seconds=5))
    _record("old-abandoned", "abandoned", timedelta(hours=2))
    _record("running", "in_flight", timedelta(seconds=5))
    completed = _record("done", "completed", timedelta(seconds=5))
    _migrate_back_to_0005()
    rows = {r.key: (r.state, r.created_at) for r in IdempotencyRecord.objects.all()}

    dead = timezone.now() - timedelta(
        seconds=settings.IDEMPOTENCY_IN_FLIGHT_TIMEOUT_SECONDS
    )
    # 0005's code takes each over as a dead worker's and runs it anew.
    assert {rows[k][0] for k in ("fresh-abandoned", "old-abandoned")} == {"in_flight"}
    assert rows["fresh-abandoned"][1] < dead
    assert rows["old-abandoned"][1] < timezone.now() - timedelta(hours=1)
    # A live request and a completed one are left as they were.
    assert rows["running"][0] == "in_flight" and rows["running"][1] > dead
    assert rows["done"] == ("completed", completed.created_at)
