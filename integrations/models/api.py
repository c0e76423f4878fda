"""Storefront credentials and stored responses for ``Idempotency-Key``."""

import hashlib
import secrets
from datetime import datetime

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils import timezone

KEY_PREFIX = "sy"


def hash_secret(secret: str) -> str:
    # Keys are 256-bit random strings, so a plain SHA-256 is enough: there is
    # nothing to brute-force that a slow hash would protect, and it does not
    # depend on SECRET_KEY, so rotating that does not invalidate every key.
    return hashlib.sha256(secret.encode()).hexdigest()


class ApiKey(models.Model):
    """A storefront credential. Only a hash is stored; the key is shown once.

    Keys look like ``sy_<prefix>_<secret>``: the prefix finds the row and is
    safe to show (admin, logs, ``revoke_api_key``), the secret is never stored.
    Create and revoke through ``integrations.api.services``.
    """

    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, unique=True, editable=False)
    key_hash = models.CharField(max_length=64, editable=False)
    scopes = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        verbose_name = "API key"
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix})"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    @staticmethod
    def generate() -> tuple[str, str, str]:
        """Return (full key, prefix, hash). The full key is never stored."""
        prefix = secrets.token_hex(6)
        secret = secrets.token_urlsafe(32)
        full = f"{KEY_PREFIX}_{prefix}_{secret}"
        return full, prefix, hash_secret(full)


class IdempotencyRecord(models.Model):
    """First response to a request carrying an ``Idempotency-Key``.

    Unique per (owner, key) so two API keys may use the same string. See
    ``integrations.api.idempotency`` for the life cycle.
    """

    class State(models.TextChoices):
        IN_FLIGHT = "in_flight"
        COMPLETED = "completed"
        # The handler ended by a BaseException (a worker timeout): the
        # retry takes the record over at once as a re-run.
        ABANDONED = "abandoned"

    owner = models.CharField(max_length=64, help_text="api-key:<id> or user:<id>")
    key = models.CharField(max_length=255)
    method = models.CharField(max_length=8)
    path = models.CharField(max_length=512)
    request_hash = models.CharField(max_length=64)
    state = models.CharField(max_length=16, choices=State.choices)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.JSONField(null=True, blank=True, encoder=DjangoJSONEncoder)
    response_headers = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    # What the handler set out to do, noted before its provider call
    # (integrations.reruns.record_intent): a re-run is credited with this only.
    done_mark = models.CharField(max_length=128, blank=True, default="")
    # Not stored: when the dead request this one took over began (set by the
    # claim, read around the handler as integrations.reruns).
    rerun_of: datetime | None = None

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["owner", "key"], name="uniq_idem_owner_key")
        ]

    def __str__(self) -> str:
        return f"{self.owner} {self.key}"
