"""3. run_with_failover when the primary refuses connections, against the
same operation with only the secondary enabled."""

from bench.common import bench_kind, make_account, mean, note, pct, report, time_calls

RUNS = 300
BLOCK = 50
LATENCY = 0.005


def operation(adapter: object) -> object:
    from integrations.client import client_for

    account = adapter.account  # type: ignore[attr-defined]
    return client_for(account).request(
        "GET",
        account.settings["base_url"] + "/x",
        operation="bench",
        idempotent=True,
    )


def run() -> bool:
    from integrations.models import ProviderAccount
    from integrations.testing.faultserver import RefusingPort, fault_server, respond

    kind = bench_kind()
    # Only this benchmark's accounts take part.
    ProviderAccount.objects.filter(kind=kind).update(enabled=False)
    with RefusingPort() as refusing, fault_server() as server:
        server.route("GET", "/x", respond(200, json={"ok": True}, latency=LATENCY))
        primary = make_account(
            "bench-primary",
            priority=1,
            base_url=refusing.url,
            # One refused connection per run: a retry would add back-off.
            max_attempts=1,
            breaker_open_seconds=3600,
        )
        secondary = make_account("bench-secondary", priority=2, base_url=server.url)
        timings = _measure(kind, primary, secondary)
    return _report(kind, *timings)


def _measure(
    kind: str, primary: object, secondary: object
) -> tuple[list[float], list[float], list[float]]:
    """Failover times with the primary refusing (breaker forced closed), with
    its breaker open, and the secondary alone, interleaved in blocks."""
    from integrations.breaker import breaker_for, breaker_mode_set
    from integrations.failover import run_with_failover
    from integrations.models import ProviderAccount

    breaker_mode_set(account=primary, mode="forced_closed", actor="bench")

    def failover() -> None:
        result = run_with_failover(kind, operation, operation_name="bench")
        assert result.account.pk == secondary.pk  # type: ignore[attr-defined]

    def timed(enabled: bool) -> list[float]:
        ProviderAccount.objects.filter(pk=primary.pk).update(enabled=enabled)  # type: ignore[attr-defined]
        return time_calls(failover, BLOCK)

    timed(True)
    timed(False)  # warm-up
    with_primary: list[float] = []
    alone: list[float] = []
    for _ in range(RUNS // BLOCK):
        with_primary += timed(True)
        alone += timed(False)
    # Second case: automatic mode, the breaker tripped, the primary skipped.
    timed(True)
    breaker_mode_set(account=primary, mode="auto", actor="bench")
    while not breaker_for(primary).is_open():
        time_calls(failover, 1)
    tripped: list[float] = []
    for _ in range(RUNS // BLOCK):
        tripped += timed(True)
        alone += timed(False)
    return with_primary, tripped, alone


def _report(
    kind: str, with_primary: list[float], tripped: list[float], alone: list[float]
) -> bool:
    base_mean, base_p50 = mean(alone), pct(alone, 50)
    ok = True
    for label, times in (
        ("refused, forced closed", with_primary),
        ("breaker open", tripped),
    ):
        added_mean = mean(times) - base_mean
        added_p50 = pct(times, 50) - base_p50
        report(
            "failover added",
            f"mean {added_mean * 1e3:.2f} ms p50 {added_p50 * 1e3:.2f} ms",
            f"secondary alone {base_mean * 1e3:.2f} ms",
            mean(times) / base_mean,
            "< 5 ms",
        )
        note(f"primary {label}; {len(times)} runs over {kind} accounts")
        ok = ok and added_mean < 0.005
    return ok
