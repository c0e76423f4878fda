"""Endpoints: create (the secret is returned once), change, rotate the secret
with an overlap, enable (sends what waited), disable, delete."""

import logging
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from redis.exceptions import RedisError

from integrations import crypto
from integrations.breaker import BreakerSnapshot, breaker_for
from integrations.breaker.store import published_modes
from integrations.cache_clock import redis_outage_guard
from integrations.models import DeliveryStatus, ProviderAccount
from integrations.models.accounts import BreakerMode, Mode
from storefront_hooks import catalog
from storefront_hooks.models import (
    DISCARDED_BY,
    STREAK_DISABLED_PREFIX,
    WAITING,
    WebhookDelivery,
    WebhookEndpoint,
)
from storefront_hooks.safety import UrlRefused, url_check
from storefront_hooks.services.clock import database_now, stamp
from storefront_hooks.services.queue import enqueue_on_commit
from storefront_hooks.signing import secret_new

logger = logging.getLogger(__name__)

# The hidden accounts' kind and provider code (no adapter is registered:
# they are only ever used by ``storefront_hooks.transport``).
ACCOUNT_KIND = "webhooks"
ACCOUNT_PROVIDER = "storefront"
# Rotated-out secrets still in their overlap kept besides the newest one.
EARLIER_SECRETS_MAX = 3
CREATED_DISABLED = "Disabled on creation."


class EndpointInvalid(ValueError):
    def __init__(self, message: str, *, param: str) -> None:
        super().__init__(message)
        self.message = message
        self.param = param


def endpoint_check(url: str, mode: str, event_types: list[str]) -> None:
    """Raise EndpointInvalid (with the field's name) if the values are bad."""
    if mode not in Mode.values:
        raise EndpointInvalid("Choose test or live.", param="mode")
    try:
        url_check(url, mode=mode)
    except UrlRefused as exc:
        raise EndpointInvalid(str(exc), param="url") from None
    if not event_types:
        raise EndpointInvalid("Name at least one event type.", param="event_types")
    repeated = catalog.repeated_message(event_types)
    if repeated:
        raise EndpointInvalid(repeated, param="event_types")
    bad = catalog.invalid_patterns(event_types)
    if bad:
        raise EndpointInvalid(
            f"Unknown event types: {', '.join(bad)}.", param="event_types"
        )


def _client_settings() -> dict[str, float | int]:
    # One attempt per delivery: the delivery row's schedule retries, not the
    # client (a POST retried at once would only reach a failing receiver).
    return {
        "max_attempts": 1,
        "connect_timeout": settings.STOREFRONT_WEBHOOK_CONNECT_TIMEOUT,
        "read_timeout": settings.STOREFRONT_WEBHOOK_READ_TIMEOUT,
        "deadline_seconds": settings.STOREFRONT_WEBHOOK_CONNECT_TIMEOUT
        + settings.STOREFRONT_WEBHOOK_READ_TIMEOUT,
    }


def endpoint_create(
    *,
    url: str,
    event_types: list[str],
    description: str = "",
    mode: str = Mode.TEST,
    enabled: bool = True,
) -> tuple[WebhookEndpoint, str]:
    """A new endpoint and its signing secret, which is never shown again.
    Made disabled if asked (in the same row: an event fanned out meanwhile
    must not be sent to it)."""
    endpoint_check(url, mode, event_types)
    secret = secret_new()
    endpoint = WebhookEndpoint(
        url=url, event_types=list(event_types), description=description, mode=mode
    )
    if not enabled:
        endpoint.enabled, endpoint.disabled_reason = False, CREATED_DISABLED
        endpoint.disabled_at = database_now()
    endpoint.store_secrets(current=secret)
    with transaction.atomic():
        # Disabled: failover, fan-out, health probes and intake skip it.
        endpoint.account = ProviderAccount.objects.create(
            kind=ACCOUNT_KIND,
            provider=ACCOUNT_PROVIDER,
            slug=f"storefront-{endpoint.public_id}",
            display_name=f"Storefront webhook {endpoint.public_id}",
            enabled=False,
            mode=mode,
            settings=_client_settings(),
        )
        endpoint.save()
    logger.info(
        "webhook endpoint created",
        extra={"endpoint": endpoint.public_id, "enabled": enabled},
    )
    return endpoint, secret


