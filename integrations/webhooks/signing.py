"""HMAC helpers for providers' webhook signature schemes: digests, a
constant-time comparison against every candidate, and the timestamp window.

Nothing here logs or raises with a secret, an expected signature or a body.
"""

import base64
import hashlib
import hmac
from collections.abc import Iterable

from integrations.webhooks.verification import WebhookVerificationError, webhook_now


def hmac_digest(
    key: bytes | str, message: bytes, *, algorithm: str = "sha256"
) -> bytes:
    """The raw HMAC of ``message``; a str key is UTF-8."""
    raw_key = key.encode("utf-8") if isinstance(key, str) else key
    return hmac.new(raw_key, message, getattr(hashlib, algorithm)).digest()


def hmac_base64(key: bytes | str, message: bytes, *, algorithm: str = "sha256") -> str:
    """The HMAC of ``message`` in standard base64 (Square, Standard Webhooks)."""
    return base64.b64encode(hmac_digest(key, message, algorithm=algorithm)).decode()


def hmac_hex(key: bytes | str, message: bytes, *, algorithm: str = "sha256") -> str:
    """The HMAC of ``message`` in lower-case hex (Stripe, Mailgun)."""
    return hmac_digest(key, message, algorithm=algorithm).hex()


def signed_text(text: str, *, param: str) -> bytes:
    """``text`` in UTF-8, as every provider signs text. One holding a lone
    surrogate (JSON's escapes can carry one) has no UTF-8 form, so no
    provider signed it: FORGED, as any signature that does not match."""
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        raise _forged(param) from None


def signature_matches(expected: str, candidates: Iterable[str]) -> bool:
    """True if any candidate equals ``expected``. Every candidate is compared
    (no early exit), each in constant time; one holding a lone surrogate
    matches nothing."""
    wanted = expected.encode("utf-8")
    matched = False
    for candidate in candidates:
        given = candidate.encode("utf-8", "surrogatepass")
        matched |= hmac.compare_digest(wanted, given)
    return matched


def require_match(expected: str, candidates: Iterable[str], *, param: str) -> None:
    """``signature_matches`` or a FORGED error naming the header."""
    if not signature_matches(expected, candidates):
        raise _forged(param)


def _forged(param: str) -> WebhookVerificationError:
    return WebhookVerificationError(
        "No webhook signature matches the request.",
        code=WebhookVerificationError.FORGED,
        param=param,
    )


def check_tolerance(
    sent_at: float, *, tolerance: float, param: str, now: float | None = None
) -> None:
    """Refuse a signed time more than ``tolerance`` seconds from now (by the
    shared clock, ``webhook_now``), either way: an old one is a replay, a
    future one a forgery trying to outlive the window."""
    current = webhook_now() if now is None else now
    if abs(current - sent_at) > tolerance:
        raise WebhookVerificationError(
            f"The signed webhook time is more than {int(tolerance)} seconds from now.",
            code=WebhookVerificationError.STALE,
            param=param,
        )


def check_retry_window(
    sent_at: float,
    *,
    retry_period: float,
    tolerance: float,
    param: str,
    now: float | None = None,
) -> None:
    """Refuse a signed time older than the provider's ``retry_period`` (it
    redelivers with the first time) or more than ``tolerance`` seconds ahead."""
    current = webhook_now() if now is None else now
    if current - sent_at > retry_period or sent_at - current > tolerance:
        raise WebhookVerificationError(
            "The signed webhook time is outside the provider's retry period.",
            code=WebhookVerificationError.STALE,
            param=param,
        )
