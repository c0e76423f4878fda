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


class ErrorResponseSerializer(serializers.Serializer):
    error = ErrorSerializer()


class CurrentApiKeySerializer(serializers.Serializer):
    name = serializers.CharField()
    prefix = serializers.CharField()
    scopes = serializers.ListField(child=serializers.CharField())
    created_at = serializers.DateTimeField()
