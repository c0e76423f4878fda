"""API shapes for webhook endpoints. The secret appears only in the answers
to create and rotate, never on a read."""

from datetime import datetime
from typing import Any

from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from integrations.models.accounts import Mode
from storefront_hooks import catalog
from storefront_hooks.models import WebhookDelivery, WebhookEndpoint
from storefront_hooks.services.hold import hold_until


class EndpointSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="public_id", read_only=True)
    retry_after_until = serializers.SerializerMethodField(
        help_text="Until when deliveries wait for the endpoint's Retry-After; "
        "null if they do not (a wait that passed is none)."
    )

    class Meta:
        model = WebhookEndpoint
        fields = [
            "id",
            "url",
            "description",
            "event_types",
            "mode",
            "enabled",
            "disabled_reason",
            "retry_after_until",
            "created_at",
        ]
        read_only_fields = fields

    def get_retry_after_until(self, obj: WebhookEndpoint) -> datetime | None:
        return hold_until(obj, timezone.now())


EVENT_TYPES_MAX = len(catalog.subscribable_patterns())


@extend_schema_field(
    {
        "type": "array",
        "items": {"type": "string", "maxLength": 128},
        "minItems": 1,
        "maxItems": EVENT_TYPES_MAX,
        "uniqueItems": True,
        "description": 'Exact names or "prefix.*" (or "*"), each once.',
    }
)
class EventTypesField(serializers.ListField):
    """Each pattern once: a repeated one is refused, not stored again."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("child", serializers.CharField(max_length=128))
        super().__init__(allow_empty=False, max_length=EVENT_TYPES_MAX, **kwargs)

    def to_internal_value(self, data: Any) -> list[str]:
        # The length first: 100,000 entries are refused before each is read.
        if isinstance(data, list) and len(data) > EVENT_TYPES_MAX:
            self.fail("max_length", max_length=EVENT_TYPES_MAX)
        values = super().to_internal_value(data)
        repeated = catalog.repeated_message(values)
        if repeated:
            raise serializers.ValidationError(repeated)
        return values


class EndpointWriteSerializer(serializers.Serializer):
    url = serializers.CharField(max_length=2000)
    # Blank means no description: PATCH with "" clears it.
    description = serializers.CharField(
        max_length=255, required=False, default="", allow_blank=True
    )
    event_types = EventTypesField()
    mode = serializers.ChoiceField(choices=Mode.choices, required=False)
    enabled = serializers.BooleanField(required=False)


class EndpointWithSecretSerializer(EndpointSerializer):
    secret = serializers.SerializerMethodField()

    class Meta(EndpointSerializer.Meta):
        fields = [*EndpointSerializer.Meta.fields, "secret"]
        read_only_fields = fields

    def get_secret(self, obj: WebhookEndpoint) -> str:
        return self.context["secret"]


class DeliverySerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="public_id", read_only=True)

    class Meta:
        model = WebhookDelivery
        fields = ["id", "event_type", "status", "attempts", "created_at"]
        read_only_fields = fields
