"""Scheduled health probes (django-q2 tasks; thin: load by id, call a service).

The minute schedule fans out one task per enabled account instead of probing
them in a row, so one slow provider cannot hold up the others' probes or run
past the task timeout for all of them.
"""

import logging

from django_q.tasks import async_task
from redis.exceptions import RedisError

from integrations import health
from integrations.models import ProviderAccount
from integrations.task_batcher import shared_broker

logger = logging.getLogger(__name__)

PROBE_TASK = "integrations.health_tasks.probe_account"


def probe_enabled_accounts() -> int:
    """Enqueue a probe of every enabled account; return how many (it stops
    at the first the broker cannot take: Redis unreachable)."""
    ids = list(
        ProviderAccount.objects.filter(enabled=True).values_list("pk", flat=True)
    )
    for sent, account_id in enumerate(ids):
        try:
            async_task(
                PROBE_TASK, account_id, group="health-probes", broker=shared_broker()
            )
        except RedisError:
            # Logged by the outage record (an outage's one warning, a refused
            # command's error); the probes could not run without Redis
            # anyway. The next scheduled run enqueues them all again.
            logger.info("health probes not enqueued: Redis", extra={"sent": sent})
            return sent
    logger.info("health probes enqueued", extra={"accounts": len(ids)})
    return len(ids)


def probe_account(account_id: int) -> str | None:
    """Probe one account; return its status, or None if it is gone or disabled
    or could not be checked (Redis unreachable)."""
    account = ProviderAccount.objects.filter(pk=account_id, enabled=True).first()
    if account is None:
        # Deleted or disabled between the fan-out and now: nothing to probe.
        logger.info("health probe skipped", extra={"account_id": account_id})
        return None
    result = health.account_health_probe(account=account)
    return result.status if result is not None else None
