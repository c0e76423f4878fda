"""Serializers of the API platform. ``ErrorResponseSerializer`` documents the
one error shape; use it in ``extend_schema(responses=...)`` for 4xx codes."""

from rest_framework import serializers


class ErrorSerializer(serializers.Serializer):
    type = serializers.CharField(help_text="Broad class, e.g. invalid_request_error.")
    code = serializers.CharField(help_text="Stable machine-readable reason.")
    message = serializers.CharField(help_text="Human-readable explanation.")
    param = serializers.CharField(
        allow_null=True, help_text="The field or header at fault, if any."
    )
    provider_code = serializers.CharField(
        required=False,
        help_text="When a provider refused: its own code for the refusal "
        "(e.g. Stripe's decline code, PayPal's issue), as the provider sent it. "
        "The message is always ours.",
    )


class ErrorResponseSerializer(serializers.Serializer):
    error = ErrorSerializer()


class CurrentApiKeySerializer(serializers.Serializer):
    name = serializers.CharField()
    prefix = serializers.CharField()
    scopes = serializers.ListField(child=serializers.CharField())
    created_at = serializers.DateTimeField()
