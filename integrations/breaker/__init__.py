"""Circuit breaker per provider account, shared by every process through the
cache: ``machine`` is the state machine, ``store`` its cache and Redis
plumbing. How it trips, probes and is overridden: docs/transport.md."""

from integrations.breaker.machine import (
    LOCAL_CODES,
    BreakerConfig,
    BreakerSnapshot,
    BreakerState,
    CircuitBreaker,
    breaker_for,
    breaker_mode_set,
    classify,
)
from integrations.breaker.store import BreakerStore

__all__ = [
    "LOCAL_CODES",
    "BreakerConfig",
    "BreakerSnapshot",
    "BreakerState",
    "BreakerStore",
    "CircuitBreaker",
    "breaker_for",
    "breaker_mode_set",
    "classify",
]
