"""Webhook intake: ``POST /webhooks/<account-slug>/``.

Read the raw body (bounded), let the account's adapter verify it on those exact
bytes, store it once and answer 2xx at once; processing happens in a task.
A rejected request stores nothing: it leaves a log line and a metric. A
verified one whose body cannot be used is stored dead with its error and
answered 2xx (integrations.webhooks.unusable).

A request may carry several messages (events): the adapter's
``webhook_messages`` returns them all. One message takes the single-row path;
several are stored all or none, each deduplicated on its own key, and the
request is answered once with the counts.
"""

import json
import logging

from django.conf import settings
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from integrations import registry
from integrations.api.errors import error_body
from integrations.errors import ProviderError
from integrations.models import ProviderAccount
from integrations.webhooks import accounts, services, unusable
from integrations.webhooks.messages import WebhookMessage
from integrations.webhooks.metrics import WEBHOOK_MESSAGES, WEBHOOK_REQUESTS
from integrations.webhooks.verification import (
    RequestHeaders,
    UnusableWebhook,
    WebhookVerificationError,
)

logger = logging.getLogger(__name__)


def _error(
    status: int, code: str, message: str, param: str | None = None
) -> JsonResponse:
    return JsonResponse(error_body(status, code, message, param), status=status)


def _declared_length(request: HttpRequest) -> int | None:
    """Content-Length as a number; None when it is not one."""
    raw = request.META.get("CONTENT_LENGTH") or "0"
    try:
        length = int(raw)
    except ValueError:
        return None
    return length if length >= 0 else None


def _too_large(slug: str, limit: int) -> JsonResponse:
    WEBHOOK_REQUESTS.labels(slug, "too_large").inc()
    logger.warning("webhook rejected: body too large", extra={"account": slug})
    return _error(
        413, "payload_too_large", f"Webhook bodies are limited to {limit} bytes."
    )


def _rejected(account: ProviderAccount, exc: WebhookVerificationError) -> JsonResponse:
    WEBHOOK_REQUESTS.labels(account.slug, exc.code).inc()
    # A server-side misconfiguration needs staff, not the sender: log it louder.
    log = logger.error if exc.http_status >= 500 else logger.warning
    log(
        "webhook rejected",
        extra={"account": account.slug, "code": exc.code, "status": exc.http_status},
    )
    return _error(exc.http_status, exc.code, exc.message, exc.param)


def _read_body(request: HttpRequest, limit: int) -> bytes | None:
    # Read one byte past the limit so a body that lied about its length (or
    # came chunked) is still caught without reading all of it.
    body = request.read(limit + 1)
    return None if len(body) > limit else body


@csrf_exempt
def webhook_receive(request: HttpRequest, account_slug: str) -> HttpResponse:
    if request.method != "POST":
        response = _error(405, "method_not_allowed", "Webhooks must be POSTed.")
        response["Allow"] = "POST"
        return response
    limit = settings.WEBHOOK_MAX_BYTES
    declared = _declared_length(request)
    if declared is None:
        return _error(400, "invalid_content_length", "Content-Length is invalid.")
    account, cached = accounts.get(account_slug)
    if account is None:
        return _unknown_account()
    body = _read_body(request, limit) if declared <= limit else None
    if body is None:
        return _too_large(account.slug, limit)
    headers = RequestHeaders.from_meta(request.META)
    try:
        verified_account, messages = _verify(
            request, account, body, headers, cached=cached
        )
    except _UnusableFor as unusable_for:
        return _unusable(unusable_for.account, body, headers, unusable_for.error)
    except UnusableWebhook as exc:
        return _unusable(account, body, headers, exc)
    except WebhookVerificationError as exc:
        return _rejected(account, exc)
    except ProviderError as exc:
        return _verifier_unavailable(account, exc)
    if verified_account is None or messages is None:
        return _unknown_account()  # disabled or gone since it was cached
    if len(messages) == 1:
        return _accept(verified_account, body, headers, messages[0])
    return _accept_many(verified_account, body, headers, messages)


def _unusable(
    account: ProviderAccount,
    body: bytes,
    headers: RequestHeaders,
    exc: UnusableWebhook,
) -> HttpResponse:
    """Verified, but its body cannot be used: stored dead with its error (a
    duplicate body once) and answered 2xx, as no retry can change the body."""
    event_id, created = unusable.webhook_unusable_store(
        account=account, body=body, headers=headers, error=exc
    )
    result = "unusable" if created else "unusable_duplicate"
    WEBHOOK_REQUESTS.labels(account.slug, result).inc()
    logger.warning(
        "webhook body unusable: stored dead",
        extra={
            "account": account.slug,
            "webhook_event_id": event_id,
            "code": exc.code,
            "duplicate": not created,
        },
    )
    return HttpResponse(_UNUSABLE_ANSWER[created], content_type="application/json")


# What a stored unusable body is answered, encoded once.
_UNUSABLE_ANSWER = {
    created: json.dumps(
        {"received": True, "duplicate": not created, "processed": False}
    ).encode()
    for created in (True, False)
}


def _verifier_unavailable(account: ProviderAccount, exc: ProviderError) -> JsonResponse:
    """The provider's own verification call failed (PayPal verifies by API):
    nothing is stored and the sender is asked to deliver again later."""
    WEBHOOK_REQUESTS.labels(account.slug, "verification_unavailable").inc()
    logger.warning(
        "webhook verification unavailable",
        extra={"account": account.slug, "outcome": str(exc.outcome), "code": exc.code},
    )
    response = _error(
        503,
        "verification_unavailable",
        "The webhook could not be verified right now; deliver it again later.",
    )
    response["Retry-After"] = "60"
    return response


