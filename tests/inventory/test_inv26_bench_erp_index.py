"""inv26: the inventory bench's fake ERP (the sandbox's ``SandboxErpLevel``
rows, 100,000 of one account) is paged by offset: ``WHERE account_id = ..
ORDER BY id OFFSET .. LIMIT ..``. Its table has no (account, id) index (only
the account's own and the (account, sku, location) unique one), so each page
sorted the account's rows or walked the primary key past other accounts':
the bench timed the fake ERP, not the sync. The bench adds that index
(bench only: the sandbox holds a few rows outside it)."""

import pytest
from django.db import connection

from bench import bench_inventory
from inventory.models import SandboxErpLevel
from tests.inventory.contract import harness_tradegecko as tg

pytestmark = pytest.mark.django_db


def _indexed_columns() -> list[list[str]]:
    table = SandboxErpLevel._meta.db_table
    with connection.cursor() as cursor:
        found = connection.introspection.get_constraints(cursor, table)
    return [c["columns"] for c in found.values() if c["index"]]


def test_the_bench_erp_is_indexed_for_its_page_query():
    assert ["account_id", "id"] not in _indexed_columns()

    bench_inventory._index_erp()

    assert ["account_id", "id"] in _indexed_columns()


def test_the_bench_seeds_its_erp_then_indexes_it(monkeypatch):
    """Indexed once its rows are in (one build), before its statistics."""
    monkeypatch.setattr(bench_inventory, "SYNC_SKUS", 20)
    monkeypatch.setattr(bench_inventory, "SEED_BATCH", 10)
    steps: list[tuple[str, int]] = []
    rows = SandboxErpLevel.objects.count
    monkeypatch.setattr(
        bench_inventory, "_index_erp", lambda: steps.append(("index", rows()))
    )
    monkeypatch.setattr(
        bench_inventory, "_analyze", lambda table: steps.append(("analyze", rows()))
    )

    bench_inventory._seed_erp(tg.make_account())

    assert steps == [("index", 20), ("analyze", 20)]
