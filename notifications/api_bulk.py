"""Storefront bulk-send API: validate, call one service
(``notifications.services.bulk``), render.

Creating checks every recipient before anything is stored, once, with the
service's own check (``bulk_send_create(refuse_invalid=True)``): a bad
address or a template variable that neither the shared context nor that
recipient's data provides is a 400 naming the row. The message counts
recipients from 1, as ``send_bulk`` and the admin do ("Recipient 4"); the
``param`` is the body's path, counted from 0 as JSON indexes it
(``recipients[3].email``, ``recipients[3].context.first_name``). A request holds at most
``BULK_MAX_RECIPIENTS`` recipients and ``BULK_MAX_BODY_BYTES`` of body (413
beyond, before it is read); larger sends come from ``manage.py send_bulk``.
"""

import logging
from typing import Any

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiResponse,
    extend_schema,
)
from rest_framework.generics import GenericAPIView
from rest_framework.mixins import ListModelMixin
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from integrations.api.errors import ApiError, RequestTooLarge
from integrations.api.idempotency import idempotent
from integrations.api.serializers import ErrorResponseSerializer
from integrations.batch.state import FINAL
from notifications import services
from notifications.api import READ, SEND
from notifications.api_examples import (
    BULK_CANCELLED_RESPONSE,
    BULK_CREATE_REQUEST,
    BULK_CREATED_RESPONSE,
    BULK_FINISHED_ERROR,
    BULK_ROW_ERROR,
    BULK_RUNNING_RESPONSE,
)
from notifications.models import BulkSend, BulkSendStatus
from notifications.serializers import (
    BULK_MAX_BODY_BYTES,
    BulkSendCreatedSerializer,
    BulkSendCreateSerializer,
    BulkSendListSerializer,
    BulkSendSerializer,
)
from notifications.services.bulk import (
    bulk_send_cancel,
    bulk_send_create,
    bulk_send_status,
)

logger = logging.getLogger(__name__)

_ERRORS = {status: ErrorResponseSerializer for status in (401, 403, 404, 429)}
_BAD_PAGE = OpenApiResponse(
    ErrorResponseSerializer, description="A bad `?limit=` or cursor."
)
_BAD_KEY = OpenApiResponse(
    ErrorResponseSerializer,
    description="An Idempotency-Key over 255 characters.",
)
_REFUSED = (
    "Invalid address or missing variable (naming the row: the message counts "
    "recipients from 1, as `send_bulk` does; `param` is the body's path, "
    "`recipients[1]` being the second), unknown template, no or too many "
    "recipients, or a recipient's subject rendering too long "
    "(`subject_too_long`) or empty while every enabled email provider "
    "requires one (`subject_empty`; param `recipients[<i>].context`)."
)


def _service_error(exc: services.EmailInvalid | services.EmailRenderError) -> ApiError:
    """The service's refusal as a 400; one about a recipient names its row
    (``exc.row`` counts from 1, the body's path from 0)."""
    param = exc.param or None
    if isinstance(exc, services.EmailRenderError) and not exc.row:
        param = "template"  # the template itself, the same for every row
    elif exc.row:
        path = f"recipients[{exc.row - 1}]"
        if isinstance(exc, services.EmailInvalid):
            param = f"{path}.email"
        elif exc.code == "missing_variable":
            param = f"{path}.context.{exc.param}"
        else:
            param = f"{path}.context"
    return ApiError(str(exc), code=exc.code, param=param)


class _BoundedBody:
    """Refuse a POST body over BULK_MAX_BODY_BYTES with a 413 before it is
    read (after authentication, so a stranger gets a 401)."""

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)  # type: ignore[misc]
        if request.method != "POST":
            return
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0  # Django reads no body without a valid length
        if length > BULK_MAX_BODY_BYTES:
            raise RequestTooLarge(
                f"The request body is larger than {BULK_MAX_BODY_BYTES} bytes; "
                "send fewer recipients per request or use manage.py send_bulk."
            )


