"""Handing a delivery row to a task after the transaction that made it due
commits. A broker failure only logs: the row is stored and swept."""

import logging
from functools import partial

from django.db import transaction
from django_q.tasks import async_task

from integrations import correlation
from integrations.task_batcher import shared_broker

logger = logging.getLogger(__name__)

DELIVER_TASK = "storefront_hooks.tasks.deliver_webhook"


def enqueue(delivery_id: int, correlation_id: str = "") -> None:
    try:
        async_task(DELIVER_TASK, delivery_id, correlation_id, broker=shared_broker())
    except Exception:
        # The row is stored; the sweeper enqueues it again later.
        logger.exception(
            "webhook delivery enqueue failed; left for the sweeper",
            extra={"delivery_id": delivery_id},
        )


def enqueue_on_commit(delivery_id: int) -> None:
    transaction.on_commit(partial(enqueue, delivery_id, correlation.get() or ""))
