"""Circuit breaker per provider account, shared by every process through the
cache: ``machine`` is the state machine, ``store`` its cache and Redis
plumbing, ``verdict`` which answers count as failures. How it trips,
probes and is overridden: docs/transport.md."""

from integrations.breaker.machine import (
    BreakerConfig,
    BreakerSnapshot,
    BreakerState,
    CircuitBreaker,
    breaker_for,
    breaker_mode_set,
)
from integrations.breaker.store import BreakerStore
from integrations.breaker.verdict import LOCAL_CODES, classify

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
