"""A rate's extra detail is stored as jsonb, which refuses a NUL or a lone
surrogate anywhere in it. The check read the printed form (``f"{k}{v}"``),
where a NUL inside a list or dict prints as the four characters ``\\x00``:
missed, so storing the quotes failed. A value nested at any depth counts."""

from dataclasses import replace

import pytest

from shipping.models import RateQuote
from shipping.providers.sandbox import SandboxShippingAdapter
from tests.shipping.helpers import carrier, shop

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("threads_db"),
]


def _first_rate_extra(monkeypatch, extra: dict) -> None:
    quote = SandboxShippingAdapter._quote

    def with_extra(self, request):
        rates = quote(self, request)
        if self.account.slug != "post":
            return rates
        return [replace(rates[0], extra=extra), *rates[1:]]

    monkeypatch.setattr(SandboxShippingAdapter, "_quote", with_extra)


@pytest.mark.parametrize(
    "extra",
    [
        {"surcharges": ["fuel\x00"]},
        {"surcharges": [{"name": "fuel", "note": "a\x00b"}]},
        {"zones": {"from": "\ud800"}},
        {"nested": [[{"deep": ("x", "\x00")}]]},
        {"keys": {"na\x00me": "fuel"}},
    ],
    ids=["list", "dict-in-list", "surrogate-in-dict", "deep", "nested-key"],
)
def test_a_nul_nested_in_extra_drops_that_rate_alone(monkeypatch, extra):
    carrier("post")
    carrier("other", priority=5)
    _first_rate_extra(monkeypatch, extra)

    result = shop()

    assert not result.failures
    per_account = {"post": 0, "other": 0}
    for quote in result.quotes:
        per_account[quote.account] += 1
    assert per_account["post"] == per_account["other"] - 1
    assert RateQuote.objects.count() == len(result.quotes)


def test_nested_extra_that_can_be_stored_is_kept(monkeypatch):
    carrier("post")
    extra = {"surcharges": [{"name": "fuel", "amount": "1.20"}], "zone": "5"}
    _first_rate_extra(monkeypatch, extra)

    result = shop()

    assert not result.failures
    assert RateQuote.objects.filter(extra=extra).count() == 1
