"""Handing a delivery row to a task after the transaction that made it due
commits, or at the time its retry is due. A broker failure only logs: the row
is stored and swept."""

import logging
from datetime import datetime
from functools import partial

from django.db import transaction
from django_q.models import Schedule
from django_q.tasks import async_task

from integrations import correlation
from integrations.enqueue import enqueue_failed
from integrations.task_batcher import shared_broker

logger = logging.getLogger(__name__)

DELIVER_TASK = "storefront_hooks.tasks.deliver_webhook"


def enqueue(delivery_id: int, correlation_id: str = "") -> None:
    try:
        async_task(DELIVER_TASK, delivery_id, correlation_id, broker=shared_broker())
    except Exception as exc:
        # The row is stored; the sweeper enqueues it again later.
        enqueue_failed(
            logger,
            "webhook delivery enqueue failed; left for the sweeper",
            exc,
            extra={"delivery_id": delivery_id},
        )


def enqueue_on_commit(delivery_id: int) -> None:
    transaction.on_commit(partial(enqueue, delivery_id, correlation.get() or ""))


def schedule_name(delivery_id: int) -> str:
    """The name of the row's one one-off schedule (setup_schedules leaves
    one-off schedules alone)."""
    return f"storefront_hooks.delivery.{delivery_id}"


def enqueue_at(delivery_id: int, when: datetime) -> None:
    """A one-off django-q2 schedule that runs the delivery's task at ``when``
    (its cluster's scheduler looks every 30 s). Written in the caller's
    transaction, so it exists exactly when the failure it retries does; the
    sweeper still picks the row up if the schedule is lost. One per row: it
    replaces the row's earlier one, so a task run twice for a row (the sweep
    and the schedule both found it due) and held back twice leaves one
    schedule, not two, each round."""
    unschedule(delivery_id)
    Schedule.objects.create(
        name=schedule_name(delivery_id),
        func=DELIVER_TASK,
        args=repr((delivery_id, correlation.get() or "")),
        schedule_type=Schedule.ONCE,
        next_run=when,
        repeats=-1,  # deleted once run
    )


def unschedule(delivery_id: int) -> None:
    """Drop the row's one-off schedule, in the caller's transaction. One the
    scheduler is running now (locked) is left to it: it deletes it once its
    task is queued, and this should not wait for that."""
    earlier = Schedule.objects.select_for_update(skip_locked=True).filter(
        name=schedule_name(delivery_id), schedule_type=Schedule.ONCE
    )
    if stale := list(earlier.values_list("pk", flat=True)):
        Schedule.objects.filter(pk__in=stale).delete()
