"""Every account's known secrets, for redaction: a provider's error text can
quote what we sent (credentials included), and that text must reach neither
a log line nor a stored message.

Each process keeps its own copy, checked against the accounts table at most
every ``SECRET_REDACTION_CHECK_SECONDS`` (one aggregate query) and reloaded
when an account was added, changed or removed.
"""

import logging
import threading
import time
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.db.models import Count, Max

MASK = "[redacted]"
# Shorter values (a mode, a flag) would redact ordinary words.
MIN_SECRET_LENGTH = 8

logger = logging.getLogger(__name__)
_lock = threading.Lock()
_local = threading.local()
_state: dict[str, Any] = {"checked": float("-inf"), "stamp": None, "secrets": ()}


def known_secrets(*, fresh: bool = False) -> tuple[str, ...]:
    """Every account's credential values, longest first. ``fresh``: check the
    accounts table now (a service about to store provider text)."""
    interval = getattr(settings, "SECRET_REDACTION_CHECK_SECONDS", 5.0)
    now = time.monotonic()
    if not fresh and now - _state["checked"] < interval:
        return _state["secrets"]
    if getattr(_local, "busy", False):
        return _state["secrets"]  # a log line written while loading
    _local.busy = True
    try:
        _reload_if_changed(now)
    except Exception:
        # No database (yet), or none in this context: keep what we have
        # and try again after the interval.
        _state["checked"] = now
    finally:
        _local.busy = False
    return _state["secrets"]


def _reload_if_changed(now: float) -> None:
    from integrations.db import savepoint_if_nested
    from integrations.models import ProviderAccount

    # Inside a caller's transaction a savepoint: a failing query (a log line
    # written during a migration) must not abort that transaction.
    with savepoint_if_nested():
        stamp = ProviderAccount.objects.aggregate(n=Count("pk"), at=Max("updated_at"))
    with _lock:
        _state["checked"] = now
        if stamp == _state["stamp"]:
            return
    values: set[str] = set()
    for account in ProviderAccount.objects.only("credentials_encrypted"):
        values.update(_strings(account.get_credentials().values()))
    with _lock:
        _state["stamp"] = stamp
        _state["secrets"] = tuple(sorted(values, key=len, reverse=True))


def _strings(values: Iterable[Any]) -> Iterable[str]:
    for value in values:
        if isinstance(value, str) and len(value) >= MIN_SECRET_LENGTH:
            yield value


def redact_secrets(text: str, secrets: Iterable[str] | None = None) -> str:
    """``text`` with every known secret (or each of ``secrets``) masked."""
    if not text:
        return text
    for secret in known_secrets() if secrets is None else secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    return text


def forget() -> None:
    """Drop this process's copy (tests; a rotation run in this process)."""
    with _lock:
        _state.update(checked=float("-inf"), stamp=None, secrets=())