class BulkSendsView(_BoundedBody, ListModelMixin, GenericAPIView):
    required_scopes = {"GET": READ, "POST": SEND}
    serializer_class = BulkSendListSerializer

    def get_queryset(self) -> QuerySet[BulkSend]:
        return BulkSend.objects.select_related("job")

    @extend_schema(
        operation_id="bulk_sends_list",
        summary="Bulk sends, newest first, by cursor",
        responses={
            200: BulkSendListSerializer(many=True),
            400: _BAD_PAGE,
            **_ERRORS,
        },
    )
    def get(self, request: Request) -> Response:
        return self.list(request)

    @extend_schema(
        operation_id="bulk_send_create",
        summary="Send one template to many recipients",
        description="Stored with one row per recipient and worked by the "
        "workers, paced to each email account's rate limit; every recipient "
        "is sent at most once. Poll the send for progress. Suppressed "
        "addresses are stored `suppressed` and not sent.",
        request=BulkSendCreateSerializer,
        responses={
            201: BulkSendCreatedSerializer,
            400: OpenApiResponse(
                ErrorResponseSerializer,
                description=_REFUSED,
                examples=[OpenApiExample("Missing variable", value=BULK_ROW_ERROR)],
            ),
            409: OpenApiResponse(
                ErrorResponseSerializer,
                description="A request with this Idempotency-Key is in progress.",
            ),
            413: OpenApiResponse(
                ErrorResponseSerializer,
                description=f"Body over {BULK_MAX_BODY_BYTES} bytes.",
            ),
            **_ERRORS,
        },
        examples=[
            OpenApiExample("Newsletter", request_only=True, value=BULK_CREATE_REQUEST),
            OpenApiExample("Created", response_only=True, value=BULK_CREATED_RESPONSE),
        ],
    )
    # No provider call: the send and its rows commit with the stored response.
    @idempotent(share_commits=True)
    def post(self, request: Request) -> Response:
        serializer = BulkSendCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        try:
            # Every row is checked as it is stored; a bad one rolls all back.
            created = bulk_send_create(
                template=data["template"],
                category=data["category"],
                context=data["context"],
                name=data["name"],
                recipients=data["recipients"],
                refuse_invalid=True,
            )
        except (services.EmailInvalid, services.EmailRenderError) as exc:
            raise _service_error(exc) from exc
        bulk = created.bulk_send
        logger.info(
            "bulk send created through the API",
            extra={"bulk_send": bulk.public_id, "rows": created.added},
        )
        context = {"duplicates": created.duplicates}
        return Response(BulkSendCreatedSerializer(bulk, context=context).data, 201)


def _bulk_send(public_id: str) -> BulkSend:
    return get_object_or_404(
        BulkSend.objects.select_related("job"), public_id=public_id
    )


class BulkSendDetailView(APIView):
    required_scopes = {"GET": READ}

    @extend_schema(
        operation_id="bulk_send_retrieve",
        summary="A bulk send with its progress and recipients by outcome",
        responses={200: BulkSendSerializer, **_ERRORS},
        examples=[OpenApiExample("Running", value=BULK_RUNNING_RESPONSE)],
    )
    def get(self, request: Request, public_id: str) -> Response:
        return Response(BulkSendSerializer(_bulk_send(public_id)).data)


class BulkSendCancelView(APIView):
    required_scopes = {"POST": SEND}

    @extend_schema(
        operation_id="bulk_send_cancel",
        summary="Stop a bulk send",
        description="Nothing more is sent; messages already with a provider "
        "finish, so `status` may stay `running` (with `cancel_requested`) for "
        "a moment before `cancelled`. Cancelling a cancelled send answers it "
        "again; a send that is `done` or `failed` is a 409.",
        request=None,
        responses={
            200: BulkSendSerializer,
            400: _BAD_KEY,
            409: OpenApiResponse(
                ErrorResponseSerializer,
                description="The send has finished.",
                examples=[OpenApiExample("Finished", value=BULK_FINISHED_ERROR)],
            ),
            **_ERRORS,
        },
        examples=[
            OpenApiExample(
                "Cancelled", response_only=True, value=BULK_CANCELLED_RESPONSE
            )
        ],
    )
    @idempotent(required=False)
    def post(self, request: Request, public_id: str) -> Response:
        bulk = _bulk_send(public_id)
        status = bulk_send_status(bulk)
        if status in FINAL and status != BulkSendStatus.CANCELLED:
            raise ApiError(
                f"Bulk send {bulk.public_id} is {status}: nothing to cancel.",
                code="bulk_send_finished",
                status_code=409,
            )
        bulk_send_cancel(bulk_send=bulk)
        return Response(BulkSendSerializer(_bulk_send(public_id)).data)
