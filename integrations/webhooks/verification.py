"""Webhook signature verification, and the Standard Webhooks scheme.

Standard Webhooks (https://www.standardwebhooks.com): the sender puts
``webhook-id``, ``webhook-timestamp`` (Unix seconds) and ``webhook-signature``
on the request. The signature is HMAC-SHA256 over ``{id}.{timestamp}.{body}``
keyed with the secret (base64 after the ``whsec_`` prefix), base64-encoded and
sent as ``v1,<sig>``; several space-separated entries let a sender rotate keys,
and any one matching entry passes. Entries of other versions are ignored.

Nothing here logs or raises with the secret, the expected signature or the body.
"""

import base64
import binascii
import hashlib
import hmac
import logging
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, ClassVar

from django.db import DatabaseError
from redis.exceptions import RedisError

from integrations import cache_clock
from integrations.redis_line import outage, redis_handle

logger = logging.getLogger(__name__)

SECRET_PREFIX = "whsec_"  # noqa: S105 - a prefix, not a secret
VERSION = "v1"
DEFAULT_TOLERANCE_SECONDS = 300
# A dedupe key longer than this cannot be stored (WebhookEvent.dedupe_key).
MAX_ID_LENGTH = 255


class WebhookVerificationError(Exception):
    """A webhook request that must not be accepted.

    ``code`` says why; ``http_status`` is what the intake view answers. The
    message is safe to return to the sender: it never holds secrets.
    """

    MALFORMED = "malformed_request"
    MISSING_HEADER = "missing_header"
    FORGED = "invalid_signature"
    STALE = "timestamp_out_of_tolerance"
    MISSING_SECRET = "webhook_secret_missing"  # noqa: S105
    INVALID_SECRET = "webhook_secret_invalid"  # noqa: S105
    NOT_SUPPORTED = "webhooks_not_supported"

    # A missing or unusable secret is our misconfiguration, not the sender's
    # mistake: 503 makes the provider retry once staff have fixed it.
    _STATUS: ClassVar[dict[str, int]] = {
        MALFORMED: 400,
        MISSING_HEADER: 400,
        FORGED: 401,
        STALE: 401,
        MISSING_SECRET: 503,
        INVALID_SECRET: 503,
        NOT_SUPPORTED: 404,
    }

    def __init__(self, message: str, *, code: str, param: str | None = None):
        super().__init__(message)
        self.message = message
        self.code = code
        self.param = param

    @property
    def http_status(self) -> int:
        return self._STATUS.get(self.code, 400)

    def __repr__(self) -> str:
        return f"<WebhookVerificationError code={self.code}>"


class UnusableWebhook(WebhookVerificationError):
    """A request that passed verification but whose body cannot be used (not
    JSON, not the provider's event shape, no event id or type). The intake
    stores it dead with this error and answers 2xx instead of refusing it: a
    refusal is retried into the same refusal, or dropped, and staff never
    see it. Raised only once the signature has passed (``unusable_body``)."""

    # What a reader may raise about a signed body; any other code (stale,
    # forged) stays a refusal wherever it is raised.
    BODY_CODES = frozenset(
        {WebhookVerificationError.MALFORMED, WebhookVerificationError.MISSING_HEADER}
    )


class StoredBodyNotReadable(Exception):
    """A stored body cannot be read again as intake read it: what the reading
    needs (a header, the account's SDK keys) was not stored or is gone now.
    Staff's replay refuses the row with this reason (webhooks.recovery)."""


@contextmanager
def unusable_body(what: str, *, account: str = "") -> Iterator[None]:
    """Around reading a body whose signature has passed: what the reading
    refuses it with (a MALFORMED or MISSING_HEADER error, or any exception of
    a provider's parser, logged) becomes UnusableWebhook. ``what`` names the
    event expected. A database or provider error propagates: it may pass
    on the next delivery."""
    try:
        yield
    except (UnusableWebhook, StoredBodyNotReadable, DatabaseError):
        raise
    except WebhookVerificationError as exc:
        if exc.code not in UnusableWebhook.BODY_CODES:
            raise
        raise UnusableWebhook(exc.message, code=exc.code, param=exc.param) from None
    except Exception as exc:
        if _provider_error(exc):
            raise
        logger.warning(
            "webhook parser failed", extra={"account": account}, exc_info=True
        )
        raise UnusableWebhook(
            f"The webhook body is not {what}.",
            code=WebhookVerificationError.MALFORMED,
        ) from None


