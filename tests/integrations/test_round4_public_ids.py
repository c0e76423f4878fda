"""Public ids after the rewrite: a few calls per id, the same shape, and an
unbiased draw (bytes that would favour some characters are dropped)."""

import cProfile
import pstats
import re
import secrets
from collections import Counter

import pytest
from django.urls import reverse

from integrations.public_ids import ALPHABET, RANDOM_LENGTH, new_public_id
from payments.models import Payment

ID_SHAPE = re.compile(r"pay_[0-9a-z]{24}")
# A byte below 252 (= 7 * 36) is one of 7 that land on each character.
UNBIASED = 252


class FakeRandom:
    """Stands in for ``secrets.token_bytes``: each call returns its length
    filled with the next queued byte value."""

    def __init__(self, *fills: int) -> None:
        self.fills = list(fills)
        self.calls = 0

    def __call__(self, size: int) -> bytes:
        self.calls += 1
        return bytes([self.fills.pop(0)]) * size


def test_an_id_costs_a_handful_of_python_calls():
    # The old base-36 loop made ~77 calls per id (24 divmods and appends).
    profile = cProfile.Profile()
    profile.enable()
    for _ in range(1000):
        new_public_id("pay_")
    profile.disable()
    assert pstats.Stats(profile).total_calls / 1000 <= 12


def test_ids_keep_the_prefix_length_and_alphabet():
    ids = {new_public_id("shp_") for _ in range(2000)}
    assert len(ids) == 2000
    assert all(re.fullmatch(r"shp_[0-9a-z]{24}", value) for value in ids)


@pytest.mark.parametrize("byte", range(UNBIASED))
def test_each_unbiased_byte_maps_to_its_character(monkeypatch, byte):
    monkeypatch.setattr(secrets, "token_bytes", FakeRandom(byte))
    assert new_public_id("pay_") == "pay_" + ALPHABET[byte % 36] * RANDOM_LENGTH


@pytest.mark.parametrize("byte", range(UNBIASED, 256))
def test_a_biased_byte_is_dropped_and_the_id_drawn_again(monkeypatch, byte):
    fake = FakeRandom(byte, ALPHABET.index("k"))
    monkeypatch.setattr(secrets, "token_bytes", fake)
    assert new_public_id("pay_") == "pay_" + "k" * RANDOM_LENGTH
    assert fake.calls == 2


def test_a_short_draw_is_topped_up_not_padded(monkeypatch):
    draws = iter([bytes([255] * 12 + [1] * 20), bytes([2] * 32)])
    monkeypatch.setattr(secrets, "token_bytes", lambda size: next(draws))
    assert new_public_id("re_") == "re_" + "1" * 20 + "2" * 4


def test_characters_are_uniform_overall_and_per_position():
    ids = [new_public_id("pay_")[4:] for _ in range(50_000)]
    overall = Counter("".join(ids))
    assert set(overall) == set(ALPHABET)
    # 35 degrees of freedom: mean 35, sd ~8.4; a plain `byte % 36` over all 256 bytes
    # (chars 0-3 at 8/256 instead of 7/256) scores in the thousands.
    assert chi_square(overall, len(ids) * RANDOM_LENGTH) < 100
    for position in range(RANDOM_LENGTH):
        counts = Counter(value[position] for value in ids)
        assert chi_square(counts, len(ids)) < 120, position


def chi_square(counts: Counter, total: int) -> float:
    expected = total / len(ALPHABET)
    return sum((counts[char] - expected) ** 2 / expected for char in ALPHABET)


@pytest.mark.django_db
def test_ids_new_and_already_stored_are_found_by_admin_search(admin_client):
    # Minted by the base-36 loop this rewrite replaced.
    old_id = "pay_uz66qn772beup1tp5x4614f0"
    stored = Payment.objects.create(
        order_id="o-1", amount=100, currency="EUR", public_id=old_id
    )
    fresh = Payment.objects.create(order_id="o-2", amount=100, currency="EUR")
    assert ID_SHAPE.fullmatch(fresh.public_id)
    changelist = reverse("admin:payments_payment_changelist")
    for payment in (stored, fresh):
        page = admin_client.get(changelist, {"q": payment.public_id}).content.decode()
        assert set(ID_SHAPE.findall(page)) == {payment.public_id}
