"""7. Rate shopping (shipping.services.rates_shop) over five local carriers
that each answer after 300 ms, against the slowest of the five asked alone,
interleaved in the same run; then a cached repeat of the same request."""

from bench.common import mean, note, pct, report

CARRIERS = 5
LATENCY = 0.3
ROUNDS = 10
REPEATS = 200
TARGET = 1.2
CACHED_TARGET_MS = 5.0


def _register() -> None:
    from django.conf import settings

    from bench.shipping_carrier import PATH

    adapters = dict(settings.SWITCHYARD_ADAPTERS)
    adapters["shipping"] = {**adapters.get("shipping", {}), "bench_carrier": PATH}
    settings.SWITCHYARD_ADAPTERS = adapters


def _accounts(servers: list) -> list:
    from integrations.models import ProviderAccount

    ProviderAccount.objects.filter(kind="shipping").update(enabled=False)
    accounts = []
    for n, server in enumerate(servers):
        account = ProviderAccount(
            kind="shipping",
            provider="bench_carrier",
            slug=f"bench-carrier-{n}",
            display_name=f"Bench carrier {n}",
            priority=n,
            settings={"base_url": server.url},
        )
        account.set_credentials({})
        account.save()
        accounts.append(account)
    return accounts


def _request(n: int) -> object:
    from shipping import codec
    from shipping.api_examples import RATE_REQUEST

    # A different weight per round: a fresh fingerprint, so nothing is cached.
    parcel = {**RATE_REQUEST["parcels"][0], "weight": f"{1 + n / 100:.2f}"}
    return codec.request_from_json({**RATE_REQUEST, "parcels": [parcel]})


def _measure(accounts: list) -> tuple[list[float], list[float], list[float]]:
    import time

    from integrations import registry
    from shipping.services import rates_shop

    def timed(fn: object) -> float:
        start = time.perf_counter()
        fn()  # type: ignore[operator]
        return time.perf_counter() - start

    adapters = [registry.get_adapter(account) for account in accounts]
    rates_shop(request=_request(999))  # warm-up: connections, clients
    shopped, slowest = [], []
    for n in range(ROUNDS):
        request = _request(n)
        slowest.append(max(timed(lambda a=a, r=request: a.rates(r)) for a in adapters))
        shopped.append(timed(lambda r=request: _shop(rates_shop, r)))
    last = _request(ROUNDS - 1)
    cached = [timed(lambda: rates_shop(request=last)) for _ in range(REPEATS)]
    return shopped, slowest, cached


def _shop(rates_shop: object, request: object) -> None:
    result = rates_shop(request=request)  # type: ignore[operator]
    assert len(result.quotes) == 2 * CARRIERS and not result.failures, result


def run() -> bool:
    from contextlib import ExitStack

    from integrations.testing.faultserver import fault_server, respond

    _register()
    body = {
        "rates": [
            {"service": "ground", "amount": 700, "currency": "USD", "days": 4},
            {"service": "express", "amount": 1900, "currency": "USD", "days": 1},
        ]
    }
    with ExitStack() as stack:
        servers = [stack.enter_context(fault_server()) for _ in range(CARRIERS)]
        for server in servers:
            server.route("POST", "/rates", respond(200, json=body, latency=LATENCY))
        shopped, slowest, cached = _measure(_accounts(servers))
    ratio = mean(shopped) / mean(slowest)
    report(
        "rate shopping, 5 carriers",
        f"mean {mean(shopped) * 1e3:.1f} ms p50 {pct(shopped, 50) * 1e3:.1f} ms",
        f"slowest carrier alone {mean(slowest) * 1e3:.1f} ms",
        ratio,
        f"<= {TARGET}",
    )
    cached_ms = mean(cached) * 1e3
    report(
        "rate shopping, cached repeat",
        f"mean {cached_ms:.2f} ms p99 {pct(cached, 99) * 1e3:.2f} ms",
        f"uncached {mean(shopped) * 1e3:.1f} ms",
        mean(cached) / mean(shopped),
        f"< {CACHED_TARGET_MS:.0f} ms",
    )
    note(
        f"{ROUNDS} interleaved rounds, {REPEATS} cached repeats; each carrier "
        f"answers in {LATENCY * 1e3:.0f} ms through the shared client"
    )
    return ratio <= TARGET and cached_ms < CACHED_TARGET_MS
