"""Per-account limits: the one parser and the one lookup for the number
settings the client, rate limiter and breaker read from
``ProviderAccount.settings``. Lookup order: the account's setting, else the
adapter's ``default_limits``, else the Django setting (docs/transport.md)."""

import logging
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from integrations import registry

if TYPE_CHECKING:
    from integrations.models import ProviderAccount
    from integrations.providers.base import BaseAdapter

logger = logging.getLogger(__name__)

Number = int | float

CLIENT = "Timeouts and retries"
RATE = "Rate limit and concurrency"
BREAKER = "Circuit breaker"


class InvalidNumber(ValueError):
    """A value its ``LimitSpec`` refuses; the message says why (form error)."""


@dataclass(frozen=True)
class LimitSpec:
    """One per-account number setting: its key in the settings JSON, type,
    bounds and where its default comes from (None: off unless set)."""

    key: str
    label: str
    kind: type
    group: str
    help_text: str
    setting: str | None = None
    zero_ok: bool = False
    maximum: float | None = None

    def parse(self, raw: Any) -> Number:
        return parse_number(raw, self)


def parse_number(raw: Any, spec: LimitSpec) -> Number:
    """``raw`` (a JSON number or its text) under ``spec``'s rules: finite,
    above zero (or zero where that means "do not wait"), whole for counts,
    at most ``maximum``. Raises InvalidNumber."""
    if isinstance(raw, bool):
        raise InvalidNumber("Enter a number.")
    try:
        value = float(raw.strip() if isinstance(raw, str) else raw)
    except (TypeError, ValueError):
        raise InvalidNumber("Enter a number.") from None
    if not math.isfinite(value):
        raise InvalidNumber("Enter a finite number.")
    if spec.kind is int and not value.is_integer():
        raise InvalidNumber("Enter a whole number.")
    if value < 0 or (value == 0 and not spec.zero_ok):
        floor = "zero or more" if spec.zero_ok else "greater than zero"
        raise InvalidNumber(f"Enter a number {floor}.")
    if spec.maximum is not None and value > spec.maximum:
        raise InvalidNumber(f"Enter a number no greater than {spec.maximum:g}.")
    return int(value) if spec.kind is int else value


def _spec(key: str, label: str, kind: type, group: str, help_text: str, **kw: Any):
    return LimitSpec(key, label, kind, group, help_text, **kw)


