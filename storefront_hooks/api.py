"""``/api/v1/webhook-endpoints/``: the storefront manages its own endpoints
(scope ``webhooks:manage``). Validate, call one service, render."""

from django.db.models import QuerySet
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.utils.cache import add_never_cache_headers
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.generics import GenericAPIView
from rest_framework.mixins import ListModelMixin
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from integrations.api.errors import ApiError, invalid_input
from integrations.api.serializers import ErrorResponseSerializer
from storefront_hooks import services
from storefront_hooks.models import WebhookEndpoint
from storefront_hooks.serializers import (
    DeliverySerializer,
    EndpointSerializer,
    EndpointWithSecretSerializer,
    EndpointWriteSerializer,
)

MANAGE = ["webhooks:manage"]
_BAD_INPUT = OpenApiResponse(
    ErrorResponseSerializer,
    description="`invalid_endpoint` naming the field (`param`); on a list, "
    "a bad `?limit=` or cursor.",
)
_COMMON = {
    401: OpenApiResponse(ErrorResponseSerializer, description="No or a bad key."),
    403: OpenApiResponse(
        ErrorResponseSerializer, description="The key lacks `webhooks:manage`."
    ),
    429: OpenApiResponse(ErrorResponseSerializer, description="Rate limited."),
}
# Collection: input errors; one endpoint: also an unknown id.
_ERRORS = {400: _BAD_INPUT, **_COMMON}
_ONE_ERRORS = {
    **_COMMON,
    404: OpenApiResponse(ErrorResponseSerializer, description="No such endpoint."),
}


def _invalid(exc: services.EndpointInvalid) -> ApiError:
    return ApiError(exc.message, code="invalid_endpoint", param=exc.param)


def _valid(serializer: EndpointWriteSerializer) -> dict:
    """The validated input; bad input is a 400 ``invalid_endpoint`` naming
    the field, whichever check refused it (docs/storefront-webhooks.md)."""
    if not serializer.is_valid():
        raise invalid_input(serializer.errors, code="invalid_endpoint")
    return dict(serializer.validated_data)


def _endpoint(public_id: str) -> WebhookEndpoint:
    return get_object_or_404(
        WebhookEndpoint.objects.select_related("account"), public_id=public_id
    )


def _with_secret(endpoint: WebhookEndpoint, secret: str, status: int) -> Response:
    data = EndpointWithSecretSerializer(endpoint, context={"secret": secret}).data
    response = Response(data, status=status)
    # Shown once: no cache on the way or in the client keeps it.
    add_never_cache_headers(response)
    return response


class EndpointListView(ListModelMixin, GenericAPIView):
    required_scopes = MANAGE
    serializer_class = EndpointSerializer

    def get_queryset(self) -> QuerySet[WebhookEndpoint]:
        return WebhookEndpoint.objects.all()

    @extend_schema(
        operation_id="webhook_endpoints_list",
        summary="Webhook endpoints, newest first, by cursor",
        responses={200: EndpointSerializer(many=True), **_ERRORS},
    )
    def get(self, request: Request) -> Response:
        return self.list(request)

    @extend_schema(
        operation_id="webhook_endpoint_create",
        summary="Register an endpoint; the answer holds its secret, shown once",
        request=EndpointWriteSerializer,
        responses={201: EndpointWithSecretSerializer, **_ERRORS},
    )
    def post(self, request: Request) -> Response:
        data = _valid(EndpointWriteSerializer(data=request.data))
        try:
            endpoint, secret = services.endpoint_create(**data)
        except services.EndpointInvalid as exc:
            raise _invalid(exc) from exc
        return _with_secret(endpoint, secret, 201)


class EndpointDetailView(APIView):
    required_scopes = MANAGE

    @extend_schema(
        operation_id="webhook_endpoint_get",
        responses={200: EndpointSerializer, **_ONE_ERRORS},
    )
    def get(self, request: Request, public_id: str) -> Response:
        return Response(EndpointSerializer(_endpoint(public_id)).data)

    @extend_schema(
        operation_id="webhook_endpoint_update",
        summary="Change an endpoint; enabled=true sends what waited",
        request=EndpointWriteSerializer(partial=True),
        responses={200: EndpointSerializer, 400: _BAD_INPUT, **_ONE_ERRORS},
    )
    def patch(self, request: Request, public_id: str) -> Response:
        endpoint = _endpoint(public_id)
        data = _valid(EndpointWriteSerializer(data=request.data, partial=True))
        enabled = data.pop("enabled", None)
        try:
            services.endpoint_update(endpoint=endpoint, **data)
        except services.EndpointInvalid as exc:
            raise _invalid(exc) from exc
        except WebhookEndpoint.DoesNotExist:
            raise Http404 from None  # deleted since it was loaded
        if enabled is True and not endpoint.enabled:
            services.endpoint_enable(endpoint=endpoint)
        elif enabled is False:
            services.endpoint_disable(endpoint=endpoint, reason="Disabled by the API.")
        return Response(EndpointSerializer(endpoint).data)

    @extend_schema(
        operation_id="webhook_endpoint_delete",
        responses={204: None, **_ONE_ERRORS},
    )
    def delete(self, request: Request, public_id: str) -> Response:
        services.endpoint_delete(endpoint=_endpoint(public_id))
        return Response(status=204)


class EndpointRotateView(APIView):
    required_scopes = MANAGE

    @extend_schema(
        operation_id="webhook_endpoint_rotate_secret",
        summary="New secret (shown once); the old one signs too for the overlap",
        request=None,
        responses={200: EndpointWithSecretSerializer, **_ONE_ERRORS},
    )
    def post(self, request: Request, public_id: str) -> Response:
        endpoint = _endpoint(public_id)
        secret = services.endpoint_secret_rotate(endpoint=endpoint)
        return _with_secret(endpoint, secret, 200)


class EndpointTestView(APIView):
    required_scopes = MANAGE

    @extend_schema(
        operation_id="webhook_endpoint_send_test",
        summary="Send a webhook.test event to the endpoint",
        request=None,
        responses={202: DeliverySerializer, **_ONE_ERRORS},
    )
    def post(self, request: Request, public_id: str) -> Response:
        delivery = services.test_event_send(endpoint=_endpoint(public_id))
        return Response(DeliverySerializer(delivery).data, status=202)
