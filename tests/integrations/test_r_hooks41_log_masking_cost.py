"""r-hooks41 (review of hooks41): the log filter now runs the stored
answer's masker on every record; a big record must stay cheap, with or
without many heads of a known secret in it (the old filter took well under
a millisecond for each), and still be masked wherever the secret is."""

import logging
import secrets
import time

import pytest

from integrations import secrets_registry
from integrations.logging import SecretRedactionFilter
from integrations.secret_masking import mask_secrets
from integrations.secrets_registry import MASK

# Generous for a shared, slow machine: the masker took 1-2 s for these
# before (per-character Python loop; a slice of the rest of the text at
# each head of a secret, quadratic).
BOUND_SECONDS = 0.5


@pytest.fixture
def key() -> str:
    secrets_registry.forget()
    key = "sk_live_" + secrets.token_hex(12)
    secrets_registry.remember(key)
    secrets_registry.remember("whsec_" + secrets.token_urlsafe(32))
    yield key
    secrets_registry.forget()


def _filtered(message: str) -> tuple[str, float]:
    record = logging.makeLogRecord({"msg": message, "levelno": logging.INFO})
    started = time.perf_counter()
    SecretRedactionFilter().filter(record)
    return record.getMessage(), time.perf_counter() - started


def test_a_big_record_with_no_secret_stays_cheap(key) -> None:
    _filtered("warm up")
    message = "order 123 shipped; " * 60_000  # ~1 MB
    logged, took = _filtered(message)
    assert logged == message
    assert took < BOUND_SECONDS


def test_a_big_record_full_of_a_secrets_head_stays_cheap_and_masked(key) -> None:
    _filtered("warm up")
    message = "charge sk_live_ refused; " * 40_000 + f"key {key} end"
    logged, took = _filtered(message)
    assert key not in logged and logged.endswith(f"key {MASK} end")
    assert took < BOUND_SECONDS


def test_a_big_record_ending_in_a_secrets_head_is_logged_as_written(key) -> None:
    # hooks42: a log record is not cut off, so a head at its end is no
    # secret (ordinary text may end with a credential's first characters).
    message = "x " * 300_000 + "sk_live_ a " + key[:14]
    logged, took = _filtered(message)
    assert logged == message
    assert took < BOUND_SECONDS


def test_a_big_text_cut_off_in_a_secret_masks_the_cut_cheaply(key) -> None:
    # A text cut off where it ends (a stored answer) still masks the head.
    message = "x " * 300_000 + "sk_live_ a " + key[:14]
    started = time.perf_counter()
    masked = mask_secrets(message, secrets_registry.known_secrets(), cut_end=True)
    assert masked.endswith("sk_live_ a " + MASK)
    assert time.perf_counter() - started < BOUND_SECONDS
