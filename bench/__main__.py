"""``make bench``: ``python -m bench [NAME ...]``, names from ``BENCHMARKS``
(client breaker failover fanout webhooks payments shipping inventory
storefront_hooks email); all by default."""

import importlib
import sys

from bench.common import (
    clear_bench_cache,
    environment_line,
    setup_django,
    throwaway_database,
)

BENCHMARKS = {
    "client": "bench.bench_client",
    "breaker": "bench.bench_breaker",
    "failover": "bench.bench_failover",
    "fanout": "bench.bench_fanout",
    "webhooks": "bench.bench_webhooks",
    "payments": "bench.bench_payments",
    "shipping": "bench.bench_shipping",
    "inventory": "bench.bench_inventory",
    "storefront_hooks": "bench.bench_storefront_hooks",
    "email": "bench.bench_email",
}


def main(argv: list[str]) -> int:
    names = argv or list(BENCHMARKS)
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        sys.stderr.write(
            f"unknown benchmark(s) {', '.join(unknown)}; "
            f"choose from {', '.join(BENCHMARKS)}\n"
        )
        return 2
    setup_django()
    sys.stdout.write(environment_line() + "\n")
    results = {}
    with throwaway_database():
        try:
            for name in names:
                module = importlib.import_module(BENCHMARKS[name])
                results[name] = module.run()
        finally:
            clear_bench_cache()
    missed = [n for n, ok in results.items() if not ok]
    sys.stdout.write(
        "targets met: all\n" if not missed else f"targets missed: {', '.join(missed)}\n"
    )
    # Missing a speed target is a finding, not a failure; a lost or doubled
    # webhook is (bench_webhooks exits non-zero itself).
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
