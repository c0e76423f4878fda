"""Storefront email API: validate, call one service, render.

Sending answers 201 with the stored message (``queued``, or ``suppressed``
when the address may not receive it: nothing is sent); the message goes out
from a task. A bad address, an unknown template or a variable the context
lacks is a 400 naming the field, before anything is stored.
"""

import hashlib

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
)
from rest_framework.generics import GenericAPIView
from rest_framework.mixins import ListModelMixin
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from integrations.api.errors import ApiError
from integrations.api.idempotency import HEADER, idempotent
from integrations.api.serializers import ErrorResponseSerializer
from integrations.models import ApiKey
from notifications import services
from notifications.api_examples import (
    BOUNCED_RESPONSE,
    INVALID_TEMPLATE_ERROR,
    QUEUED_RESPONSE,
    SEND_REQUEST,
)
from notifications.models import EmailMessage, EmailStatus
from notifications.selectors import with_next_try
from notifications.serializers import (
    EmailListSerializer,
    EmailMessageSerializer,
    EmailSendSerializer,
)

SEND = ["email:send"]
READ = ["email:read"]
_ERRORS = {status: ErrorResponseSerializer for status in (400, 401, 403, 404, 429)}


def _api_error(exc: services.EmailInvalid | services.EmailRenderError) -> ApiError:
    """A service error in the API's one error shape, naming the field."""
    param = exc.param or "template"
    if isinstance(exc, services.EmailRenderError) and exc.code == "missing_variable":
        param = f"context.{exc.param}"
    return ApiError(str(exc), code=exc.code, param=param)


def _scoped_key(request: Request) -> str:
    """The Idempotency-Key scoped to its caller, hashed: two callers' keys
    never name the same message."""
    owner = (
        f"api-key:{request.auth.pk}"
        if isinstance(request.auth, ApiKey)
        else f"user:{request.user.pk}"
    )
    scoped = f"email-api:{owner}:{request.headers.get(HEADER, '')}"
    return hashlib.sha256(scoped.encode()).hexdigest()


class EmailsView(ListModelMixin, GenericAPIView):
    required_scopes = {"GET": READ, "POST": SEND}
    serializer_class = EmailListSerializer

    def get_queryset(self) -> QuerySet[EmailMessage]:
        messages = with_next_try(EmailMessage.objects.select_related("account"))
        params = self.request.query_params
        if params.get("order_id"):
            messages = messages.filter(order_id=params["order_id"])
        status = params.get("status")
        if status is not None:
            if status not in EmailStatus.values:
                raise ApiError(
                    "status must be one of: " + ", ".join(EmailStatus.values) + ".",
                    code="invalid_status",
                    param="status",
                )
            messages = messages.filter(status=status)
        return messages

    @extend_schema(
        operation_id="emails_list",
        summary="Email messages, newest first, by cursor",
        parameters=[
            OpenApiParameter(
                "order_id", str, description="Only messages of this order."
            ),
            OpenApiParameter(
                "status",
                str,
                enum=EmailStatus.values,
                description="Only messages in this status.",
            ),
        ],
        responses={200: EmailListSerializer(many=True), **_ERRORS},
    )
    def get(self, request: Request) -> Response:
        return self.list(request)

    @extend_schema(
        operation_id="email_send",
        summary="Send one email from a template",
        description="Rendered and stored at once, sent from a task with failover "
        "across the email accounts. A suppressed address gives status "
        "`suppressed` and nothing is sent.",
        request=EmailSendSerializer,
        responses={
            201: EmailMessageSerializer,
            400: OpenApiResponse(
                ErrorResponseSerializer,
                description="Invalid address, unknown template, missing variable, "
                "or a subject that renders empty while every enabled email provider "
                "requires one (`subject_empty`, param `context`).",
                examples=[
                    OpenApiExample("Missing variable", value=INVALID_TEMPLATE_ERROR)
                ],
            ),
            **{k: v for k, v in _ERRORS.items() if k != 400},
        },
        examples=[
            OpenApiExample("Order confirmation", request_only=True, value=SEND_REQUEST),
            OpenApiExample("Queued", response_only=True, value=QUEUED_RESPONSE),
        ],
    )
    @idempotent
    def post(self, request: Request) -> Response:
        serializer = EmailSendSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        try:
            message = services.email_message_create(
                to=data["to"],
                template=data["template"],
                context=data["context"],
                category=data["category"],
                order_id=data["order_id"],
                idempotency_key=_scoped_key(request),
            )
        except (services.EmailInvalid, services.EmailRenderError) as exc:
            raise _api_error(exc) from exc
        return Response(EmailMessageSerializer(message).data, status=201)


class EmailDetailView(APIView):
    required_scopes = {"GET": READ}

    @extend_schema(
        operation_id="email_retrieve",
        summary="A message with its status and delivery events",
        responses={200: EmailMessageSerializer, **_ERRORS},
        examples=[OpenApiExample("Bounced", value=BOUNCED_RESPONSE)],
    )
    def get(self, request: Request, public_id: str) -> Response:
        message = get_object_or_404(
            with_next_try(
                EmailMessage.objects.select_related("account")
            ).prefetch_related("events"),
            public_id=public_id,
        )
        return Response(EmailMessageSerializer(message).data)
