"""1. ProviderClient.request vs a raw requests.Session GET, same local server."""

import requests

from bench.common import make_account, mean, note, pct, report, time_calls

CALLS = 2000
BLOCK = 100
WARMUP = 200
LATENCY = 0.005


def run() -> bool:
    from integrations.client import client_for
    from integrations.testing.faultserver import fault_server, respond

    account = make_account(
        "bench-client",
        # High enough never to wait, so the limiter's path still runs.
        rate_limit_per_second=1_000_000,
        rate_limit_burst=1_000_000,
    )
    # The baseline is a plain, default requests.Session (trust_env on: it
    # reads proxy settings from the environment on every request, as any
    # requests user's code does). The client reads them once per origin.
    with fault_server() as server, requests.Session() as raw:
        server.route("GET", "/x", respond(200, json={"ok": True}, latency=LATENCY))
        url = server.url_for("/x")

        def via_raw() -> None:
            raw.get(url, timeout=(5, 30)).raise_for_status()

        def via_client() -> None:
            client_for(account).request("GET", url, operation="bench", idempotent=True)

        time_calls(via_raw, WARMUP)
        time_calls(via_client, WARMUP)
        raw_times: list[float] = []
        client_times: list[float] = []
        # Interleaved blocks: drift (CPU frequency, noisy neighbours) hits both.
        for _ in range(CALLS // BLOCK):
            raw_times += time_calls(via_raw, BLOCK)
            client_times += time_calls(via_client, BLOCK)
    raw_mean, client_mean = mean(raw_times), mean(client_times)
    overhead = client_mean - raw_mean
    ratio = client_mean / raw_mean
    report(
        "client overhead",
        f"{overhead * 1e6:7.0f} us/call (client {client_mean * 1e3:.2f} ms)",
        f"raw {raw_mean * 1e3:.2f} ms",
        ratio,
        "<= 1.2, < 1000 us",
    )
    note(
        f"p50 client {pct(client_times, 50) * 1e3:.2f} ms vs raw "
        f"{pct(raw_times, 50) * 1e3:.2f} ms; {CALLS} calls each, blocks of {BLOCK}"
    )
    return ratio <= 1.2 and overhead < 0.001
