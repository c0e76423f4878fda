"""Storefront inventory API: validate, call one service, render.

Reserving is all or nothing: a line that cannot be met answers 409
``insufficient_stock`` naming the SKU and how many units are available (also
in ``shortage``), and nothing is held.
"""

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
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

from integrations.api.errors import ApiError, error_body
from integrations.api.idempotency import idempotent
from integrations.api.serializers import ErrorResponseSerializer
from integrations.clock import database_now
from inventory import services
from inventory.models import Reservation, StockLevel
from inventory.serializers import (
    ReservationCreateSerializer,
    ReservationSerializer,
    StockLevelSerializer,
)

READ = ["inventory:read"]
WRITE = ["inventory:write"]

_ERRORS = {
    code: ErrorResponseSerializer for code in (400, 401, 403, 404, 409, 422, 429)
}
_STOCK_EXAMPLE = {
    "sku": "MUG-BLUE",
    "location": "BER",
    "on_hand": 12,
    "reserved": 3,
    "available": 9,
    "state": "in_stock",
    "oversold_by": 0,
    "synced_at": "2026-12-05T02:10:00Z",
}
_RESERVATION_EXAMPLE = {
    "id": "res_3k2j4h5g6f7d8s9a0q1w2e3r",
    "order_id": "order-1001",
    "status": "active",
    "expires_at": "2025-01-02T03:19:05Z",
    "seconds_left": 897,
    "lines": [{"sku": "MUG-BLUE", "location": "BER", "quantity": 2}],
    "created_at": "2025-01-02T03:04:05Z",
    "closed_at": None,
}
_SHORTAGE_EXAMPLE = {
    **error_body(
        409,
        "insufficient_stock",
        "Only 1 of 2 units of MUG-BLUE are available.",
        "lines",
    ),
    "shortage": {"sku": "MUG-BLUE", "requested": 2, "available": 1},
}


def _closed(status: str) -> dict:
    return {
        **_RESERVATION_EXAMPLE,
        "status": status,
        "seconds_left": 0,
        "closed_at": "2025-01-02T03:06:10Z",
    }


_RELEASED_CONFLICT = error_body(
    409,
    "reservation_released",
    "The reservation is released; it cannot be confirmed.",
    None,
)


def _api_error(exc: services.InventoryError) -> ApiError:
    status = 409 if isinstance(exc, services.InvalidState) else 400
    return ApiError(
        exc.message, code=exc.code, status_code=status, param=exc.param or None
    )


def _reservation(public_id: str) -> Reservation:
    return get_object_or_404(
        Reservation.objects.prefetch_related("lines__location"), public_id=public_id
    )


class StockView(ListModelMixin, GenericAPIView):
    required_scopes = {"GET": READ}
    serializer_class = StockLevelSerializer
    cursor_ordering = ("sku", "pk")

    def get_queryset(self) -> QuerySet[StockLevel]:
        rows = StockLevel.objects.select_related("location").filter(
            location__active=True
        )
        skus = self.request.query_params.getlist("sku")
        return rows.filter(sku__in=skus) if skus else rows

    def get_serializer_context(self) -> dict:
        return {**super().get_serializer_context(), "expired": self._expired}

    def paginate_queryset(self, queryset: QuerySet[StockLevel]) -> list | None:
        page = super().paginate_queryset(queryset)
        self._expired = services.expired_holds(
            [level.pk for level in page or []], database_now()
        )
        return page

    @extend_schema(
        operation_id="inventory_stock_list",
        summary="Available stock per SKU and location",
        parameters=[
            OpenApiParameter(
                "sku", OpenApiTypes.STR, many=True, description="Repeat for several."
            )
        ],
        responses={200: StockLevelSerializer(many=True), **_ERRORS},
        examples=[OpenApiExample("A page", response_only=True, value=_STOCK_EXAMPLE)],
    )
    def get(self, request: Request) -> Response:
        return self.list(request)


