"""Provider answers kept for a while, keyed by what was asked (rate quotes).

``fingerprint(**parts)`` is a stable hash of the request: the SHA-256 of a
canonical JSON of ``parts`` (sorted keys, no whitespace), so the same account,
operation and request give the same key in every process and on every run::

    key = fingerprint(account=account.pk, operation="quote", request=request)
    quotes = get_or_compute("rates", key, ttl=300, compute=ask, as_type=Quotes)

Entries live in Django's default cache, shared by every process (Redis in
production, the database cache on the embedded default), as JSON text, never
pickles. Values may be JSON data (dict, list, str, int, float, bool, None;
dict keys are strings) or dataclasses whose fields are such data, dataclasses,
or lists, tuples and ``dict[str, ...]`` of them; pass ``as_type`` to get the
dataclass back on a hit. A cache that is down, or an entry that no longer
decodes, costs a log line and a fresh ``compute()``, never the call (Redis
unreachable: the outage's one record, ``redis_line.outage``). What
``compute`` raises is raised and nothing is stored. See docs/fanout.md.
"""

import dataclasses
import hashlib
import json
import logging
import types
import typing
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any, TypeVar
from uuid import UUID

from django.core.cache import cache
from redis.exceptions import RedisError

from integrations.redis_line import outage

logger = logging.getLogger(__name__)

T = TypeVar("T")

KEY_PREFIX = "respcache"


def fingerprint(**parts: Any) -> str:
    """The hex SHA-256 of the canonical JSON of ``parts``.

    Besides JSON data, parts may hold dataclasses, enums, UUIDs, Decimals and
    dates (as their ISO text); pass ids, not model instances.
    """
    canonical = json.dumps(
        parts,
        default=_canonical,
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=True,
        allow_nan=False,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def get_or_compute(
    namespace: str,
    key: str,
    *,
    ttl: int,
    compute: Callable[[], T],
    as_type: type[T] | None = None,
) -> T:
    """The value cached under ``namespace`` and ``key`` (a ``fingerprint``),
    or ``compute()``, stored for ``ttl`` seconds (a whole number, at least 1)."""
    if not isinstance(ttl, int) or ttl < 1:
        raise ValueError("ttl must be a whole number of seconds, at least 1")
    cache_key = f"{KEY_PREFIX}:{namespace}:{key}"
    hit, value = _read(cache_key, namespace, as_type)
    if hit:
        return value  # type: ignore[return-value]
    value = compute()
    # Encoded before the write: a value that is not JSON data is a bug in the
    # caller, raised even when the cache is down.
    text = json.dumps(_encode(value), separators=(",", ":"), allow_nan=False)
    try:
        outage.check()
        cache.set(cache_key, text, ttl)
    except RedisError as exc:
        outage.failed(exc)  # one record and warning per Redis outage
    except Exception:  # any other backend's outage: the value itself is fine
        logger.warning("response cache write failed", extra={"namespace": namespace})
    return value


def forget(namespace: str, key: str) -> None:
    """Drops the value cached under ``namespace`` and ``key``: the provider
    answered something that shows it stale. The cache down: nothing to do
    (the value, if any, still lapses at its ttl)."""
    try:
        outage.check()
        cache.delete(f"{KEY_PREFIX}:{namespace}:{key}")
    except RedisError as exc:
        outage.failed(exc)
    except Exception:  # any other backend's outage
        logger.warning("response cache delete failed", extra={"namespace": namespace})


def _read(
    cache_key: str, namespace: str, as_type: type[Any] | None
) -> tuple[bool, Any]:
    try:
        outage.check()  # Redis failed moments ago: not asked, computed
        text = cache.get(cache_key)
    except RedisError as exc:
        outage.failed(exc)
        return False, None
    except Exception:  # any other backend's outage (database): compute
        logger.warning("response cache unavailable", extra={"namespace": namespace})
        return False, None
    outage.answered()
    if text is None:
        return False, None
    try:
        data = json.loads(text)
        return True, data if as_type is None else _decode(as_type, data)
    except (TypeError, ValueError, KeyError, AttributeError, StopIteration):
        # Written by an older shape of the value: ask again.
        logger.warning(
            "response cache entry unreadable", extra={"namespace": namespace}
        )
        return False, None


def _canonical(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, UUID | Decimal):
        return str(value)
    if isinstance(value, set | frozenset):
        return sorted(value)
    raise TypeError(f"cannot fingerprint a {type(value).__name__}")


def _encode(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _encode(getattr(value, f.name)) for f in _fields(value)}
    if isinstance(value, list | tuple):
        return [_encode(item) for item in value]
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            raise TypeError("cached dicts must have string keys")
        return {k: _encode(v) for k, v in value.items()}
    if value is None or isinstance(value, str | int | float | bool):
        return value
    raise TypeError(f"cannot cache a {type(value).__name__} as JSON")


def _decode(tp: Any, data: Any) -> Any:
    """``data`` (decoded JSON) rebuilt as ``tp``, following its type hints."""
    if dataclasses.is_dataclass(tp):
        hints = typing.get_type_hints(tp)
        return tp(**{f.name: _decode(hints[f.name], data[f.name]) for f in _fields(tp)})
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if data is None:
            return None
        return _decode(next(a for a in args if a is not type(None)), data)
    if origin in (list, tuple):
        item = args[0] if args else Any
        items = [_decode(item, x) for x in data]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        return {k: _decode(args[1], v) for k, v in data.items()}
    return data


def _fields(value: Any) -> tuple[dataclasses.Field, ...]:
    # Fields set in __post_init__ (init=False) are rebuilt by the class.
    return tuple(f for f in dataclasses.fields(value) if f.init)
