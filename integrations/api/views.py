"""Platform endpoints of the storefront API."""

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from integrations.api.serializers import (
    CurrentApiKeySerializer,
    ErrorResponseSerializer,
)


class CurrentApiKeyView(APIView):
    """The API key making the request, so a storefront can check its setup."""

    required_scopes = ()  # any valid key

    @extend_schema(
        operation_id="current_api_key",
        summary="The calling API key: name, prefix and scopes",
        responses={
            200: CurrentApiKeySerializer,
            401: ErrorResponseSerializer,
            429: ErrorResponseSerializer,
        },
    )
    def get(self, request: Request) -> Response:
        return Response(CurrentApiKeySerializer(request.auth).data)
