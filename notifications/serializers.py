"""API shapes of email messages, their delivery events and bulk sends."""

from datetime import datetime
from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from integrations.clock import database_now
from notifications.models import BulkSend, EmailEvent, EmailMessage
from notifications.models.messages import CATEGORY_CHOICES
from notifications.providers.base import EmailCategory
from notifications.selectors import email_next_try
from notifications.services.bulk import (
    bulk_send_counts,
    bulk_send_next_try,
    bulk_send_progress,
    bulk_send_status,
)
from notifications.services.failures import public_error
from notifications.timeline import email_events_ordered


class EmailSendSerializer(serializers.Serializer):
    to = serializers.CharField(max_length=254, help_text="The recipient's address.")
    template = serializers.CharField(
        max_length=100, help_text="A directory under templates/emails/."
    )
    context = serializers.DictField(
        required=False,
        default=dict,
        help_text="Variables the template uses; a missing one is a 400.",
    )
    category = serializers.ChoiceField(
        choices=[c.value for c in EmailCategory],
        default=EmailCategory.TRANSACTIONAL.value,
        help_text="Marketing mail carries one-click unsubscribe headers.",
    )
    order_id = serializers.CharField(
        max_length=64, required=False, default="", allow_blank=True
    )


class EmailEventListSerializer(serializers.ListSerializer):
    """A message's events in lifecycle order across our and the provider's
    clocks (``notifications.timeline``), as staff see them."""

    def to_representation(self, data: Any) -> list[Any]:
        events = data.all() if hasattr(data, "all") else data
        return super().to_representation(email_events_ordered(events))


class EmailEventSerializer(serializers.ModelSerializer):
    """An event as the storefront sees it: our own fields only. The
    provider's details (a remote server's reply, its classification, a
    reader's user agent) are for staff, in the admin."""

    code = serializers.SerializerMethodField(
        help_text="Our error code on a send's own event (failed, unknown, "
        "retry); empty otherwise."
    )

    class Meta:
        model = EmailEvent
        fields = ["type", "bounce_type", "occurred_at", "code"]
        list_serializer_class = EmailEventListSerializer

    def get_code(self, event: EmailEvent) -> str:
        if event.webhook_id is not None:
            return ""  # a provider's event: its fields are its own
        return str(event.details.get("code", "") or "")


class EmailListSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="public_id")
    to = serializers.CharField(source="to_email")
    account = serializers.SerializerMethodField()
    provider = serializers.SerializerMethodField()
    next_try_at = serializers.SerializerMethodField(
        help_text="When a `queued` message waiting for a provider is tried "
        "again (its waits grow while the account it needs stays paused); null "
        "when it does not wait."
    )
    next_try_due = serializers.SerializerMethodField(
        help_text="True when next_try_at has passed: the message is due now "
        "and goes with the next sweep (within a minute or two), not at that "
        "past time; false when it does not wait or its next try is ahead."
    )

    class Meta:
        model = EmailMessage
        fields = [
            "id",
            "to",
            "template",
            "category",
            "subject",
            "status",
            "account",
            "provider",
            "provider_message_id",
            "order_id",
            "attempts",
            "created_at",
            "sent_at",
            "updated_at",
            "next_try_at",
            "next_try_due",
        ]

    def get_account(self, message: EmailMessage) -> str | None:
        return message.account.slug if message.account_id else None

    def get_provider(self, message: EmailMessage) -> str | None:
        return message.account.provider if message.account_id else None

    @extend_schema_field(serializers.DateTimeField(allow_null=True))
    def get_next_try_at(self, message: EmailMessage) -> str | None:
        at = email_next_try(message)
        return serializers.DateTimeField().to_representation(at) if at else None

    def get_next_try_due(self, message: EmailMessage) -> bool:
        at = email_next_try(message)
        # The database's time (the clock retry_at is set by), read once a list.
        if at is None:
            return False
        if "now" not in self.context:
            self.context["now"] = database_now()
        return at <= self.context["now"]


class EmailMessageSerializer(EmailListSerializer):
    events = EmailEventSerializer(many=True, read_only=True)
    error_code = serializers.CharField(
        read_only=True,
        help_text="Why the send did not go through (invalid_recipient, "
        "no_provider_available, read_timeout, ...); empty when nothing failed "
        "or a provider event has since reported on the message.",
    )
    last_error = serializers.SerializerMethodField(
        help_text="Our sentence for error_code; never the provider's text."
    )

    class Meta(EmailListSerializer.Meta):
        fields = [
            *EmailListSerializer.Meta.fields,
            "error_code",
            "last_error",
            "events",
        ]

    def get_last_error(self, message: EmailMessage) -> str:
        return public_error(message)


# --- Bulk sends ------------------------------------------------------------
# One request carries at most this many recipients (and the body at most
# BULK_MAX_BODY_BYTES, a 413 beyond): larger sends come from ``send_bulk``.
BULK_MAX_RECIPIENTS = 10_000
BULK_MAX_BODY_BYTES = 4 * 1024 * 1024


class BulkRecipientInSerializer(serializers.Serializer):
    email = serializers.CharField(max_length=254, help_text="The recipient's address.")
    context = serializers.DictField(
        required=False,
        default=dict,
        help_text="This recipient's template data, over the shared context.",
    )


