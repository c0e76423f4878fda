"""The response cache: fingerprints, hits, misses, expiry, and a cache that
is down."""

import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from integrations.response_cache import fingerprint, get_or_compute
from integrations.testing.faultserver import RefusingPort

pytestmark = pytest.mark.django_db


@dataclass(frozen=True)
class Money:
    amount: int
    currency: str


@dataclass(frozen=True)
class Quote:
    service: str
    price: Money
    days: int | None = None


@dataclass(frozen=True)
class Quotes:
    carrier: str
    quotes: tuple[Quote, ...]
    notes: list[str]
    extra: dict[str, Money]


QUOTES = Quotes(
    carrier="dhl",
    quotes=(
        Quote("express", Money(1250, "EUR"), 1),
        Quote("economy", Money(690, "EUR")),
    ),
    notes=["fuel surcharge included"],
    extra={"insurance": Money(150, "EUR")},
)


class Compute:
    def __init__(self, value) -> None:
        self.value = value
        self.calls = 0

    def __call__(self):
        self.calls += 1
        return self.value


REQUEST = {"from": "10115", "to": "80331", "parcels": [{"grams": 1200}]}


def test_fingerprint_is_stable_and_ignores_key_order():
    a = fingerprint(account=1, operation="quote", request=REQUEST)
    b = fingerprint(
        request={"parcels": [{"grams": 1200}], "to": "80331", "from": "10115"},
        operation="quote",
        account=1,
    )
    assert a == b
    assert len(a) == 64
    assert int(a, 16) >= 0


def test_fingerprint_differs_by_account_operation_and_request():
    base = fingerprint(account=1, operation="quote", request=REQUEST)
    assert fingerprint(account=2, operation="quote", request=REQUEST) != base
    assert fingerprint(account=1, operation="rates", request=REQUEST) != base
    changed = {**REQUEST, "to": "80332"}
    assert fingerprint(account=1, operation="quote", request=changed) != base


def test_fingerprint_takes_dataclasses_dates_and_decimals():
    when = datetime(2026, 5, 1, 12, tzinfo=UTC)
    a = fingerprint(price=Money(100, "EUR"), at=when, rate=Decimal("1.10"))
    b = fingerprint(
        price={"currency": "EUR", "amount": 100}, at=when.isoformat(), rate="1.10"
    )
    assert a == b


def test_fingerprint_refuses_what_has_no_canonical_form():
    with pytest.raises(TypeError, match="object"):
        fingerprint(account=object())


def test_a_miss_computes_and_a_hit_does_not():
    compute = Compute({"amount": 1250, "currency": "EUR"})
    key = fingerprint(account=1, operation="quote", request=REQUEST)
    first = get_or_compute("rates", key, ttl=60, compute=compute)
    second = get_or_compute("rates", key, ttl=60, compute=compute)
    assert first == second == {"amount": 1250, "currency": "EUR"}
    assert compute.calls == 1


def test_a_dataclass_comes_back_as_itself():
    compute = Compute(QUOTES)
    key = fingerprint(account=1, operation="quote", request=REQUEST)
    get_or_compute("rates", key, ttl=60, compute=compute, as_type=Quotes)
    cached = get_or_compute("rates", key, ttl=60, compute=compute, as_type=Quotes)
    assert compute.calls == 1
    assert cached == QUOTES
    assert isinstance(cached.quotes, tuple)
    assert isinstance(cached.quotes[0].price, Money)


def test_a_different_fingerprint_or_namespace_is_a_miss():
    compute = Compute([1, 2])
    key = fingerprint(account=1, operation="quote", request=REQUEST)
    other = fingerprint(account=2, operation="quote", request=REQUEST)
    get_or_compute("rates", key, ttl=60, compute=compute)
    get_or_compute("rates", other, ttl=60, compute=compute)
    get_or_compute("labels", key, ttl=60, compute=compute)
    assert compute.calls == 3


def test_an_entry_expires_after_its_ttl():
    compute = Compute("quoted")
    key = fingerprint(request=REQUEST)
    get_or_compute("rates", key, ttl=1, compute=compute)
    get_or_compute("rates", key, ttl=1, compute=compute)
    assert compute.calls == 1
    time.sleep(1.1)
    get_or_compute("rates", key, ttl=1, compute=compute)
    assert compute.calls == 2


def test_errors_are_raised_and_not_cached():
    key = fingerprint(request=REQUEST)

    def failing():
        raise RuntimeError("carrier down")

    with pytest.raises(RuntimeError):
        get_or_compute("rates", key, ttl=60, compute=failing)
    compute = Compute("quoted")
    assert get_or_compute("rates", key, ttl=60, compute=compute) == "quoted"
    assert compute.calls == 1


def test_a_value_that_is_not_json_data_is_refused():
    key = fingerprint(request=REQUEST)
    with pytest.raises(TypeError, match="datetime"):
        get_or_compute("rates", key, ttl=60, compute=lambda: datetime.now(tz=UTC))


def test_ttl_must_be_whole_seconds():
    with pytest.raises(ValueError, match="ttl"):
        get_or_compute("rates", "k", ttl=0, compute=lambda: 1)
    with pytest.raises(ValueError, match="ttl"):
        get_or_compute("rates", "k", ttl=0.5, compute=lambda: 1)


def test_an_entry_of_an_older_shape_is_computed_again():
    key = fingerprint(request=REQUEST)
    get_or_compute("rates", key, ttl=60, compute=lambda: {"price": 100})
    compute = Compute(Money(100, "EUR"))
    value = get_or_compute("rates", key, ttl=60, compute=compute, as_type=Money)
    assert value == Money(100, "EUR")
    assert compute.calls == 1


@pytest.fixture
def cache_down(settings):
    """The default cache pointed at a local port that refuses connections."""
    with RefusingPort() as port:
        settings.CACHES = {
            "default": {
                "BACKEND": "django.core.cache.backends.redis.RedisCache",
                "LOCATION": f"redis://127.0.0.1:{port.port}/0",
            }
        }
        yield


@pytest.mark.usefixtures("cache_down")
def test_a_cache_outage_costs_a_log_line_not_the_call(caplog):
    compute = Compute(QUOTES)
    key = fingerprint(request=REQUEST)
    with caplog.at_level(logging.WARNING):
        first = get_or_compute("rates", key, ttl=60, compute=compute, as_type=Quotes)
        second = get_or_compute("rates", key, ttl=60, compute=compute, as_type=Quotes)
    assert first == second == QUOTES
    assert compute.calls == 2
    # Redis: the process's one outage record and warning (redis_line.outage).
    warned = [r.name for r in caplog.records if r.levelno >= logging.WARNING]
    assert warned == ["integrations.redis_line"]
