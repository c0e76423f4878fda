"""6. run_on_accounts over five local servers that each answer in 300 ms,
against one call to one of them, interleaved in the same run."""

from bench.common import bench_kind, make_account, mean, note, pct, report

SERVERS = 5
LATENCY = 0.3
ROUNDS = 12
DEADLINE = 5.0
TARGET = 1.1


def operation(adapter: object) -> object:
    from integrations.client import client_for

    account = adapter.account  # type: ignore[attr-defined]
    return client_for(account).request(
        "GET",
        account.settings["base_url"] + "/quote",
        operation="bench_quote",
        idempotent=True,
    )


def run() -> bool:
    import time
    from contextlib import ExitStack

    from integrations import registry
    from integrations.fanout import run_on_accounts
    from integrations.models import ProviderAccount
    from integrations.testing.faultserver import fault_server, respond

    kind = bench_kind()
    # Only this benchmark's accounts take part.
    ProviderAccount.objects.filter(kind=kind).update(enabled=False)
    with ExitStack() as stack:
        servers = [stack.enter_context(fault_server()) for _ in range(SERVERS)]
        accounts = []
        for n, server in enumerate(servers):
            server.route("GET", "/quote", respond(200, json={"n": n}, latency=LATENCY))
            accounts.append(make_account(f"bench-quote-{n}", base_url=server.url))

        def fan_out() -> float:
            start = time.perf_counter()
            run = run_on_accounts(
                kind, operation, operation_name="bench", deadline_seconds=DEADLINE
            )
            elapsed = time.perf_counter() - start
            assert len(run.results) == SERVERS, run.failures
            return elapsed

        def one(n: int) -> float:
            adapter = registry.get_adapter(accounts[n % SERVERS])
            start = time.perf_counter()
            operation(adapter)
            return time.perf_counter() - start

        fan_out()
        one(0)  # warm-up: connections, clients
        fanned: list[float] = []
        single: list[float] = []
        for n in range(ROUNDS):
            single.append(one(n))
            fanned.append(fan_out())
    ratio = mean(fanned) / mean(single)
    report(
        "fan-out over 5 servers",
        f"mean {mean(fanned) * 1e3:.1f} ms p50 {pct(fanned, 50) * 1e3:.1f} ms",
        f"one server {mean(single) * 1e3:.1f} ms",
        ratio,
        f"<= {TARGET}",
    )
    note(
        f"{ROUNDS} interleaved rounds; each server answers in "
        f"{LATENCY * 1e3:.0f} ms; {kind} accounts"
    )
    return ratio <= TARGET
