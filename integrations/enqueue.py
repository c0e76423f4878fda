"""How an enqueue site whose work is kept in a database row logs a broker
that failed: nothing is lost (a sweeper or schedule enqueues the row
again), so it only logs. Redis down is an outage, already warned once by
the outage record (``redis_line.outage``): a line at INFO, no traceback,
however many enqueues it refuses. Anything else is a fault: an ERROR with
its traceback."""

import logging
from typing import Any

from integrations.redis_line import is_outage


def enqueue_failed(
    log: logging.Logger, message: str, exc: BaseException, *, extra: dict[str, Any]
) -> None:
    """Log the enqueue that raised ``exc`` on ``log`` as ``message``."""
    if isinstance(exc, Exception) and is_outage(exc):
        log.info(
            "%s (Redis unreachable)",
            message,
            extra={**extra, "error": type(exc).__name__},
        )
    else:
        log.error(message, exc_info=exc, extra=extra)