def _provider_error(exc: Exception) -> bool:
    # Imported here: integrations.errors imports (through the secrets
    # registry) the webhook messages, which import this module.
    from integrations.errors import ProviderError

    return isinstance(exc, ProviderError)


@dataclass(frozen=True)
class VerifiedRequest:
    webhook_id: str
    timestamp: int


class RequestHeaders(dict[str, str]):
    """Request headers keyed by lower-case name, looked up case-insensitively.

    The intake builds one from the WSGI environ per request and hands the same
    object to the adapter and to storage: Django's ``request.headers`` costs a
    parse of every environ key per lookup pass, and the intake needed three.
    """

    @classmethod
    def from_meta(cls, meta: Mapping[str, Any]) -> "RequestHeaders":
        headers = cls()
        for key, value in meta.items():
            if key.startswith("HTTP_"):
                key = key[5:]
            elif key not in ("CONTENT_TYPE", "CONTENT_LENGTH"):
                continue
            headers[key.replace("_", "-").lower()] = value
        return headers

    def __getitem__(self, name: str) -> str:
        return super().__getitem__(name.lower())

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and super().__contains__(name.lower())

    def get(self, name: str, default: Any = None) -> Any:  # type: ignore[override]
        return super().get(name.lower(), default)


def decode_secret(secret: str | None) -> bytes:
    """The HMAC key for a ``whsec_...`` secret; an absent secret is an error."""
    if not secret:
        raise WebhookVerificationError(
            "No webhook signing secret is configured for this account.",
            code=WebhookVerificationError.MISSING_SECRET,
        )
    return _decoded(secret)


@lru_cache(maxsize=64)  # one per account's secret: decoded once, not per request
def _decoded(secret: str) -> bytes:
    encoded = secret.removeprefix(SECRET_PREFIX)
    try:
        key = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        key = b""
    if not key:
        raise WebhookVerificationError(
            "The webhook signing secret configured for this account is not "
            "valid base64.",
            code=WebhookVerificationError.INVALID_SECRET,
        )
    return key


