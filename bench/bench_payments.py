"""5. Payments: created per second through the API (sandbox gateway) against a
bare authenticated DRF view, both in-process through Django's test client;
and payment_create with the primary gateway down against it being up."""

import cProfile
import json
import pstats
import time
import uuid
import warnings
from collections.abc import Callable
from typing import Any

from bench.common import bench_kind, make_account, mean, note, pct, report, time_calls

API_RUNS = 300
# Issue 17's "Done when": payments via the API against the bare view.
TARGET = 0.25
CREATE_RUNS = 200
BLOCK = 50
URL = "/api/v1/payments/"
BARE_URL = "/bench/bare-api/"
FLOOR_URL = "/bench/two-commits/"
ROWS_URL = "/bench/payment-rows/"
# Written by the gateway (the in-process sandbox) or the call log, not by the
# payment's own path: counted apart.
_GATEWAY_TABLES = ("payments_sandbox", "integrations_providercall")


def _accounts_off() -> None:
    """Only this benchmark's accounts take part (earlier ones leave theirs)."""
    from integrations.models import ProviderAccount

    ProviderAccount.objects.filter(kind="payments").update(enabled=False)


def _body(n: int) -> str:
    return json.dumps(
        {
            "order_id": f"bench-order-{n}",
            "amount": 1050,
            "currency": "EUR",
            "source_token": "tok_success",
            "capture": True,
            # One customer per payment: the velocity rules run but never fire.
            "customer_reference": f"bench-cust-{n}",
            "customer_email": f"bench-{n}@example.com",
        }
    )


def _api_throughput() -> bool:
    from django.conf import settings
    from django.test import Client, override_settings

    from bench.payment_floor import PaymentRowsView
    from integrations.api.services import api_key_create

    _accounts_off()
    PaymentRowsView.account_pk = make_account("bench-pay-api", priority=1).pk
    _key, raw_key = api_key_create(
        name="bench-payments", scopes=["payments:read", "payments:write"]
    )
    client = Client(HTTP_AUTHORIZATION=f"Bearer {raw_key}")
    failures: list[str] = []
    calls = _api_calls(client, failures)
    # whitenoise warns that collectstatic never ran.
    warnings.filterwarnings("ignore", message="No directory at", category=UserWarning)
    rates = {
        **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
        "api_key": "1000000/s",  # throttling runs, never refuses
    }
    rest = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}
    with override_settings(REST_FRAMEWORK=rest):
        for call in calls.values():
            time_calls(call, 20)  # warm-up
        times, cpu = _timed_blocks(calls)
        commits = _commits_per_call(calls["pay"], 20)
        trips = _round_trips_per_call(calls["pay"], 20)
        work = {name: _python_calls(call, 20) for name, call in calls.items()}
    ok = _report_api(times["pay"], times["bare"], failures, commits)
    _report_floor(times["floor"], times["bare"])
    _report_rows(times["rows"], times["pay"], times["bare"])
    per_call = {name: cpu[name] / len(times[name]) * 1e3 for name in calls}
    note(
        f"CPU of this process per call: payment {per_call['pay']:.1f} ms, rows "
        f"floor {per_call['rows']:.1f} ms, floor {per_call['floor']:.1f} ms, "
        f"bare {per_call['bare']:.1f} ms; the rest of each wall time is "
        "waiting (PostgreSQL, Redis, the scheduler)"
    )
    note(
        f"PostgreSQL round trips per payment: {trips:.1f}, with the in-process "
        "sandbox gateway's INSERT and the call log's batched write (three, now "
        "and then: its share grows with the wall time)"
    )
    note(
        f"Python function calls per call (load-independent): payment "
        f"{work['pay']:.0f}, rows floor {work['rows']:.0f}, floor "
        f"{work['floor']:.0f}, bare {work['bare']:.0f}; "
        f"bare/payment {work['bare'] / work['pay']:.3f}"
    )
    return ok


def _python_calls(call: Callable[[], None], runs: int) -> float:
    """Python function calls per ``call()``, counted apart from the timed
    runs: the work a request does, whatever the machine's load."""
    profile = cProfile.Profile()
    profile.enable()
    try:
        for _ in range(runs):
            call()
    finally:
        profile.disable()
    return pstats.Stats(profile).total_calls / runs


def _api_calls(client: Any, failures: list[str]) -> dict[str, Callable[[], None]]:
    """One payment, one bare view request, one floor request."""
    counter = iter(range(10**9))

    def pay() -> None:
        n = next(counter)
        response = client.post(
            URL,
            _body(n),
            content_type="application/json",
            HTTP_IDEMPOTENCY_KEY=uuid.uuid4().hex,
        )
        if response.status_code != 201:
            failures.append(f"{response.status_code} {response.content[:200]!r}")

    def bare() -> None:
        response = client.get(BARE_URL)
        if response.status_code != 200:
            failures.append(f"bare {response.status_code} {response.content[:200]!r}")

    def floor() -> None:
        response = client.post(FLOOR_URL)
        if response.status_code != 201:
            failures.append(f"floor {response.status_code}")

    def rows() -> None:
        n = next(counter)
        response = client.post(ROWS_URL, _body(n), content_type="application/json")
        if response.status_code != 201:
            failures.append(f"rows {response.status_code} {response.content[:200]!r}")

    return {"pay": pay, "bare": bare, "floor": floor, "rows": rows}