class ReservationsView(ListModelMixin, GenericAPIView):
    required_scopes = {"GET": READ, "POST": WRITE}
    serializer_class = ReservationSerializer

    def get_queryset(self) -> QuerySet[Reservation]:
        rows = Reservation.objects.prefetch_related("lines__location")
        order_id = self.request.query_params.get("order_id")
        return rows.filter(order_id=order_id) if order_id else rows

    @extend_schema(
        operation_id="inventory_reservations_list",
        summary="Reservations, newest first (optionally of one order)",
        parameters=[OpenApiParameter("order_id", OpenApiTypes.STR)],
        responses={200: ReservationSerializer(many=True), **_ERRORS},
        examples=[
            OpenApiExample("A page", response_only=True, value=_RESERVATION_EXAMPLE)
        ],
    )
    def get(self, request: Request) -> Response:
        return self.list(request)

    @extend_schema(
        operation_id="inventory_reservation_create",
        summary="Reserve stock for an order: every line or nothing",
        request=ReservationCreateSerializer,
        responses={
            201: ReservationSerializer,
            409: OpenApiResponse(
                ErrorResponseSerializer,
                description="insufficient_stock: a line cannot be met; "
                "`shortage` names the SKU and the units available.",
            ),
            **{k: v for k, v in _ERRORS.items() if k != 409},
        },
        examples=[
            OpenApiExample(
                "Two mugs",
                request_only=True,
                value={
                    "order_id": "order-1001",
                    "lines": [{"sku": "MUG-BLUE", "quantity": 2}],
                    "ttl_seconds": 900,
                },
            ),
            OpenApiExample("Reserved", response_only=True, value=_RESERVATION_EXAMPLE),
            OpenApiExample(
                "Not enough",
                response_only=True,
                status_codes=["409"],
                value=_SHORTAGE_EXAMPLE,
            ),
        ],
    )
    # No provider call: the reservation commits with its stored response.
    @idempotent(share_commits=True)
    def post(self, request: Request) -> Response:
        serializer = ReservationCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        lines = [
            services.LineRequest(x["sku"], x["quantity"], x["location"])
            for x in data["lines"]
        ]
        try:
            reservation = services.reservation_create(
                order_id=data["order_id"], lines=lines, ttl_seconds=data["ttl_seconds"]
            )
        except services.InsufficientStock as exc:
            body = error_body(409, exc.code, exc.message, exc.param)
            shortage = {
                "sku": exc.sku,
                "requested": exc.requested,
                "available": exc.available,
            }
            return Response({**body, "shortage": shortage}, status=409)
        except services.InventoryError as exc:
            raise _api_error(exc) from exc
        return Response(
            ReservationSerializer(_reservation(reservation.public_id)).data, status=201
        )


class ReservationDetailView(GenericAPIView):
    required_scopes = {"GET": READ}
    serializer_class = ReservationSerializer

    @extend_schema(
        operation_id="inventory_reservation_retrieve",
        summary="A reservation",
        responses={200: ReservationSerializer, **_ERRORS},
        examples=[OpenApiExample("Active", value=_RESERVATION_EXAMPLE)],
    )
    def get(self, request: Request, public_id: str) -> Response:
        return Response(ReservationSerializer(_reservation(public_id)).data)


class ReservationConfirmView(GenericAPIView):
    required_scopes = {"POST": WRITE}
    serializer_class = ReservationSerializer

    @extend_schema(
        operation_id="inventory_reservation_confirm",
        summary="Confirm: the units leave stock (idempotent)",
        request=None,
        responses={200: ReservationSerializer, **_ERRORS},
        examples=[
            OpenApiExample("Confirmed", response_only=True, value=_closed("confirmed")),
            OpenApiExample(
                "Already released",
                response_only=True,
                status_codes=["409"],
                value=_RELEASED_CONFLICT,
            ),
        ],
    )
    @idempotent(share_commits=True)
    def post(self, request: Request, public_id: str) -> Response:
        reservation = _reservation(public_id)
        try:
            services.reservation_confirm(reservation=reservation)
        except services.InventoryError as exc:
            raise _api_error(exc) from exc
        return Response(ReservationSerializer(_reservation(public_id)).data)


class ReservationReleaseView(GenericAPIView):
    required_scopes = {"POST": WRITE}
    serializer_class = ReservationSerializer

    @extend_schema(
        operation_id="inventory_reservation_release",
        summary="Release: the units are free again (idempotent)",
        request=None,
        responses={200: ReservationSerializer, **_ERRORS},
        examples=[
            OpenApiExample("Released", response_only=True, value=_closed("released"))
        ],
    )
    @idempotent(share_commits=True)
    def post(self, request: Request, public_id: str) -> Response:
        reservation = _reservation(public_id)
        try:
            services.reservation_release(reservation=reservation)
        except services.InventoryError as exc:
            raise _api_error(exc) from exc
        return Response(ReservationSerializer(_reservation(public_id)).data)
