"""Webhooks the sandboxes send about what they did, as a real provider does.

A sandbox operation that changes something calls
``SandboxAdapter.deliver_webhook(event_type, data)``. After the transaction
commits, a django-q2 task waits out ``SANDBOX_WEBHOOK_DELAY_SECONDS``, then
POSTs ``{"type", "timestamp", "data"}`` signed with the account's
``webhook_secret`` (Standard Webhooks) to ``SANDBOX_WEBHOOK_BASE_URL`` plus
the account's intake path ``/webhooks/<slug>/``. Any answer but a 2xx is
retried from a one-off schedule with exponential back-off, up to
``SANDBOX_WEBHOOK_MAX_ATTEMPTS``; every attempt keeps the ``webhook-id`` (the
intake's dedupe key) and signs a fresh timestamp, as Standard Webhooks senders
do. No base URL, or no secret on the account, means no deliveries.

The POST goes over the account's ProviderClient session (timeouts, proxies,
correlation id) but not through ``ProviderClient.request``: the call log,
breaker and limiter describe our calls *to* the provider, and a delivery is
the provider calling us. Counting our own intake's failures against the
account would open its breaker and fail payments over.
"""

import json
import logging
import time
import uuid
from collections.abc import Mapping
from datetime import timedelta
from functools import partial
from typing import Any

import requests
from django.conf import settings
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from django_q.models import Schedule
from django_q.tasks import async_task, schedule
from redis.exceptions import RedisError

from integrations import correlation
from integrations.client import classify_exception, client_for
from integrations.models import ProviderAccount
from integrations.task_batcher import shared_broker
from integrations.webhooks.verification import signed_headers

logger = logging.getLogger(__name__)

DELIVER_TASK = "integrations.sandbox_tasks.deliver_sandbox_webhook"
USER_AGENT = "switchyard-sandbox-webhooks/1"
# The first attempt waits in its task, which must end well before Q_TIMEOUT.
_MAX_WAIT_SECONDS = 20.0
_MAX_BACKOFF_SECONDS = 3600.0
# Accounts already reported as having no secret, so the log says it once per
# process, not once per payment.
_reported_without_secret: set[int] = set()


def webhook_body(event_type: str, data: Mapping[str, Any]) -> bytes:
    """The body a sandbox webhook carries, stamped with the current time."""
    payload = {
        "type": event_type,
        "timestamp": timezone.now().isoformat(),
        "data": dict(data),
    }
    return json.dumps(payload, separators=(",", ":")).encode()


def webhook_headers(*, secret: str, webhook_id: str, body: bytes) -> dict[str, str]:
    """Every header of one delivery attempt, signed now."""
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        # Deliveries are seconds apart: a kept-alive connection would pin a
        # server thread (and its database connection) in between.
        "Connection": "close",
        **signed_headers(secret=secret, webhook_id=webhook_id, body=body),
    }


def webhook_enqueue(
    *, account: ProviderAccount, event_type: str, data: Mapping[str, Any]
) -> str | None:
    """Deliver a webhook about ``event_type`` once the current transaction
    commits (at once outside one); the webhook id, or None if none will go."""
    if not settings.SANDBOX_WEBHOOK_BASE_URL:
        return None
    if not account.credential_is_set("webhook_secret"):
        _report_without_secret(account)
        return None
    webhook_id = f"msg_{uuid.uuid4().hex}"
    delivery = partial(
        _enqueue,
        account_id=account.pk,
        webhook_id=webhook_id,
        body=webhook_body(event_type, data).decode(),
        due=time.time() + settings.SANDBOX_WEBHOOK_DELAY_SECONDS,
        correlation_id=correlation.get() or "",
    )
    transaction.on_commit(delivery)
    return webhook_id


def _enqueue(**task: Any) -> None:
    try:
        async_task(DELIVER_TASK, **task, attempt=1, broker=shared_broker())
    except Exception as exc:
        # Never fails the payment that caused it, nor is it dropped: kept as
        # a one-off schedule (a row) the cluster queues once its broker can.
        _keep_as_schedule(task, exc)