def _timed_blocks(
    calls: dict[str, Callable[[], None]],
) -> tuple[dict[str, list[float]], dict[str, float]]:
    """Wall time of each call, in interleaved blocks, and each kind's total
    CPU time of this process (what is not CPU here is waiting)."""
    times: dict[str, list[float]] = {name: [] for name in calls}
    cpu = dict.fromkeys(calls, 0.0)
    for _ in range(API_RUNS // BLOCK):
        for name, call in calls.items():
            start = time.process_time()
            times[name] += time_calls(call, BLOCK)
            cpu[name] += time.process_time() - start
    return times, cpu


def _commits_per_call(call: object, runs: int) -> tuple[float, float, float]:
    """(commits, statements, gateway commits) per call: every COMMIT, plus
    every write run in autocommit (its own commit), counted apart from the
    timed runs; the sandbox gateway's and the call log's writes apart."""
    from django.db import connection

    counts = {"commits": 0, "statements": 0, "gateway": 0}
    original = connection._commit

    def commit() -> None:
        counts["commits"] += 1
        original()

    def count(execute, sql, params, many, context):  # type: ignore[no-untyped-def]
        counts["statements"] += 1
        verb = sql.lstrip()[:6].upper()
        if not connection.in_atomic_block and verb in ("INSERT", "UPDATE", "DELETE"):
            gateway = any(table in sql for table in _GATEWAY_TABLES)
            counts["gateway" if gateway else "commits"] += 1
        return execute(sql, params, many, context)

    connection._commit = commit
    try:
        with connection.execute_wrapper(count):
            for _ in range(runs):
                call()  # type: ignore[operator]
    finally:
        connection._commit = original
    return (
        counts["commits"] / runs,
        counts["statements"] / runs,
        counts["gateway"] / runs,
    )


def _round_trips_per_call(call: Callable[[], None], runs: int) -> float:
    """Round trips to PostgreSQL per ``call()`` on this thread's connection,
    counted apart from the timed runs (nothing recorded, so statements take
    their fast paths): a statement sent straight to libpq, a libpq pipeline
    (its BEGIN, reads and COMMIT in one), one through Django's cursor, or a
    transaction command psycopg sends itself."""
    from django.db.backends.utils import CursorWrapper
    from psycopg import BaseConnection

    from integrations import db, db_libpq

    count = [0]
    patched = [
        (db, "_execute_libpq"),
        (db_libpq, "_pipeline"),  # called there, by the pipeline layer
        (CursorWrapper, "_execute"),
        (BaseConnection, "_exec_command"),
    ]
    originals = [getattr(owner, name) for owner, name in patched]

    def counting(original: Callable[..., object]) -> Callable[..., object]:
        def counted(*args: object, **kwargs: object) -> object:
            count[0] += 1
            return original(*args, **kwargs)

        return counted

    for (owner, name), original in zip(patched, originals, strict=True):
        setattr(owner, name, counting(original))
    try:
        for _ in range(runs):
            call()
    finally:
        for (owner, name), original in zip(patched, originals, strict=True):
            setattr(owner, name, original)
    return count[0] / runs


def _report_api(
    pays: list[float],
    bares: list[float],
    failures: list[str],
    commits: tuple[float, float, float],
) -> bool:
    pay_rate = len(pays) / sum(pays)
    bare_rate = len(bares) / sum(bares)
    report(
        "payments via API (in-process)",
        f"{pay_rate:7.1f} payments/s p50 {pct(pays, 50) * 1e3:.1f} ms "
        f"{commits[0]:.0f} commits {commits[1]:.0f} statements/payment",
        f"bare DRF view {bare_rate:.0f} req/s",
        pay_rate / bare_rate,
        f">= {TARGET}",
    )
    note(
        f"{len(pays)} POST {URL} (Idempotency-Key, tok_success, capture) vs "
        f"{len(bares)} GET {BARE_URL}; same API key, auth and throttle classes; "
        f"plus {commits[2]:.0f} commits/payment by the in-process sandbox "
        "gateway and the call log"
    )
    if failures:
        note(f"CHECK FAILED: {len(failures)} requests not 201/200: {failures[0]}")
        return False
    return pay_rate / bare_rate >= TARGET


def _report_vs_bare(name: str, times: list[float], bares: list[float]) -> float:
    """One floor's line against the bare view; its rate."""
    rate = len(times) / sum(times)
    bare_rate = len(bares) / sum(bares)
    report(
        name,
        f"{rate:7.1f} req/s p50 {pct(times, 50) * 1e3:.1f} ms",
        f"bare DRF view {bare_rate:.0f} req/s",
        rate / bare_rate,
        "n/a",
    )
    return rate


def _report_floor(floors: list[float], bares: list[float]) -> None:
    """What two commits alone cost on this machine: the most a payment with
    two commits could reach."""
    _report_vs_bare("floor: view + two commits", floors, bares)
    note(f"{len(floors)} POST {FLOOR_URL}: the bare view, two INSERT/UPDATE commits")


def _report_rows(rows: list[float], pays: list[float], bares: list[float]) -> None:
    """A payment's own rows in the fewest durable statements: the most any
    payment path that writes them could reach here."""
    rows_rate = _report_vs_bare("floor: a payment's rows", rows, bares)
    pay_rate = len(pays) / sum(pays)
    note(
        f"{len(rows)} POST {ROWS_URL}: the payment's body parsed, its six rows "
        "and their updates in three durable statements (before the call, the "
        "sandbox gateway's, after it), nothing else; payments via the API "
        f"reach {pay_rate / rows_rate:.3f} of it"
    )


def _failover_time() -> bool:
    from integrations.breaker import breaker_mode_set
    from integrations.models import ProviderAccount
    from payments import services

    _accounts_off()
    # One refused connection per payment, as in the failover bench: with more
    # attempts the client's back-off between them is what gets measured.
    primary = make_account("bench-pay-primary", priority=1, max_attempts=1)
    secondary = make_account("bench-pay-secondary", priority=2)
    # Every payment meets the refusal: the breaker may not skip the primary.
    breaker_mode_set(account=primary, mode="forced_closed", actor="bench")
    counter = iter(range(10**9))
    wrong: list[str] = []

    def set_outage(down: bool) -> None:
        # A fresh settings dict each time: adapters re-read the account.
        settings = {**primary.settings, "outage": down}
        ProviderAccount.objects.filter(pk=primary.pk).update(settings=settings)
        primary.settings = settings

    def create(expected: int) -> None:
        n = next(counter)
        payment = services.payment_create(
            order_id=f"bench-fo-{n}",
            amount=1050,
            currency="EUR",
            source_token="tok_success",  # noqa: S106 - a sandbox test token
            capture=True,
            idempotency_key=f"bench-fo-{n}-{time.time_ns()}",
            customer_reference=f"bench-fo-cust-{n}",
        )
        if payment.status != "captured" or payment.account_id != expected:
            wrong.append(f"{payment.status} via {payment.account_id}")

    def timed(down: bool) -> list[float]:
        set_outage(down)
        expected = secondary.pk if down else primary.pk
        return time_calls(lambda: create(expected), BLOCK)

    timed(False)
    timed(True)  # warm-up
    up: list[float] = []
    down: list[float] = []
    for _ in range(CREATE_RUNS // BLOCK):
        up += timed(False)
        down += timed(True)

    # Second case: automatic mode, the breaker tripped, the primary skipped.
    breaker_mode_set(account=primary, mode="auto", actor="bench")
    set_outage(True)
    tripped = _tripped_times(primary, lambda: create(secondary.pk), timed)
    ProviderAccount.objects.filter(pk__in=[primary.pk, secondary.pk]).update(
        enabled=False
    )
    return _report_failover(up, down, tripped, wrong)


def _tripped_times(primary: object, create: object, timed: object) -> list[float]:
    """Payments timed once the primary's breaker opened ([] if it never did)."""
    from integrations.breaker import breaker_for

    for _ in range(100):
        if breaker_for(primary).is_open():
            break
        create()  # type: ignore[operator]
    tripped: list[float] = []
    if breaker_for(primary).is_open():
        for _ in range(CREATE_RUNS // BLOCK):
            tripped += timed(True)  # type: ignore[operator]
    return tripped


def _report_failover(
    up: list[float], down: list[float], tripped: list[float], wrong: list[str]
) -> bool:
    base_mean, base_p50 = mean(up), pct(up, 50)
    cases = [("refuses connections, breaker forced closed", down)]
    if tripped:
        cases.append(("down, breaker open (primary skipped)", tripped))
    for label, times in cases:
        report(
            "payment, primary down",
            f"mean {(mean(times) - base_mean) * 1e3:+.2f} ms "
            f"p50 {(pct(times, 50) - base_p50) * 1e3:+.2f} ms",
            f"up {base_mean * 1e3:.2f} ms p50 {base_p50 * 1e3:.2f} ms",
            mean(times) / base_mean,
            "n/a",
        )
        note(
            f"primary {label}; payment_create mean {mean(times) * 1e3:.2f} ms, "
            f"{len(times)} payments vs {len(up)} with the primary up"
        )
    if not tripped:
        note("breaker did not open after 100 refusals: breaker-open case skipped")
    if wrong:
        note(f"CHECK FAILED: {len(wrong)} payments not captured once: {wrong[0]}")
        return False
    return True


def run() -> bool:
    if bench_kind() != "payments":
        note("payments sandbox adapter not usable: payments benchmarks skipped")
        return False
    api_ok = _api_throughput()
    failover_ok = _failover_time()
    return api_ok and failover_ok
