"""7. Inventory: reservations per second from 16 concurrent workers on one hot
SKU and on 1,000 SKUs (PostgreSQL: on SQLite writers take turns, so the
figure says nothing), against the floor of the same workers each committing
a bare ``reserved = reserved + n`` update of the same rows; and a
100,000-SKU sync from the sandbox ERP (a fake ERP in the database, reached
through the shared client) against a plain bulk insert of the same rows.
"""

import itertools
import random
import resource
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta

from bench.common import note, report

WORKERS = 16
PER_WORKER = 150
MANY_SKUS = 1_000
SYNC_SKUS = 100_000
SEED_BATCH = 5_000


def _race(work: Callable[[int, int], None]) -> float:
    """Run ``work(worker, i)`` PER_WORKER times in each of WORKERS threads
    released together; the wall time in seconds."""
    from django.db import connections

    gate = threading.Barrier(WORKERS + 1)

    def worker(index: int) -> None:
        try:
            gate.wait()
            for i in range(PER_WORKER):
                work(index, i)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(WORKERS)]
    for thread in threads:
        thread.start()
    gate.wait()
    start = time.perf_counter()
    for thread in threads:
        thread.join()
    return time.perf_counter() - start


def _levels(count: int, on_hand: int) -> list[int]:
    from inventory.models import Location, StockLevel

    location, _ = Location.objects.get_or_create(code="BENCH", defaults={"priority": 1})
    StockLevel.objects.bulk_create(
        StockLevel(
            sku=f"BENCH-{n:05d}",
            location=location,
            on_hand=on_hand,
            low_threshold=0,
            state="in_stock",
        )
        for n in range(count)
    )
    return list(
        StockLevel.objects.filter(location=location)
        .order_by("sku")
        .values_list("pk", flat=True)
    )


def _reservations(label: str, skus: int) -> bool:
    from django.db import transaction
    from django.db.models import F

    from inventory import services
    from inventory.models import Reservation, StockLevel

    total = WORKERS * PER_WORKER
    pks = _levels(skus, on_hand=total)  # enough for every attempt
    names = [f"BENCH-{n:05d}" for n in range(skus)]
    errors: list[str] = []

    def reserve(worker: int, i: int) -> None:
        sku = names[random.randrange(skus)]
        try:
            services.reservation_create(
                order_id=f"bench-{worker}-{i}",
                lines=[services.LineRequest(sku, 1)],
            )
        except Exception as exc:  # counted and reported, never hidden
            errors.append(repr(exc))

    def floor(worker: int, i: int) -> None:
        with transaction.atomic():
            StockLevel.objects.filter(pk=pks[random.randrange(skus)]).update(
                reserved=F("reserved") + 1
            )

    floor_time = _race(floor)
    StockLevel.objects.filter(pk__in=pks).update(reserved=0)
    seconds = _race(reserve)
    made = Reservation.objects.filter(order_id__startswith="bench-").count()
    oversold = StockLevel.objects.filter(pk__in=pks, state="oversold").count()
    reserved = sum(
        StockLevel.objects.filter(pk__in=pks).values_list("reserved", flat=True)
    )
    rate, floor_rate = made / seconds, total / floor_time
    report(
        f"reservations, {label}",
        f"{rate:7.0f} reservations/s ({WORKERS} workers)",
        f"bare row update {floor_rate:.0f}/s",
        rate / floor_rate,
        ">= 300/s, 0 oversold" if skus == 1 else "n/a",
    )
    note(
        f"{made} reservations of {total} attempts, reserved units {reserved}, "
        f"oversold levels {oversold}, errors {len(errors)}"
        + (f": {errors[0]}" if errors else "")
    )
    Reservation.objects.filter(order_id__startswith="bench-").delete()
    StockLevel.objects.filter(pk__in=pks).delete()
    ok = not errors and made == total == reserved and oversold == 0
    return ok and (skus != 1 or rate >= 300)


def _seed_erp(account: object) -> None:
    from django.utils import timezone

    from inventory.models import SandboxErpLevel

    when = timezone.now() - timedelta(hours=1)
    for start in range(0, SYNC_SKUS, SEED_BATCH):
        SandboxErpLevel.objects.bulk_create(
            SandboxErpLevel(
                account=account,
                sku=f"SYNC-{n:06d}",
                location_code="BENCH",
                on_hand=n % 50,
                modified_at=when,
            )
            for n in range(start, start + SEED_BATCH)
        )
    _index_erp()
    _analyze(SandboxErpLevel._meta.db_table)


def _index_erp() -> None:
    """The index the fake ERP's page query needs (``WHERE account_id = ..
    ORDER BY id OFFSET .. LIMIT ..``): without it each page sorts the
    account's rows or walks the primary key past other accounts'. Bench
    only: the sandbox model holds a few rows outside it, and this database
    is thrown away."""
    from django.db import connection, models

    from inventory.models import SandboxErpLevel

    index = models.Index(fields=["account", "id"], name="bench_erplevel_account_pk")
    with connection.schema_editor() as editor:
        editor.add_index(SandboxErpLevel, index)