def _unknown_account() -> JsonResponse:
    # No slug label: a scanner must not be able to grow the metric's labels.
    WEBHOOK_REQUESTS.labels("", "unknown_account").inc()
    return _error(404, "unknown_account", "No enabled account has this slug.")


class _UnusableFor(Exception):
    """An unusable body verified by the account as read again (``_verify``):
    its row names that account's kind and provider, not the cached one's."""

    def __init__(self, account: ProviderAccount, error: UnusableWebhook) -> None:
        super().__init__(error.message)
        self.account, self.error = account, error


# Rejections a changed account (new secret, provider) could turn into a pass.
_STALE_ACCOUNT_CODES = frozenset(
    {
        WebhookVerificationError.FORGED,
        WebhookVerificationError.MISSING_SECRET,
        WebhookVerificationError.INVALID_SECRET,
        WebhookVerificationError.NOT_SUPPORTED,
    }
)


def _verify(
    request: HttpRequest,
    account: ProviderAccount,
    body: bytes,
    headers: RequestHeaders,
    *,
    cached: bool,
) -> tuple[ProviderAccount | None, list[WebhookMessage] | None]:
    """The account that verified the request and its messages.

    A cached account that fails on its secret may predate a change in the
    admin: the row is read again and, if it changed, the request is verified
    once more with it. ``(None, None)``: the account is no longer enabled.
    """
    try:
        return account, _verify_with(request, account, body, headers)
    except WebhookVerificationError as exc:
        if not (cached and exc.code in _STALE_ACCOUNT_CODES):
            raise
        fresh, changed = accounts.refresh(account)
        if fresh is None:
            return None, None
        if not changed:
            raise
    try:
        return fresh, _verify_with(request, fresh, body, headers)
    except UnusableWebhook as exc:
        raise _UnusableFor(fresh, exc) from None


def _verify_with(
    request: HttpRequest,
    account: ProviderAccount,
    body: bytes,
    headers: RequestHeaders,
) -> list[WebhookMessage]:
    try:
        adapter = registry.get_adapter(account)
    except registry.UnknownProvider:
        raise WebhookVerificationError(
            "This account's provider is not configured.",
            code=WebhookVerificationError.NOT_SUPPORTED,
        ) from None
    # Building the absolute URL validates the host again: only for the
    # providers whose signature covers it.
    url = request.build_absolute_uri() if adapter.webhook_signs_url else ""
    return adapter.webhook_messages(body=body, headers=headers, url=url)


def _accept(
    account: ProviderAccount,
    body: bytes,
    headers: RequestHeaders,
    message: WebhookMessage,
) -> HttpResponse:
    event_id, created = services.webhook_event_receive(
        account=account, message=message, body=body, headers=headers
    )
    WEBHOOK_REQUESTS.labels(account.slug, "accepted" if created else "duplicate").inc()
    WEBHOOK_MESSAGES.labels(account.slug, "stored" if created else "duplicate").inc()
    if not created:
        logger.info(
            "webhook duplicate ignored",
            extra={"account": account.slug, "webhook_event_id": event_id},
        )
    return HttpResponse(_ANSWER[created], content_type="application/json")


# The two answers an accepted webhook gets, encoded once.
_ANSWER = {
    created: json.dumps({"received": True, "duplicate": not created}).encode()
    for created in (True, False)
}


def _accept_many(
    account: ProviderAccount,
    body: bytes,
    headers: RequestHeaders,
    messages: list[WebhookMessage],
) -> HttpResponse:
    """Zero or several messages: stored all or none, answered once."""
    limit = settings.WEBHOOK_MAX_MESSAGES_PER_REQUEST
    if len(messages) > limit:
        return _too_many_messages(account.slug, len(messages), limit)
    try:
        created = services.webhook_events_receive(
            account=account, messages=messages, body=body, headers=headers
        )
    except DatabaseError as exc:
        return _not_stored(account.slug, len(messages), exc)
    stored, duplicates = len(created), len(messages) - len(created)
    result = "accepted" if stored else "duplicate" if duplicates else "empty"
    WEBHOOK_REQUESTS.labels(account.slug, result).inc()
    WEBHOOK_MESSAGES.labels(account.slug, "stored").inc(stored)
    WEBHOOK_MESSAGES.labels(account.slug, "duplicate").inc(duplicates)
    logger.info(
        "webhook messages received",
        extra={
            "account": account.slug,
            "messages": len(messages),
            "stored": stored,
            "duplicates": duplicates,
        },
    )
    return JsonResponse(
        {
            "received": True,
            "messages": len(messages),
            "stored": stored,
            "duplicates": duplicates,
        }
    )


def _too_many_messages(slug: str, count: int, limit: int) -> JsonResponse:
    WEBHOOK_REQUESTS.labels(slug, "too_many_messages").inc()
    logger.warning(
        "webhook rejected: too many messages",
        extra={"account": slug, "messages": count, "limit": limit},
    )
    return _error(
        413,
        "too_many_messages",
        f"A webhook request may carry at most {limit} events; this one has {count}.",
    )


def _not_stored(slug: str, count: int, exc: DatabaseError) -> JsonResponse:
    """None of the request's messages were stored: the sender delivers it
    again later, and deduplication makes that safe."""
    WEBHOOK_REQUESTS.labels(slug, "storage_failed").inc()
    # The error's type only: its text may quote the values that failed.
    logger.error(
        "webhook messages not stored",
        extra={"account": slug, "messages": count, "error_type": type(exc).__name__},
    )
    response = _error(
        503,
        "storage_unavailable",
        "The webhook's events could not be stored; deliver it again later.",
    )
    response["Retry-After"] = "60"
    return response