def _signature(key: bytes, webhook_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{webhook_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def sign(*, secret: str, webhook_id: str, timestamp: int, body: bytes) -> str:
    """A ``webhook-signature`` header value (one ``v1`` entry)."""
    return f"{VERSION},{_signature(decode_secret(secret), webhook_id, timestamp, body)}"


def signed_headers(
    *, secret: str, webhook_id: str, body: bytes, timestamp: int | None = None
) -> dict[str, str]:
    """The three Standard Webhooks headers for ``body``, as a sender sets them."""
    ts = int(time.time()) if timestamp is None else timestamp
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(ts),
        "webhook-signature": sign(
            secret=secret, webhook_id=webhook_id, timestamp=ts, body=body
        ),
    }


def _header(headers: Mapping[str, str], name: str) -> str:
    value = (headers.get(name) or "").strip()
    if not value:
        raise WebhookVerificationError(
            f"The {name} header is missing.",
            code=WebhookVerificationError.MISSING_HEADER,
            param=name,
        )
    return value


def _parse_timestamp(raw: str) -> int:
    if not raw.isascii() or not raw.isdigit() or len(raw) > 12:
        raise WebhookVerificationError(
            "The webhook-timestamp header must be Unix seconds.",
            code=WebhookVerificationError.MALFORMED,
            param="webhook-timestamp",
        )
    return int(raw)


def _candidate_signatures(raw: str) -> list[str]:
    """The ``v1`` signatures in a header; unknown versions are skipped."""
    entries = raw.split()
    if any("," not in entry for entry in entries):
        raise WebhookVerificationError(
            "The webhook-signature header must hold 'v1,<signature>' entries.",
            code=WebhookVerificationError.MALFORMED,
            param="webhook-signature",
        )
    return [
        sig
        for version, _, sig in (e.partition(",") for e in entries)
        if version == VERSION
    ]


def _lowered(headers: Mapping[str, str]) -> Mapping[str, str]:
    if isinstance(headers, RequestHeaders):
        return headers
    return {str(k).lower(): v for k, v in headers.items()}


def stored_standard_webhook(headers: Mapping[str, str]) -> VerifiedRequest:
    """What ``verify_standard_webhook`` found, from a verified request's
    stored headers (the signature is not stored and is not checked again)."""
    lowered = _lowered(headers)
    webhook_id = (lowered.get("webhook-id") or "").strip()
    if not webhook_id or len(webhook_id) > MAX_ID_LENGTH:
        raise StoredBodyNotReadable("its webhook-id header was not stored")
    try:
        timestamp = _parse_timestamp((lowered.get("webhook-timestamp") or "").strip())
    except WebhookVerificationError:
        timestamp = 0  # not read by any message: the id is what counts
    return VerifiedRequest(webhook_id=webhook_id, timestamp=timestamp)


def verify_standard_webhook(
    *,
    secret: str | None,
    body: bytes,
    headers: Mapping[str, str],
    tolerance: int = DEFAULT_TOLERANCE_SECONDS,
    now: float | None = None,
) -> VerifiedRequest:
    """Check a Standard Webhooks request; raise WebhookVerificationError if bad.

    The secret is checked first so a misconfigured account never accepts
    anything, whatever the request holds.
    """
    key = decode_secret(secret)
    lowered = _lowered(headers)
    webhook_id = _header(lowered, "webhook-id")
    if len(webhook_id) > MAX_ID_LENGTH:
        raise WebhookVerificationError(
            f"The webhook-id header is longer than {MAX_ID_LENGTH} characters.",
            code=WebhookVerificationError.MALFORMED,
            param="webhook-id",
        )
    timestamp = _parse_timestamp(_header(lowered, "webhook-timestamp"))
    candidates = _candidate_signatures(_header(lowered, "webhook-signature"))
    # Tolerance both ways: an old timestamp is a replay, a future one a forgery
    # trying to outlive the window.
    current = webhook_now() if now is None else now
    if abs(current - timestamp) > tolerance:
        raise WebhookVerificationError(
            f"The webhook-timestamp is more than {tolerance} seconds from now.",
            code=WebhookVerificationError.STALE,
            param="webhook-timestamp",
        )
    expected = _signature(key, webhook_id, timestamp, body).encode("ascii")
    # Compare against every entry (no early exit) in constant time per entry.
    matched = False
    for candidate in candidates:
        matched |= hmac.compare_digest(expected, candidate.encode("utf-8"))
    if not matched:
        raise WebhookVerificationError(
            "No webhook signature matches the request.",
            code=WebhookVerificationError.FORGED,
            param="webhook-signature",
        )
    return VerifiedRequest(webhook_id=webhook_id, timestamp=timestamp)


def webhook_now(*, database: bool = False) -> float:
    """What a signed webhook time is checked against. On Redis its clock
    (``cache_clock.shared_now``: carried, no round trip once learnt), which
    replay tokens expire by, so a web process whose clock is behind does not
    take a signature past the time its token was kept. Without Redis this
    process's clock, or with ``database`` the database's: for a check whose
    replay store is the database cache (Mailgun's tokens); the others' replays
    stop at the intake's dedupe, and a statement before the intake's own
    would cost a health-check round trip. Redis unreachable: this process's
    clock (a replay store there fails anyway), Redis not asked again in the
    outage's pause (``redis_line.outage``, one warning per outage)."""
    if redis_handle() is not None:
        try:
            outage.check()
            carried = cache_clock.redis_time_known()
            now = cache_clock.shared_now()
        except RedisError as exc:
            outage.failed(exc)
            return time.time()
        if not carried:  # Redis answered (a carried time asked nothing)
            outage.answered()
        return now
    if database:
        try:
            return cache_clock.shared_now()
        except DatabaseError:
            # The intake's own store is failing: its next statement says so.
            return time.time()
    return time.time()