def _analyze(table: str) -> None:
    """Statistics for the fake ERP's table, as any table a few seconds old
    has once autovacuum got to it. Without them (autovacuum busy elsewhere)
    PostgreSQL guesses the account's rows are few and sorts all 100,000 for
    every page (50-85 ms a page instead of 1-30): the figure would measure
    autovacuum's timing, not the sync. Our own tables keep no such help."""
    from django.db import connection

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {connection.ops.quote_name(table)}")


@contextmanager
def _timed_reads(seconds: list[float]) -> Iterator[None]:
    """Append the time of each sandbox ERP page read (through the client)."""
    from inventory.providers.sandbox import SandboxInventoryAdapter

    original = SandboxInventoryAdapter.levels

    def levels(self, query):
        start = time.perf_counter()
        try:
            return original(self, query)
        finally:
            seconds.append(time.perf_counter() - start)

    SandboxInventoryAdapter.levels = levels
    try:
        yield
    finally:
        SandboxInventoryAdapter.levels = original


def _pages_note(reads: list[float], marks: list[float]) -> str:
    """Where a sync's time went: the ERP's reads and the pages end to end."""
    pages = [b - a for a, b in itertools.pairwise(marks)]
    if not reads or not pages:
        return "no pages timed"
    slowest = max(range(len(pages)), key=pages.__getitem__)
    return (
        f"ERP reads {sum(reads):.2f} s (median {statistics.median(reads) * 1000:.0f}"
        f" ms, slowest {max(reads) * 1000:.0f} ms); pages end to end median "
        f"{statistics.median(pages) * 1000:.0f} ms, slowest "
        f"{pages[slowest] * 1000:.0f} ms (page {slowest + 1}); applying and "
        f"saving {sum(pages) - sum(reads):.2f} s"
    )


def _plain_insert() -> float:
    from django.utils import timezone

    from inventory.models import Location, SandboxErpLevel, StockLevel

    location, _ = Location.objects.get_or_create(code="BENCH", defaults={"priority": 1})
    start = time.perf_counter()
    rows = SandboxErpLevel.objects.values_list("sku", "on_hand", "modified_at")
    now = timezone.now()
    StockLevel.objects.bulk_create(
        (
            StockLevel(
                sku=sku,
                location=location,
                on_hand=on_hand,
                erp_modified_at=modified,
                synced_at=now,
            )
            for sku, on_hand, modified in rows.iterator(chunk_size=SEED_BATCH)
        ),
        batch_size=1000,
    )
    seconds = time.perf_counter() - start
    StockLevel.objects.all().delete()
    return seconds


def _sync() -> bool:
    from django.conf import settings

    from bench.common import make_account
    from inventory import services
    from inventory.models import StockLevel

    account = make_account("bench-erp")
    account.kind = "inventory"
    account.save(update_fields=["kind"])
    _seed_erp(account)
    settings.INVENTORY_SYNC_PAGE_SIZE = 1000
    reads: list[float] = []
    start = time.perf_counter()
    marks = [start]
    with _timed_reads(reads):
        run = services.inventory_sync(
            account=account,
            full=True,
            progress=lambda _run: marks.append(time.perf_counter()),
        )
    seconds = time.perf_counter() - start
    # The process's peak resident size (Linux: kilobytes), taken before the
    # baseline runs: bulk_create holds all its rows at once.
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    stored = StockLevel.objects.count()
    StockLevel.objects.all().delete()
    # Two baselines, averaged: a shared box's load drifts.
    baseline = (_plain_insert() + _plain_insert()) / 2
    report(
        "sync 100,000 SKUs",
        f"{seconds:6.2f} s, peak RSS {peak_mb:.0f} MB",
        f"plain bulk insert {baseline:.2f} s",
        seconds / baseline,
        "<= 1.5, < 500 MB",
    )
    note(
        f"{run.pages} pages of {settings.INVENTORY_SYNC_PAGE_SIZE} through the "
        f"client, {run.items_seen} seen, {stored} stored, status {run.status}"
    )
    note(_pages_note(reads, marks))
    ok = run.status == "succeeded" and stored == SYNC_SKUS
    return ok and seconds / baseline <= 1.5 and peak_mb < 500


def run() -> bool:
    from django.db import connection

    if connection.vendor != "postgresql":
        note("inventory reservations: skipped (needs PostgreSQL: DATABASE_URL)")
        return _sync()
    hot = _reservations("one hot SKU", 1)
    many = _reservations(f"{MANY_SKUS:,} SKUs", MANY_SKUS)
    return all([hot, many, _sync()])