def endpoint_update(
    *,
    endpoint: WebhookEndpoint,
    url: str | None = None,
    event_types: list[str] | None = None,
    description: str | None = None,
    mode: str | None = None,
) -> WebhookEndpoint:
    """Change the given fields only, on the row as stored: what changed since
    ``endpoint`` was loaded (a 410's disable, the failing streak, a rotated
    secret) stays. ``endpoint`` is refreshed with the stored row."""
    changes: dict[str, Any] = {
        name: value
        for name, value in (
            ("url", url),
            ("event_types", None if event_types is None else list(event_types)),
            ("description", description),
            ("mode", mode),
        )
        if value is not None
    }
    # The URL check may ask DNS: not under the row's lock, unless what it
    # checks changed since ``endpoint`` was loaded.
    checked = _values_to_check(endpoint, changes)
    endpoint_check(*checked)
    with transaction.atomic():
        row = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
        if _values_to_check(row, changes) != checked:
            endpoint_check(*_values_to_check(row, changes))
        for name, value in changes.items():
            setattr(row, name, value)
        row.save(update_fields=[*changes, "updated_at"])
        if "mode" in changes:
            ProviderAccount.objects.filter(pk=row.account_id).update(mode=row.mode)
    for field in WebhookEndpoint._meta.concrete_fields:
        setattr(endpoint, field.attname, getattr(row, field.attname))
    logger.info("webhook endpoint changed", extra={"endpoint": endpoint.public_id})
    return endpoint


def _values_to_check(
    endpoint: WebhookEndpoint, changes: dict[str, Any]
) -> tuple[str, str, list[str]]:
    """The URL, mode and event types ``changes`` would leave. A stored list
    is checked once per type: a row saved before repeats were refused can
    still have its other fields changed."""
    stored = list(dict.fromkeys(endpoint.event_types))
    return (
        changes.get("url", endpoint.url),
        changes.get("mode", endpoint.mode),
        changes.get("event_types", stored),
    )


def endpoint_secret_rotate(
    *, endpoint: WebhookEndpoint, overlap_hours: float | None = None
) -> str:
    """A new current secret; the old one keeps signing (as a second
    signature) for ``overlap_hours``. Returns the new secret, once."""
    if overlap_hours is None:
        overlap_hours = settings.STOREFRONT_WEBHOOK_SECRET_OVERLAP_HOURS
    secret = secret_new()
    with transaction.atomic():
        row = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
        # The database's clock, as the claims' that sign with it (the worker's).
        now = database_now()
        row.store_secrets(
            current=secret,
            previous=row.stored_secrets()["current"],
            earlier=_still_signing(row, now),
        )
        row.previous_secret_expires_at = now + timedelta(hours=overlap_hours)
        row.save(update_fields=["secrets_encrypted", "previous_secret_expires_at"])
    endpoint.secrets_encrypted = row.secrets_encrypted
    endpoint.previous_secret_expires_at = row.previous_secret_expires_at
    logger.info(
        "webhook endpoint secret rotated",
        extra={"endpoint": endpoint.public_id, "overlap_hours": overlap_hours},
    )
    return secret


def _still_signing(row: WebhookEndpoint, now: datetime) -> list[list[str]]:
    """The rotated-out secrets whose overlap still runs, newest first: a
    second rotation must not cut short the first one's promised overlap.
    At most ``EARLIER_SECRETS_MAX``, so rotating in a loop cannot grow the
    signature header without bound."""
    stored = row.stored_secrets()
    expires = row.previous_secret_expires_at
    pairs = []
    if stored.get("previous") and expires and expires > now:
        pairs.append([stored["previous"], expires.isoformat()])
    pairs += [
        [secret, ends]
        for secret, ends in stored.get("earlier", [])
        if datetime.fromisoformat(ends) > now
    ]
    return pairs[:EARLIER_SECRETS_MAX]


def endpoint_disable(
    *, endpoint: WebhookEndpoint, reason: str, now: datetime | None = None
) -> bool:
    """Stop sending; deliveries wait until it is enabled. False if it was
    disabled already (the first reason stays), except that any other disable
    (staff's, a 410's) replaces one for the failing streak: a success whose
    answer was on its way undoes only a streak disable it finds unchanged
    (``endpoint_streak_disable_undo``), so it must not find this one."""
    now = now or database_now()
    disablable = Q(enabled=True)
    if not reason.startswith(STREAK_DISABLED_PREFIX):
        disablable |= Q(disabled_reason__startswith=STREAK_DISABLED_PREFIX)
    updated = WebhookEndpoint.objects.filter(disablable, pk=endpoint.pk).update(
        enabled=False, disabled_reason=reason[:255], disabled_at=now
    )
    if updated:
        endpoint.enabled, endpoint.disabled_reason = False, reason[:255]
        endpoint.disabled_at = now
        logger.warning(
            "webhook endpoint disabled",
            extra={"endpoint": endpoint.public_id, "reason": reason},
        )
    return bool(updated)


