"""API shapes for webhook endpoints. The secret appears only in the answers
to create and rotate, never on a read."""

from rest_framework import serializers

from integrations.models.accounts import Mode
from storefront_hooks.models import WebhookDelivery, WebhookEndpoint


class EndpointSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="public_id", read_only=True)

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
            "created_at",
        ]
        read_only_fields = fields


class EndpointWriteSerializer(serializers.Serializer):
    url = serializers.CharField(max_length=2000)
    # Blank means no description: PATCH with "" clears it.
    description = serializers.CharField(
        max_length=255, required=False, default="", allow_blank=True
    )
    event_types = serializers.ListField(
        child=serializers.CharField(max_length=128), allow_empty=False
    )
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
