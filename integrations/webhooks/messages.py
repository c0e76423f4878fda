"""What a verified webhook becomes, and the small readers every provider's
verification needs (required header, JSON body, event times).

Nothing here logs or raises with a secret or the body.
"""

import hashlib
import json
import math
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from integrations.clock import database_now
from integrations.webhooks.verification import WebhookVerificationError

# WebhookEvent.event_type and .dedupe_key column lengths.
MAX_EVENT_TYPE_LENGTH = 128
MAX_DEDUPE_KEY_LENGTH = 255


@dataclass(frozen=True)
class WebhookMessage:
    """A verified webhook, translated: what the intake stores and dispatches."""

    event_type: str
    dedupe_key: str  # the provider's event/delivery id; unique per account
    payload: dict[str, Any]
    occurred_at: datetime | None = None

    @classmethod
    def build(
        cls,
        *,
        event_type: str,
        dedupe_key: str,
        payload: dict[str, Any],
        occurred_at: datetime | None = None,
    ) -> "WebhookMessage":
        """A message with type and key cut to what the intake can store, and
        the characters PostgreSQL's text and jsonb refuse (NUL, lone
        surrogates) replaced (the key kept distinct: ``storable_key``); the
        raw body is stored as received."""
        return cls(
            event_type=storable(event_type)[:MAX_EVENT_TYPE_LENGTH],
            dedupe_key=storable_key(dedupe_key),
            payload=storable(payload),
            occurred_at=occurred_at,
        )


# What JSON may carry but PostgreSQL cannot store: NUL, and the unpaired
# surrogates json.loads leaves in a str.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def storable(value: Any) -> Any:
    """``value`` with every unstorable character in its strings and keys
    replaced by U+FFFD; anything else unchanged."""
    if isinstance(value, str):
        return _UNSTORABLE.sub("\ufffd", value)
    if isinstance(value, dict):
        return {storable(k): storable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [storable(item) for item in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None  # an SDK's parser may let one through; jsonb cannot
    return value


def storable_key(key: str) -> str:
    """A dedupe key cut to its column. One holding what cannot be stored has
    it replaced and ends with a digest of the key as sent: replaced alike,
    ids that differ only there were one key, and every event after the
    first was answered "duplicate" and dropped."""
    kept = storable(key)
    if kept == key:
        return key[:MAX_DEDUPE_KEY_LENGTH]
    digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()
    suffix = f"~{digest[:32]}"
    return kept[: MAX_DEDUPE_KEY_LENGTH - len(suffix)] + suffix


def required_header(headers: Mapping[str, str], name: str) -> str:
    """The stripped value of header ``name`` (any case), or MISSING_HEADER."""
    value = headers.get(name)
    if value is None:
        value = headers.get(name.lower())
    value = (value or "").strip()
    if not value:
        raise WebhookVerificationError(
            f"The {name} header is missing.",
            code=WebhookVerificationError.MISSING_HEADER,
            param=name,
        )
    return value


def json_body(body: bytes | str, *, what: str = "a JSON object") -> Any:
    """The decoded JSON of a webhook body, or MALFORMED naming ``what`` was
    expected."""
    try:
        return json.loads(body, parse_constant=_refused_constant, parse_float=_float)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise WebhookVerificationError(
            f"The webhook body is not {what}.",
            code=WebhookVerificationError.MALFORMED,
        ) from None


def utf8_text(body: bytes, *, what: str) -> str:
    """``body`` as JSON text is exchanged (RFC 8259): UTF-8 with no BOM, or
    MALFORMED naming ``what`` was expected. Python's JSON reader also takes
    a BOM and UTF-16/32: only where a signature covers those very bytes may
    a provider's reading do so (``BaseAdapter.webhook_signs_body``)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        text = "\ufeff"  # refused below, as a BOM is
    # A NUL is no JSON in UTF-8 (it must be escaped) but UTF-16/32 of ASCII.
    if text.startswith("\ufeff") or "\x00" in text:
        raise WebhookVerificationError(
            f"The webhook body is not {what}.",
            code=WebhookVerificationError.MALFORMED,
        )
    return text


def signature_text(body: bytes) -> str:
    """``body`` as text, only to find and check a signature it carries (Mailgun,
    Amazon SNS, Braintree) or to ask the provider (PayPal): in the encoding
    JSON's reader detects (a BOM, UTF-16/32), bytes no encoding reads replaced.
    A forged body is then refused as forged whatever its encoding; once the
    signature has passed, ``utf8_text`` must still pass before it is read."""
    return body.decode(json.detect_encoding(body), errors="replace")


def _refused_constant(name: str) -> float:
    raise ValueError(f"{name} is not JSON")  # NaN, Infinity: no column takes them


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError("number out of range")  # 1e400
    return value


def json_object(body: bytes | str, *, what: str = "a JSON object") -> dict[str, Any]:
    """A webhook body that must be one JSON object."""
    payload = json_body(body, what=what)
    if not isinstance(payload, dict):
        raise WebhookVerificationError(
            f"The webhook body is not {what}.",
            code=WebhookVerificationError.MALFORMED,
        )
    return payload


def required_str(payload: Mapping[str, Any], name: str, *, what: str) -> str:
    """A non-empty string field of a webhook payload, or MALFORMED."""
    value = payload.get(name)
    if not isinstance(value, str) or not value:
        raise WebhookVerificationError(
            f"The {what} has no '{name}'.",
            code=WebhookVerificationError.MALFORMED,
            param=name,
        )
    return value


# A time every zone can show: no UTC offset reaches a day, and one past these
# is another year than 1-9999 somewhere (the admin in TIME_ZONE, a pickup
# window in the account's zone), where converting it raises OverflowError.
EARLIEST_TIME = datetime.min.replace(tzinfo=UTC) + timedelta(days=1)
LATEST_TIME = datetime.max.replace(tzinfo=UTC) - timedelta(days=1)


def iso_time(value: object) -> datetime | None:
    """An aware datetime from an ISO 8601 string (``Z`` accepted); None when
    absent, unparseable, naive or not at least a day inside years 1-9999
    (``EARLIEST_TIME``, ``LATEST_TIME``): a bad time is not worth refusing a
    signed event over."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        if parsed.tzinfo is None:
            return None
        in_utc = parsed.astimezone(UTC)
    except (ValueError, OverflowError):
        return None
    return parsed if EARLIEST_TIME <= in_utc <= LATEST_TIME else None


def unix_time(value: object) -> datetime | None:
    """An aware UTC datetime from Unix seconds; None if not an int or not at
    least a day inside years 1-9999."""
    if not isinstance(value, int) or isinstance(value, bool):
        return None
    try:
        parsed = datetime.fromtimestamp(value, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None
    return parsed if EARLIEST_TIME <= parsed <= LATEST_TIME else None


# Set while staff's replay reads a stored body again (webhooks.recovery).
_received_at: ContextVar[datetime | None] = ContextVar("received_at", default=None)


def received_time() -> datetime:
    """When the webhook being read was received, for an event dated on
    receipt: now (the database's clock) at the intake; the stored row's
    ``received_at`` when a replay reads its body again days later."""
    return _received_at.get() or database_now()


@contextmanager
def reading_received_at(when: datetime) -> Iterator[None]:
    """Read a stored body as received at ``when`` (``received_time``)."""
    token = _received_at.set(when)
    try:
        yield
    finally:
        _received_at.reset(token)