SPECS: tuple[LimitSpec, ...] = (
    _spec("connect_timeout", "Connect timeout (s)", float, CLIENT,
          "Seconds to open a connection, per attempt.",
          setting="PROVIDER_CONNECT_TIMEOUT"),
    _spec("read_timeout", "Read timeout (s)", float, CLIENT,
          "Seconds of silence while reading a response, per attempt.",
          setting="PROVIDER_READ_TIMEOUT"),
    _spec("deadline_seconds", "Deadline (s)", float, CLIENT,
          "Whole operation, retries and back-off included.",
          setting="PROVIDER_DEADLINE_SECONDS"),
    _spec("max_attempts", "Max attempts", int, CLIENT,
          "Attempts per operation, the first included.",
          setting="PROVIDER_MAX_ATTEMPTS"),
    _spec("backoff_base_seconds", "Back-off base (s)", float, CLIENT,
          "First back-off bound; doubles per retry (full jitter).",
          setting="PROVIDER_BACKOFF_BASE_SECONDS"),
    _spec("backoff_cap_seconds", "Back-off cap (s)", float, CLIENT,
          "Largest back-off bound.", setting="PROVIDER_BACKOFF_CAP_SECONDS"),
    _spec("retry_after_cap_seconds", "Retry-After cap (s)", float, CLIENT,
          "Longest Retry-After a transactional call waits for.",
          setting="PROVIDER_RETRY_AFTER_CAP_SECONDS"),
    _spec("max_throttled_attempts", "Max throttled attempts", int, CLIENT,
          "Provider 429s a paced (bulk) call waits out before it gives up.",
          setting="PROVIDER_MAX_THROTTLED_ATTEMPTS"),
    _spec("rate_limit_per_second", "Rate (calls/s)", float, RATE,
          "Tokens added per second; empty: no rate limit."),
    _spec("rate_limit_burst", "Burst", float, RATE,
          "Bucket size; empty: max(1, rate)."),
    _spec("rate_limit_max_wait_seconds", "Max wait for a token (s)", float, RATE,
          "A transactional call waits this long at most; 0 fails fast.",
          setting="RATE_LIMIT_MAX_WAIT_SECONDS", zero_ok=True),
    _spec("max_concurrency", "Concurrency cap", int, RATE,
          "Requests in flight at once, all processes; empty: no cap."),
    _spec("concurrency_max_wait_seconds", "Max wait for a slot (s)", float, RATE,
          "Wait for a free slot this long at most; 0 fails fast.",
          setting="CONCURRENCY_MAX_WAIT_SECONDS", zero_ok=True),
    _spec("concurrency_slot_ttl_seconds", "Slot lease (s)", float, RATE,
          "A slot held longer is reclaimed (its worker died).",
          setting="CONCURRENCY_SLOT_TTL_SECONDS"),
    _spec("breaker_failure_rate", "Failure rate (0-1)", float, BREAKER,
          "Open at this share of failed calls in the window.",
          setting="BREAKER_FAILURE_RATE", maximum=1.0),
    _spec("breaker_min_calls", "Min calls", int, BREAKER,
          "Calls in the window before the failure rate counts.",
          setting="BREAKER_MIN_CALLS"),
    _spec("breaker_window_seconds", "Window (s)", float, BREAKER,
          "Failure-rate window.", setting="BREAKER_WINDOW_SECONDS"),
    _spec("breaker_consecutive_failures", "Consecutive failures", int, BREAKER,
          "Open after this many failures in a row.",
          setting="BREAKER_CONSECUTIVE_FAILURES"),
    _spec("breaker_open_seconds", "Open time (s)", float, BREAKER,
          "Stay open this long before one probe.", setting="BREAKER_OPEN_SECONDS"),
    _spec("breaker_probe_timeout_seconds", "Probe timeout (s)", float, BREAKER,
          "A probe silent this long is replaced by another.",
          setting="BREAKER_PROBE_TIMEOUT_SECONDS"),
)  # fmt: skip
LIMITS: Mapping[str, LimitSpec] = {spec.key: spec for spec in SPECS}


def adapter_class(account: "ProviderAccount") -> "type[BaseAdapter] | None":
    try:
        return registry.get_adapter_class(account.kind, account.provider)
    except (registry.UnknownProvider, ImproperlyConfigured):
        return None


def default_value(
    spec: LimitSpec, adapter: "type[BaseAdapter] | None"
) -> Number | None:
    """The value an account gets when it sets nothing: the adapter's own
    default, else the Django setting (None: the limit is off)."""
    declared = getattr(adapter, "default_limits", None) or {}
    if spec.key in declared:
        try:
            return spec.parse(declared[spec.key])
        except InvalidNumber:
            logger.warning(
                "ignoring invalid adapter default limit",
                extra={"adapter": adapter.__name__, "setting": spec.key},
            )
    if spec.setting is None:
        return None
    return spec.kind(getattr(settings, spec.setting))


def limit_values(
    account: "ProviderAccount", keys: Iterable[str]
) -> dict[str, Number | None]:
    """Each key's value for ``account``: its valid setting, else the default.
    An invalid stored value is logged and ignored: a typo must not take the
    account down (the admin form refuses them in the first place)."""
    stored = account.settings or {}
    adapter = adapter_class(account)
    values: dict[str, Number | None] = {}
    for key in keys:
        spec = LIMITS[key]
        raw = stored.get(key)
        if raw not in (None, ""):
            try:
                values[key] = spec.parse(raw)
                continue
            except InvalidNumber:
                logger.warning(
                    "ignoring invalid account limit",
                    extra={"account": account.slug, "setting": key},
                )
        values[key] = default_value(spec, adapter)
    return values
