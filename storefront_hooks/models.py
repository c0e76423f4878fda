"""Endpoints the storefront registered, and one delivery row per event and
endpoint (the outbox row that makes a delivery survive a dead worker)."""

from datetime import datetime
from typing import Any

from django.db import models
from django.db.models.functions import Now
from django.utils import timezone

from integrations import crypto
from integrations.models import DeliveryStatus, Event, ProviderAccount
from integrations.models.accounts import Mode, SecretRowsQuerySet
from integrations.public_ids import PublicIdField
from storefront_hooks.signing import SECRET_PREFIX


class WebhookEndpoint(models.Model):
    """One storefront URL and the event types it wants.

    Its signing secrets live encrypted like provider credentials. Each endpoint
    owns a hidden ``ProviderAccount`` (kind ``webhooks``) so its calls get the
    shared client's timeouts, its own breaker and the call log.
    """

    public_id = PublicIdField(prefix="we_")
    url = models.URLField(max_length=2000)
    description = models.CharField(max_length=255, blank=True, default="")
    event_types = models.JSONField(
        default=list, help_text='Exact names or "prefix.*", e.g. payment.*.'
    )
    mode = models.CharField(max_length=8, choices=Mode.choices, default=Mode.TEST)
    enabled = models.BooleanField(default=True)
    disabled_reason = models.CharField(max_length=255, blank=True, default="")
    disabled_at = models.DateTimeField(null=True, blank=True)
    # First failure since the last success; cleared by a success.
    failing_since = models.DateTimeField(null=True, blank=True)
    # When the sweep or a delivery first saw the breaker forced open by staff;
    # cleared at the release, which moves failing_since on by the pause.
    paused_since = models.DateTimeField(null=True, blank=True, editable=False)
    # Staff's last discard of the waiting deliveries (and who): a delivery in
    # flight then is ended like them when it settles (``services.rows``).
    discarded_at = models.DateTimeField(null=True, blank=True, editable=False)
    discarded_by = models.CharField(
        max_length=150, blank=True, default="", editable=False
    )
    # Until when the receiver asked us to wait (a 429/503's Retry-After):
    # every delivery to it is held back until then (services.deliveries).
    retry_after_until = models.DateTimeField(
        "held for its Retry-After until", null=True, blank=True, editable=False
    )
    # When the answer that last set or ended that hold came (a 429, a later
    # success, staff's lift): an older answer settled later changes nothing.
    retry_after_answered_at = models.DateTimeField(
        null=True, blank=True, editable=False
    )
    secrets_encrypted = models.TextField(blank=True, default="", editable=False)
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True)
    account = models.OneToOneField(
        ProviderAccount,
        on_delete=models.PROTECT,
        related_name="storefront_endpoint",
        editable=False,
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    # Signing secrets are masked like credentials, queryset writes included.
    objects = SecretRowsQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return self.url

    def __repr__(self) -> str:
        return f"<WebhookEndpoint {self.public_id}>"

    def stored_secrets(self) -> dict[str, Any]:
        return crypto.decrypt_json(self.secrets_encrypted)

    def store_secrets(
        self, *, current: str, previous: str = "", earlier: list | None = None
    ) -> None:
        """``earlier``: ``[secret, expires ISO 8601]`` pairs, the secrets
        rotated out before ``previous`` whose own overlap still runs."""
        values: dict[str, Any] = {"current": current}
        if previous:
            values["previous"] = previous
        if earlier:
            values["earlier"] = earlier
        self.secrets_encrypted = crypto.encrypt_json(values)

    def redaction_secrets(self) -> list[Any]:
        """What integrations.secrets_registry masks: every stored secret, as
        given and in the forms a receiver may quote it back in (the key
        without its ``whsec_`` prefix, as libraries hold it; JSON-escaped)."""
        values = self.stored_secrets()
        found = [values["current"], values.get("previous", "")]
        found += [secret for secret, _ in values.get("earlier", [])]
        forms = []
        for secret in filter(None, found):
            for form in (secret, secret.removeprefix(SECRET_PREFIX)):
                forms += [form, form.replace("/", "\\/")]
        return list(dict.fromkeys(forms))

    def signing_secrets(self, now: Any = None) -> list[str]:
        """The current secret, plus each earlier one while its overlap runs."""
        values = self.stored_secrets()
        now = now or timezone.now()
        found = [values["current"]]
        expires = self.previous_secret_expires_at
        if values.get("previous") and expires and expires > now:
            found.append(values["previous"])
        for secret, ends in values.get("earlier", []):
            if datetime.fromisoformat(ends) > now:
                found.append(secret)
        return found

    def wants(self, event_type: str) -> bool:
        for pattern in self.event_types:
            if pattern == event_type or pattern == "*":
                return True
            if pattern.endswith(".*") and event_type.startswith(pattern[:-1]):
                return True
        return False


# How the reason of an endpoint disabled for its failing streak begins: a
# success that ends the streak undoes that disable (``services.rows``).
STREAK_DISABLED_PREFIX = "Every delivery failed for "

# How a discarded delivery's last error begins (then staff's name).
DISCARDED_BY = "Discarded by "

# A delivery still to be sent (the sweep's rows).
WAITING = models.Q(status__in=[DeliveryStatus.PENDING, DeliveryStatus.FAILED])


class WebhookDelivery(models.Model):
    """One event to one endpoint. ``public_id`` is the ``webhook-id`` header,
    the same on every attempt; ``body`` is fixed when the row is made."""

    public_id = PublicIdField(prefix="msg_")
    # No index of its own: (endpoint, created_at) serves the key, and the
    # planner would pick a bare one over the sweep's partial index.
    endpoint = models.ForeignKey(
        WebhookEndpoint,
        on_delete=models.CASCADE,
        related_name="deliveries",
        db_index=False,
    )
    # Null for a test event sent from the admin or the API.
    event = models.ForeignKey(
        Event, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    event_type = models.CharField(max_length=128)
    body = models.TextField()
    status = models.CharField(
        max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True, default="")
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_duration_ms = models.PositiveIntegerField(null=True, blank=True)
    last_response = models.TextField(blank=True, default="")
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    # The database's clock, the one the sweep measures "lost" and the age
    # limit by (integrations.clock), whatever the fanning-out worker's says.
    created_at = models.DateTimeField(db_default=Now())
    # Staff's last restart (enable, send again): the age limit counts from
    # the later of this and created_at.
    restarted_at = models.DateTimeField(null=True, blank=True, editable=False)
    delivered_at = models.DateTimeField(null=True, blank=True)
    # Held back by the endpoint's in-flight cap: a slot a delivery to it frees
    # goes to its oldest such row (``services.handoff``); the claim clears it.
    # The database's default serves the code before the field (a deploy).
    waits_for_slot = models.BooleanField(
        default=False, db_default=False, editable=False
    )

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name_plural = "webhook deliveries"
        constraints = [
            models.UniqueConstraint(
                fields=["endpoint", "event"], name="webhookdelivery_unique_event"
            )
        ]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"]),
            models.Index(fields=["endpoint", "created_at"]),
            # The sweep's reads, per endpoint it may send to, oldest first:
            # only waiting rows, so a paused or disabled endpoint's backlog
            # (or years of delivered rows) is never read.
            models.Index(
                fields=["endpoint", "created_at"],
                condition=WAITING,
                name="webhookdelivery_waiting",
            ),
            # The hand-on's read: an endpoint's oldest row waiting for a slot,
            # not its whole backlog of retries (a few rows at most).
            models.Index(
                fields=["endpoint", "created_at"],
                condition=WAITING & models.Q(waits_for_slot=True),
                name="webhookdelivery_slot_waiting",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} -> {self.endpoint_id} ({self.public_id})"