def endpoint_enable(*, endpoint: WebhookEndpoint, now: datetime | None = None) -> int:
    """Send again: everything waiting or failed is due now. Returns how many
    deliveries were enqueued (the sweeper takes any beyond one batch)."""
    now = now or database_now()  # the sweep's clock: it compares these
    waiting = [DeliveryStatus.PENDING, DeliveryStatus.FAILED]
    with transaction.atomic():
        WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
            enabled=True, disabled_reason="", disabled_at=None, failing_since=None
        )
        rows = WebhookDelivery.objects.filter(endpoint=endpoint, status__in=waiting)
        # Pending ones the breaker held back too; their age counts from now.
        rows.update(next_attempt_at=now, restarted_at=now)
        ids = list(
            rows.order_by("created_at", "pk").values_list("pk", flat=True)[
                : settings.STOREFRONT_WEBHOOK_SWEEP_BATCH
            ]
        )
        for delivery_id in ids:
            enqueue_on_commit(delivery_id)
    endpoint.enabled, endpoint.disabled_reason, endpoint.disabled_at = True, "", None
    endpoint.failing_since = None
    logger.info(
        "webhook endpoint enabled",
        extra={"endpoint": endpoint.public_id, "enqueued": len(ids)},
    )
    return len(ids)


def endpoint_streak_disable_undo(
    *, endpoint: WebhookEndpoint, disabled_at: datetime, now: datetime
) -> bool:
    """A success ended the failing streak the endpoint was disabled for by a
    failure settled while that success's answer was on its way: "every
    delivery failed" is not so, and the disable is undone (that one only,
    not a later one, a staff disable or a 410). What waited is enqueued if
    due, on its own schedule (the endpoint was off for a moment, not
    restarted by staff). False if there was nothing to undo."""
    with transaction.atomic():
        undone = WebhookEndpoint.objects.filter(
            pk=endpoint.pk,
            enabled=False,
            disabled_at=disabled_at,
            disabled_reason__startswith=STREAK_DISABLED_PREFIX,
        ).update(enabled=True, disabled_reason="", disabled_at=None)
        if not undone:
            return False
        due = Q(next_attempt_at__lte=now) | Q(
            next_attempt_at__isnull=True, status=DeliveryStatus.PENDING
        )
        waiting = WebhookDelivery.objects.filter(WAITING, due, endpoint=endpoint)
        ids = list(
            waiting.order_by("created_at", "pk").values_list("pk", flat=True)[
                : settings.STOREFRONT_WEBHOOK_SWEEP_BATCH
            ]
        )
        for delivery_id in ids:
            enqueue_on_commit(delivery_id)
    endpoint.enabled, endpoint.disabled_reason, endpoint.disabled_at = True, "", None
    logger.warning(
        "webhook endpoint disable undone",
        extra={"endpoint": endpoint.public_id, "enqueued": len(ids)},
    )
    return True


def _breaker_snapshot(endpoint: WebhookEndpoint) -> BreakerSnapshot | None:
    """The endpoint's breaker as it reads itself; None when Redis cannot be
    reached (the sweep and the admin then go by the account row; the
    outage record's one WARNING and pause, a line at INFO per read)."""
    try:
        return redis_outage_guard(breaker_for(endpoint.account).snapshot)
    except RedisError:
        logger.info(
            "webhook endpoint breaker unreadable",
            extra={
                "endpoint": endpoint.public_id,
                "breaker_mode": endpoint.account.breaker_mode,
            },
        )
        return None


def _forced_open(endpoint: WebhookEndpoint, snap: BreakerSnapshot | None) -> bool:
    mode = endpoint.account.breaker_mode if snap is None else snap.mode
    return mode == BreakerMode.FORCED_OPEN


def endpoint_paused_by_staff(endpoint: WebhookEndpoint) -> bool:
    """Whether staff forced the endpoint's breaker open: its deliveries are
    paused until it is released. Read as the breaker reads it (the published
    mode, else the account row), so it agrees with what refuses the calls;
    the account row alone while Redis is down."""
    return _forced_open(endpoint, _breaker_snapshot(endpoint))


def endpoints_paused_by_staff(endpoints: list[WebhookEndpoint]) -> set[int]:
    """The pks of ``endpoints`` staff paused, each read as
    ``endpoint_paused_by_staff`` reads one (the published mode, else the
    account row's), all in one round trip: a pipeline on Redis, one query on
    the database cache. By the account rows alone while Redis cannot be
    reached (one WARNING)."""
    published = _published_modes([endpoint.account for endpoint in endpoints])
    return {
        endpoint.pk
        for endpoint in endpoints
        if (published.get(endpoint.account_id) or endpoint.account.breaker_mode)
        == BreakerMode.FORCED_OPEN
    }