def _keep_as_schedule(task: dict[str, Any], exc: Exception) -> None:
    log = {"account_id": task["account_id"], "webhook_id": task["webhook_id"]}
    # Redis's failure was logged by the outage record (once per outage, or a
    # refused command's error): one INFO line here.
    if isinstance(exc, RedisError):
        logger.info(
            "sandbox webhook kept as a schedule: not enqueued (Redis)", extra=log
        )
    else:
        logger.error("sandbox webhook enqueue failed", exc_info=exc, extra=log)
    try:
        schedule(
            DELIVER_TASK,
            **task,
            attempt=1,
            name=f"sandbox webhook {task['webhook_id']} attempt 1",
            schedule_type=Schedule.ONCE,
            next_run=timezone.now(),
        )
    except Exception:
        logger.exception("sandbox webhook lost: not enqueued or scheduled", extra=log)


def webhook_deliver(
    *,
    account_id: int,
    webhook_id: str,
    body: str,
    due: float = 0.0,
    attempt: int = 1,
) -> bool:
    """One delivery attempt (after waiting until ``due``, Unix seconds);
    schedules the next one unless the intake answered 2xx. True if it did."""
    wait = min(due - time.time(), _MAX_WAIT_SECONDS)
    if wait > 0:
        time.sleep(wait)
    account = ProviderAccount.objects.filter(pk=account_id).first()
    base_url = settings.SANDBOX_WEBHOOK_BASE_URL
    secret = account.get_credentials().get("webhook_secret") if account else None
    if account is None or not base_url or not secret:
        logger.info(
            "sandbox webhook dropped",
            extra={"account_id": account_id, "webhook_id": webhook_id},
        )
        return False
    log = {"account": account.slug, "webhook_id": webhook_id, "attempt": attempt}
    status, error = _post(account, base_url, secret, webhook_id, body.encode())
    if status is not None and 200 <= status < 300:
        logger.info("sandbox webhook delivered", extra={**log, "http_status": status})
        return True
    logger.warning(
        "sandbox webhook delivery failed",
        extra={**log, "http_status": status, "error_code": error},
    )
    _retry_later(account, webhook_id, body, attempt)
    return False


def webhook_url(account: ProviderAccount, base_url: str) -> str:
    """Where the sandbox posts ``account``'s webhooks."""
    path = reverse("webhooks:receive", kwargs={"account_slug": account.slug})
    return base_url.rstrip("/") + path


def _post(
    account: ProviderAccount,
    base_url: str,
    secret: str,
    webhook_id: str,
    body: bytes,
) -> tuple[int | None, str]:
    """(HTTP status or None, error code) of one POST."""
    headers = webhook_headers(secret=secret, webhook_id=webhook_id, body=body)
    session = client_for(account).session
    try:
        response = session.post(
            webhook_url(account, base_url), data=body, headers=headers
        )
    except requests.RequestException as exc:
        return None, classify_exception(exc).code
    response.close()
    return response.status_code, ""


def _retry_later(
    account: ProviderAccount, webhook_id: str, body: str, attempt: int
) -> None:
    if attempt >= settings.SANDBOX_WEBHOOK_MAX_ATTEMPTS:
        logger.error(
            "sandbox webhook given up",
            extra={"account": account.slug, "webhook_id": webhook_id},
        )
        return
    bound = settings.SANDBOX_WEBHOOK_RETRY_BASE_SECONDS * 2 ** (attempt - 1)
    next_run = timezone.now() + timedelta(seconds=min(bound, _MAX_BACKOFF_SECONDS))
    try:
        schedule(
            DELIVER_TASK,
            account_id=account.pk,
            webhook_id=webhook_id,
            body=body,
            correlation_id=correlation.get() or "",
            attempt=attempt + 1,
            # Named per attempt: a task run twice schedules its retry once.
            name=f"sandbox webhook {webhook_id} attempt {attempt + 1}",
            schedule_type=Schedule.ONCE,
            next_run=next_run,
        )
    except IntegrityError:
        return


def _report_without_secret(account: ProviderAccount) -> None:
    if account.pk in _reported_without_secret:
        return
    _reported_without_secret.add(account.pk)
    logger.warning(
        "sandbox webhooks off: account has no webhook secret",
        extra={"account": account.slug},
    )
