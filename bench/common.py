"""Shared by the benchmarks: a throwaway database, timers and the report line.

Every figure is printed next to a baseline measured in the same run, on the
same machine, so the ratio means something even on a noisy 2-core box.
"""

import os
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
os.environ.setdefault("LOG_LEVEL", "ERROR")


def setup_django() -> None:
    import django

    django.setup()


@contextmanager
def throwaway_database() -> Iterator[None]:
    """Create the bench database (tables from the models), drop it afterwards.

    Its name (``TEST.NAME`` in bench.settings) goes into the environment, so
    processes started later (gunicorn) open the same database.
    """
    from django.db import connection
    from django.test.utils import setup_test_environment, teardown_test_environment

    setup_test_environment()
    # Like the suite: tables straight from the models, nothing to serialize.
    connection.settings_dict["TEST"]["MIGRATE"] = False
    old_name = connection.creation.create_test_db(
        verbosity=0, autoclobber=True, serialize=False
    )
    os.environ["SWITCHYARD_BENCH_DB_NAME"] = connection.settings_dict["NAME"]
    try:
        yield
    finally:
        from integrations import call_log

        call_log.writer.flush()  # rows still pending, while the database exists
        _disconnect_others(connection)
        connection.creation.destroy_test_db(old_name, verbosity=0)
        teardown_test_environment()


def _disconnect_others(connection: Any) -> None:
    """End the bench database's other sessions (the call-log writer's thread
    keeps one open until it has been idle), so the database can be dropped."""
    if connection.vendor != "postgresql":
        return
    name = connection.settings_dict["NAME"]
    connection.close()
    with connection.creation._nodb_cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid() "
            # Not autovacuum (a superuser's): DROP DATABASE cancels it itself.
            "AND backend_type = 'client backend'",
            [name],
        )


def clear_bench_cache() -> None:
    """Drop this run's keys (breaker, limiter, queue) from a shared Redis."""
    from django.conf import settings

    from integrations.ratelimit import redis_client

    client = redis_client("bench")
    if client is None:
        return  # the database cache lives in the throwaway database
    prefix = settings.CACHES["default"].get("KEY_PREFIX", "")
    patterns = [f"{prefix}:*", f"django_q:{settings.Q_CLUSTER['name']}:*"]
    for pattern in patterns:
        keys = list(client.scan_iter(match=pattern, count=1000))
        for start in range(0, len(keys), 500):
            client.delete(*keys[start : start + 500])


def bench_kind() -> str:
    """Payments, unless its sandbox adapter cannot be built yet (an adapter
    still missing methods): then the first kind whose sandbox can."""
    from integrations import registry

    for kind in ("payments", "shipping", "inventory", "email"):
        try:
            cls = registry.get_adapter_class(kind, "sandbox")
        except registry.UnknownProvider:
            continue
        if not getattr(cls, "__abstractmethods__", None):
            return kind
    raise RuntimeError("no kind has a usable sandbox adapter")


def make_account(slug: str, *, priority: int = 10, **settings: Any) -> Any:
    """An enabled sandbox account (``bench_kind()``) with a key and secret."""
    from integrations.models import ProviderAccount

    account = ProviderAccount(
        kind=bench_kind(),
        provider="sandbox",
        slug=slug,
        display_name=slug,
        priority=priority,
        settings=settings,
    )
    account.set_credentials(
        {"api_key": "sbx_bench_key", "webhook_secret": WEBHOOK_SECRET}
    )
    account.save()
    return account


WEBHOOK_SECRET = "whsec_YmVuY2gtd2ViaG9vay1zZWNyZXQ="  # noqa: S105 - a bench value


def time_calls(fn: Callable[[], object], n: int) -> list[float]:
    """Per-call durations in seconds."""
    out = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[index]


def mean(values: list[float]) -> float:
    return statistics.fmean(values)


def report(name: str, figure: str, baseline: str, ratio: float, target: str) -> None:
    sys.stdout.write(
        f"{name:<30} {figure:<36} baseline {baseline:<30} ratio {ratio:6.3f}  "
        f"(target {target})\n"
    )
    sys.stdout.flush()


def note(text: str) -> None:
    sys.stdout.write(f"  {text}\n")
    sys.stdout.flush()


def environment_line() -> str:
    from django.conf import settings
    from django.db import connection

    cache = settings.CACHES["default"]["BACKEND"].rsplit(".", 1)[-1]
    return (
        f"bench: database={connection.vendor} cache={cache} "
        f"cpus={os.cpu_count()} python={sys.version.split()[0]}"
    )