def _published_modes(accounts: list[ProviderAccount]) -> dict[int, Any]:
    """The breaker mode each account's breaker published (None: none); none
    while Redis cannot be reached (the outage record's one WARNING and pause;
    a line at INFO per read)."""
    if not accounts:
        return {}
    try:
        return redis_outage_guard(published_modes, [account.pk for account in accounts])
    except RedisError as exc:
        logger.info(
            "webhook endpoint breaker unreadable",
            extra={"endpoints": len(accounts), "error_type": type(exc).__name__},
        )
        return {}


def endpoint_pause_seen(endpoint: WebhookEndpoint, now: datetime) -> None:
    """Note when the pause was first seen (the sweep looks every minute)."""
    if endpoint.paused_since is None:
        WebhookEndpoint.objects.filter(
            pk=endpoint.pk, paused_since__isnull=True
        ).update(paused_since=now)
        endpoint.paused_since = now


def endpoint_pause_end(endpoint: WebhookEndpoint, now: datetime) -> None:
    """The pause is over. Its span was staff's doing, not the endpoint
    failing (no call went out), so the failing streak moves on by it."""
    with transaction.atomic():
        row = (
            WebhookEndpoint.objects.select_for_update()
            .filter(pk=endpoint.pk, paused_since__isnull=False)
            .only("paused_since", "failing_since")
            .first()
        )
        if row is None:
            endpoint.paused_since = None
            return
        failing = row.failing_since
        if failing is not None:
            failing += max(now - max(row.paused_since, failing), timedelta(0))
        WebhookEndpoint.objects.filter(pk=row.pk).update(
            paused_since=None, failing_since=failing
        )
    endpoint.paused_since, endpoint.failing_since = None, failing
    logger.info(
        "webhook endpoint pause ended",
        extra={
            "endpoint": endpoint.public_id,
            "paused_since": row.paused_since.isoformat(),
        },
    )


def endpoint_pause_text(endpoint: WebhookEndpoint) -> str:
    """For staff: why and since when deliveries are paused; "" if not."""
    snap = _breaker_snapshot(endpoint)
    if not _forced_open(endpoint, snap):
        return ""
    if (
        snap is None
        or snap.last_state != BreakerMode.FORCED_OPEN
        or snap.last_transition_at is None
    ):
        return "Paused: circuit breaker forced open (since unknown)"
    since = timezone.localtime(snap.last_transition_at).strftime("%Y-%m-%d %H:%M:%S")
    reason = snap.last_reason.replace("_", " ")  # "mode set to forced open by x"
    return f"Paused since {since}: circuit breaker {reason}"


def endpoint_delete(*, endpoint: WebhookEndpoint) -> None:
    """The endpoint, its deliveries, and its account with its call log."""
    with transaction.atomic():
        account_id = endpoint.account_id
        endpoint.delete()
        ProviderAccount.objects.filter(pk=account_id).delete()
    logger.info("webhook endpoint deleted", extra={"endpoint": endpoint.public_id})


def endpoint_secrets_reencrypt() -> int:
    """Re-encrypt every endpoint's secrets with the newest key (run by
    ``rotate_credentials`` in its transaction). Raises
    ``CredentialsDecryptError`` if a row cannot be read with any key."""
    count = 0
    with transaction.atomic():
        endpoints = WebhookEndpoint.objects.select_for_update().exclude(
            secrets_encrypted=""
        )
        for endpoint in endpoints.order_by("pk"):
            rotated = crypto.rotate(endpoint.secrets_encrypted)
            # A queryset update: updated_at stays, nothing staff-visible changed.
            WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
                secrets_encrypted=rotated
            )
            count += 1
    logger.info("webhook endpoint secrets re-encrypted", extra={"endpoints": count})
    return count


def endpoint_waiting_discard(*, endpoint: WebhookEndpoint, actor: str) -> int:
    """A disabled endpoint's pending and failed deliveries become dead, so
    enabling it sends none of them (each can still be sent again by hand);
    one in flight now becomes dead when it settles, unless delivered.
    Returns how many (not counting those in flight); 0 for an enabled
    endpoint, which is left alone."""
    with transaction.atomic():
        locked = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
        if locked.enabled:
            return 0
        waiting = [DeliveryStatus.PENDING, DeliveryStatus.FAILED]
        count = WebhookDelivery.objects.filter(
            endpoint=endpoint, status__in=waiting
        ).update(
            status=DeliveryStatus.DEAD,
            next_attempt_at=None,
            waits_for_slot=False,  # ended: no slot is handed to it
            last_error=f"{DISCARDED_BY}{actor} while the endpoint was disabled."[:255],
        )
        # A delivery in flight now is ended as these when it settles: one
        # claimed before this statement (the database's clock, as the claims'
        # are: services.clock), which saw the endpoint enabled.
        WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
            discarded_at=stamp(), discarded_by=actor[:150]
        )
    logger.info(
        "webhook deliveries discarded",
        extra={"endpoint": endpoint.public_id, "count": count, "actor": actor},
    )
    return count