class BulkSendCreateSerializer(serializers.Serializer):
    template = serializers.CharField(
        max_length=100, help_text="A directory under templates/emails/."
    )
    category = serializers.ChoiceField(
        choices=CATEGORY_CHOICES,
        default=EmailCategory.MARKETING.value,
        help_text="Marketing mail carries one-click unsubscribe headers.",
    )
    context = serializers.DictField(
        required=False, default=dict, help_text="Data every recipient shares."
    )
    name = serializers.CharField(
        max_length=255, required=False, default="", allow_blank=True
    )
    recipients = BulkRecipientInSerializer(
        many=True,
        allow_empty=False,
        max_length=BULK_MAX_RECIPIENTS,
        help_text=f"1 to {BULK_MAX_RECIPIENTS:,} recipients; the same address "
        "twice is sent once. Every address and every recipient's template "
        "variables are checked before anything is stored.",
    )


class BulkProgressSerializer(serializers.Serializer):
    total = serializers.IntegerField(help_text="Recipients stored.")
    done = serializers.IntegerField(help_text="Recipients settled as sent.")
    failed = serializers.IntegerField(
        help_text="Recipients refused, failed, or whose outcome is unknown."
    )
    percent = serializers.FloatField()
    rate = serializers.FloatField(
        allow_null=True, help_text="Recipients settled per second."
    )
    eta_seconds = serializers.FloatField(allow_null=True)
    paced_until = serializers.DateTimeField(
        allow_null=True, help_text="Waiting out a provider's rate limit until then."
    )
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)


class BulkSendListSerializer(serializers.ModelSerializer):
    """A bulk send read from its batch job (``services.bulk``)."""

    id = serializers.CharField(source="public_id")
    status = serializers.SerializerMethodField(
        help_text="pending, running, done, cancelled or failed."
    )
    cancel_requested = serializers.SerializerMethodField()
    progress = serializers.SerializerMethodField()

    class Meta:
        model = BulkSend
        fields = [
            "id",
            "name",
            "template",
            "category",
            "status",
            "cancel_requested",
            "progress",
            "created_at",
        ]

    def get_status(self, bulk: BulkSend) -> str:
        return bulk_send_status(bulk)

    def get_cancel_requested(self, bulk: BulkSend) -> bool:
        return bool(bulk.job_id and bulk.job.cancel_requested)

    @extend_schema_field(BulkProgressSerializer(allow_null=True))
    def get_progress(self, bulk: BulkSend) -> dict[str, Any] | None:
        progress = bulk_send_progress(bulk)
        if progress is None:
            return None
        fields = BulkProgressSerializer().fields
        values = {name: getattr(progress, name) for name in fields}
        return BulkProgressSerializer(values).data


class BulkSendSerializer(BulkSendListSerializer):
    outcomes = serializers.SerializerMethodField(
        help_text="Recipients by their message's status (sent, delivered, "
        "bounced, suppressed, failed, unknown, ...); `waiting`: handed back to "
        "be tried later; `cancelled`: ended by the send's cancel before it "
        "went out; `pending`: no message yet."
    )

    next_try_at = serializers.SerializerMethodField(
        help_text="When the first `waiting` recipient is tried again (its "
        "waits grow while the account it needs stays paused); null when none "
        "waits (a time already passed: see next_try_due)."
    )
    next_try_due = serializers.SerializerMethodField(
        help_text="True when next_try_at has passed: that recipient is due "
        "now and goes when the send is next swept (within a minute or two); "
        "false when none waits or its next try is ahead."
    )

    class Meta(BulkSendListSerializer.Meta):
        fields = [
            *BulkSendListSerializer.Meta.fields,
            "outcomes",
            "next_try_at",
            "next_try_due",
        ]

    @extend_schema_field(
        {"type": "object", "additionalProperties": {"type": "integer"}}
    )
    def get_outcomes(self, bulk: BulkSend) -> dict[str, int]:
        return bulk_send_counts(bulk)

    @extend_schema_field(serializers.DateTimeField(allow_null=True))
    def get_next_try_at(self, bulk: BulkSend) -> str | None:
        at = self._next_try(bulk)
        return serializers.DateTimeField().to_representation(at) if at else None

    def get_next_try_due(self, bulk: BulkSend) -> bool:
        at = self._next_try(bulk)
        # The database's time, the clock the rows' next tries are set by.
        return at is not None and at <= database_now()

    def _next_try(self, bulk: BulkSend) -> datetime | None:
        # Read once for both fields.
        found = self.context.setdefault("next_try", {})
        if bulk.pk not in found:
            found[bulk.pk] = bulk_send_next_try(bulk)
        return found[bulk.pk]


class BulkSendCreatedSerializer(BulkSendSerializer):
    duplicates = serializers.SerializerMethodField(
        help_text="Recipients given again under an address already in the "
        "request: sent once."
    )

    class Meta(BulkSendSerializer.Meta):
        fields = [*BulkSendSerializer.Meta.fields, "duplicates"]

    def get_duplicates(self, bulk: BulkSend) -> int:
        return int(self.context.get("duplicates", 0))
