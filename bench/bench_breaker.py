"""2. Fail-fast time with the breaker open on a blackholed provider, against
the blackholed call's own connect timeout (breaker forced closed)."""

import time

from bench.common import make_account, note, pct, report, time_calls

CALLS = 2000
BASELINE_CALLS = 5
CONNECT_TIMEOUT = 0.2


def run() -> bool:
    from integrations.breaker import breaker_for, breaker_mode_set
    from integrations.client import client_for
    from integrations.errors import NotProcessed
    from integrations.testing.faultserver import BlackholePort

    with BlackholePort() as hole:
        account = make_account(
            "bench-blackhole",
            base_url=hole.url,
            connect_timeout=CONNECT_TIMEOUT,
            max_attempts=1,  # one connect timeout per call, no back-off
            breaker_open_seconds=3600,  # stays open for the whole run
        )
        url = hole.url + "/x"

        def call(expected_code: str) -> None:
            try:
                client_for(account).request(
                    "GET", url, operation="bench", idempotent=True
                )
            except NotProcessed as exc:
                if exc.code != expected_code:
                    raise
            else:
                raise AssertionError("a blackholed call succeeded")

        breaker_mode_set(account=account, mode="forced_closed", actor="bench")
        baseline = time_calls(lambda: call("connect_timeout"), BASELINE_CALLS)
        breaker_mode_set(account=account, mode="auto", actor="bench")
        trips = 0
        while not breaker_for(account).is_open():
            call("connect_timeout")
            trips += 1
            if trips > 100:
                raise AssertionError("the breaker never opened")
        time_calls(lambda: call("breaker_open"), 100)  # warm-up
        start = time.perf_counter()
        fast = time_calls(lambda: call("breaker_open"), CALLS)
        elapsed = time.perf_counter() - start
    p50, p99 = pct(fast, 50), pct(fast, 99)
    base = pct(baseline, 50)
    report(
        "breaker fail-fast",
        f"p50 {p50 * 1e3:.2f} ms p99 {p99 * 1e3:.2f} ms",
        f"connect timeout {base * 1e3:.0f} ms",
        p99 / base,
        "p99 < 2 ms",
    )
    note(
        f"{CALLS} calls in {elapsed:.2f}s (each still logs a ProviderCall row); "
        f"opened after {trips} timed-out calls"
    )
    return p99 < 0.002
