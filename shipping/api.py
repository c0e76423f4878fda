"""Storefront shipping API: validate, call one service, render.

Prices are integers in minor units. Buying a label answers 201 with the
shipment, 202 with status ``unknown`` when the carrier did not answer
(reconciliation asks it; poll the shipment), 422 ``label_failed`` when the
carrier refused. A request no carrier could accept is a 400 naming the field.
"""

import hashlib
import math

from django.db.models import QuerySet
from django.http import HttpResponse
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

from integrations.api.errors import ApiError, error_body
from integrations.api.idempotency import HEADER, idempotent
from integrations.api.serializers import ErrorResponseSerializer
from integrations.errors import Outcome, ProviderError, public_provider_code
from integrations.models import ApiKey, ProviderAccount
from shipping import codec, services
from shipping.api_examples import (
    ADDRESS_VALIDATE_REQUEST,
    ADDRESS_VALIDATE_RESPONSE,
    PICKUP_REQUEST,
    PICKUP_RESPONSE,
    RATE_REQUEST,
    RATES_RESPONSE,
    SHIPMENT_RESPONSE,
)
from shipping.models import Pickup, PickupStatus, Shipment, ShipmentStatus
from shipping.providers.base import PickupRequest
from shipping.providers.validation import InvalidShippingRequest
from shipping.selectors import own_label_refunded, parcel_label, shipment_label
from shipping.serializers import (
    AddressValidateSerializer,
    AddressValidationSerializer,
    PickupCreateSerializer,
    PickupSerializer,
    RateRequestSerializer,
    RateShopSerializer,
    ShipmentCreateSerializer,
    ShipmentListSerializer,
    ShipmentSerializer,
)
from shipping.services.pickups import CarrierUnavailable

READ = ["shipping:read"]
WRITE = ["shipping:write"]
_CONTENT_TYPES = {"pdf": "application/pdf", "zpl": "text/plain", "png": "image/png"}
_ERRORS = {
    status: ErrorResponseSerializer
    for status in (400, 401, 403, 404, 409, 422, 429, 502, 503)
}


def _error(description: str) -> OpenApiResponse:
    return OpenApiResponse(ErrorResponseSerializer, description=description)


def _api_error(exc: Exception) -> ApiError:
    """A service or carrier error in the API's one error shape."""
    if isinstance(exc, InvalidShippingRequest):
        return ApiError(exc.message, code=exc.code, param=exc.param)
    if isinstance(exc, services.ShippingError):
        return ApiError(
            exc.message,
            code=exc.code,
            status_code=exc.status_code,
            param=exc.param or None,
            provider_code=exc.provider_code,
        )
    assert isinstance(exc, ProviderError)
    if exc.outcome == Outcome.REJECTED:
        # Never the carrier's text: it may quote what we sent (issue 17, 3).
        return ApiError(
            services.public_refusal(exc.code),
            code=exc.code,
            status_code=422,
            provider_code=public_provider_code(exc),
        )
    return ApiError(
        "The carrier did not answer; nothing was changed. Try again later.",
        code="carrier_unavailable",
        status_code=503,
    )


def _scoped_key(request: Request) -> str:
    """The Idempotency-Key scoped to its caller, hashed to the key's column."""
    owner = (
        f"api-key:{request.auth.pk}"
        if isinstance(request.auth, ApiKey)
        else f"user:{request.user.pk}"
    )
    scoped = f"{owner}:{request.headers.get(HEADER, '')}"
    return hashlib.sha256(scoped.encode()).hexdigest()


def _shipment(public_id: str) -> Shipment:
    return get_object_or_404(
        Shipment.objects.select_related("account", "quote"), public_id=public_id
    )


class RatesView(APIView):
    required_scopes = {"POST": READ}

    @extend_schema(
        operation_id="shipping_rates",
        summary="Quote every carrier at once, cheapest first",
        description="Each carrier answers within the deadline or is listed in "
        "`failures` with its reason (one that cannot take the request, such as "
        "a field longer than its limit, `field_too_long`, is listed without "
        "being called, its `param` naming the field; when none can, a 400 "
        "names the field); a repeat of "
        "the same request within a few minutes answers from the cache "
        "(`cached: true`). Quotes are bought by `quote_id` until `expires_at`.",
        request=RateRequestSerializer,
        responses={200: RateShopSerializer, **_ERRORS},
        examples=[
            OpenApiExample(
                "A parcel within the US", request_only=True, value=RATE_REQUEST
            ),
            OpenApiExample("Rates", response_only=True, value=RATES_RESPONSE),
        ],
    )
    def post(self, request: Request) -> Response:
        serializer = RateRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            result = services.rates_shop(request=serializer.to_request())
        except (InvalidShippingRequest, services.ShippingError) as exc:
            raise _api_error(exc) from exc
        return Response(RateShopSerializer(result).data)


class AddressValidateView(APIView):
    required_scopes = {"POST": READ}

    @extend_schema(
        operation_id="shipping_address_validate",
        summary="Validate and standardise an address at a carrier",
        request=AddressValidateSerializer,
        responses={200: AddressValidationSerializer, **_ERRORS},
        examples=[
            OpenApiExample(
                "Lower-case city", request_only=True, value=ADDRESS_VALIDATE_REQUEST
            ),
            OpenApiExample(
                "Standardised", response_only=True, value=ADDRESS_VALIDATE_RESPONSE
            ),
        ],
    )
    def post(self, request: Request) -> Response:
        serializer = AddressValidateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        try:
            account, result = services.address_validate(
                address=codec.address_from_json(data["address"]),
                account_slug=data["account"],
            )
        except (ProviderError, services.ShippingError) as exc:
            raise _api_error(exc) from exc
        body = {
            "account": account.slug,
            "valid": result.valid,
            "address": codec.address_to_json(result.address)
            if result.address
            else None,
            "residential": result.residential,
            "messages": list(result.messages),
        }
        return Response(AddressValidationSerializer(body).data)


class ShipmentsView(ListModelMixin, GenericAPIView):
    required_scopes = {"GET": READ, "POST": WRITE}
    serializer_class = ShipmentListSerializer

    def get_queryset(self) -> QuerySet[Shipment]:
        shipments = Shipment.objects.select_related("account", "quote")
        order_id = self.request.query_params.get("order_id")
        return shipments.filter(order_id=order_id) if order_id else shipments

    @extend_schema(
        operation_id="shipments_list",
        summary="Shipments, newest first, by cursor (filter: ?order_id=)",
        responses={200: ShipmentListSerializer(many=True), **_ERRORS},
        examples=[
            OpenApiExample(
                "A page",
                response_only=True,
                value={
                    k: v
                    for k, v in SHIPMENT_RESPONSE.items()
                    if k not in ("tracking_events", "parcel_labels")
                },
            )
        ],
    )
    def get(self, request: Request) -> Response:
        return self.list(request)

    @extend_schema(
        operation_id="shipment_create",
        summary="Buy the label for a quote",
        request=ShipmentCreateSerializer,
        responses={
            201: ShipmentSerializer,
            202: OpenApiResponse(
                ShipmentSerializer,
                description="The carrier did not answer: status `unknown` until "
                "reconciliation asks it (never a second label); or `purchasing`, "
                "a retry whose first request died during the buy. Poll the "
                "shipment.",
            ),
            **_ERRORS,
            409: _error(
                "`quote_expired`: the quote expired; `account_disabled`: its "
                "carrier account was disabled; `ship_date_passed`: its "
                "`ship_date` is now before yesterday in UTC: shop rates again. "
                "`quote_bought` / `label_in_progress`: another key's label of "
                "the quote was bought or may be (named in the message): poll "
                "that shipment, never buy again. `idempotency_key_in_use`: "
                "this key's first request is still running."
            ),
        },
        examples=[
            OpenApiExample(
                "Buy a quote",
                request_only=True,
                value={"quote_id": "rq_8d7f6s5a4q3w2e1r0t9y8u7i", "order_id": "o-1001"},
            ),
            OpenApiExample("Bought", response_only=True, value=SHIPMENT_RESPONSE),
        ],
    )
    @idempotent
    def post(self, request: Request) -> Response:
        serializer = ShipmentCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            shipment = services.shipment_buy(
                **serializer.validated_data, idempotency_key=_scoped_key(request)
            )
        except (InvalidShippingRequest, services.ShippingError) as exc:
            raise _api_error(exc) from exc
        data = ShipmentSerializer(shipment).data
        if shipment.status == ShipmentStatus.FAILED:
            body = error_body(
                422,
                "label_failed",
                services.public_refusal(shipment.failure_code, "the label"),
            )
            return Response({**body, "shipment": data}, status=422)
        # Purchasing: a retry after the first request died mid-buy; the sweep
        # asks the carrier for the label it made.
        unsettled = (ShipmentStatus.UNKNOWN, ShipmentStatus.PURCHASING)
        code = 202 if shipment.status in unsettled else 201
        return Response(data, status=code)


class ShipmentDetailView(APIView):
    required_scopes = {"GET": READ}

    @extend_schema(
        operation_id="shipment_retrieve",
        summary="A shipment with its tracking events and label link",
        responses={200: ShipmentSerializer, **_ERRORS},
        examples=[OpenApiExample("In transit", value=SHIPMENT_RESPONSE)],
    )
    def get(self, request: Request, public_id: str) -> Response:
        return Response(ShipmentSerializer(_shipment(public_id)).data)


class ShipmentLabelView(APIView):
    required_scopes = {"GET": READ}

    @extend_schema(
        operation_id="shipment_label",
        summary="The label file (PDF, ZPL or PNG)",
        parameters=[
            OpenApiParameter(
                "parcel",
                int,
                description="One parcel's own label in a multi-parcel shipment "
                "(its `sequence` in `parcel_labels`); absent: the shipment's label.",
            )
        ],
        responses={(200, "application/pdf"): bytes, **_ERRORS},
    )
    def get(self, request: Request, public_id: str) -> HttpResponse:
        shipment = _shipment(public_id)
        if not shipment.tracking_number or shipment.status != ShipmentStatus.PURCHASED:
            raise ApiError(
                "The shipment has no label.", code="no_label", status_code=404
            )
        parcel = request.query_params.get("parcel")
        if parcel is not None:
            data = _parcel_label(shipment, parcel)
            name = f"{shipment.public_id}-{parcel}"
        else:
            # None also when its own label stays refunded (a parcel's bought back).
            data, name = shipment_label(shipment), shipment.public_id
            if data is None:
                raise _own_label_missing(shipment)
        fmt = shipment.label_format
        response = HttpResponse(data, content_type=_CONTENT_TYPES[fmt])
        response["Content-Disposition"] = f'attachment; filename="{name}.{fmt}"'
        return response


def _own_label_missing(shipment: Shipment) -> ApiError:
    if own_label_refunded(shipment):
        return ApiError(
            "The shipment's label was voided.", code="no_label", status_code=404
        )
    # Settled by hand as bought without its file: live and billed all the same.
    return ApiError(
        "The label was bought, but its file is not stored here.",
        code="label_not_stored",
        status_code=404,
    )


def _parcel_label(shipment: Shipment, parcel: str) -> bytes:
    found = parcel_label(shipment, parcel)
    if found is None:
        raise ApiError(
            "The parcel has no label of its own, or it was voided.",
            code="no_label",
            status_code=404,
            param="parcel",
        )
    return found


# What a void answers, each code under its status (shipping.services.voids).
_VOID_ERRORS = {
    **_ERRORS,
    400: _error(
        "`idempotency_key_required` / `idempotency_key_invalid`: the "
        "Idempotency-Key header is missing or malformed."
    ),
    404: _error("`not_found`: no such shipment."),
    409: _error(
        "`invalid_state`: the shipment was never bought (`purchasing`, "
        "`unknown`, `failed`; a `voided` one is answered 200 as it stands, "
        "under any key, with nothing sent to the carrier). "
        "`in_transit`: the carrier may have the parcel. `void_refused`: the "
        "carrier refused the void; the label stays bought. `void_in_progress`: "
        "another request's void is at the carrier. `idempotency_key_in_use`: "
        "this key's first request is still running."
    ),
    422: _error(
        "`not_supported`: the carrier has no void (DHL Express); the label "
        "stays bought and valid, billed only once the carrier picks the parcel "
        "up. `idempotency_key_reused`: the key was sent with another request."
    ),
    502: _error(
        "The carrier did not void the label; the shipment stays bought. "
        "`carrier_unknown`: its answer was lost and the void may have landed: "
        "send the void again. `carrier_not_processed`: it did nothing; try "
        "again later. `carrier_rejected`: it refused the request."
    ),
    503: _error(
        "`provider_unavailable`: this deploy cannot call the shipment's "
        "carrier account (retired provider, credentials it cannot read)."
    ),
}


class ShipmentVoidView(APIView):
    required_scopes = {"POST": WRITE}

    @extend_schema(
        operation_id="shipment_void",
        summary="Void the label (refused once the parcel is in transit)",
        request=None,
        responses={200: ShipmentSerializer, **_VOID_ERRORS},
        examples=[
            OpenApiExample(
                "Voided",
                response_only=True,
                value={
                    **SHIPMENT_RESPONSE,
                    "status": "voided",
                    "tracking_status": "pre_transit",
                    "tracking_events": SHIPMENT_RESPONSE["tracking_events"][:1],
                },
            )
        ],
    )
    @idempotent
    def post(self, request: Request, public_id: str) -> Response:
        try:
            shipment = services.shipment_void(shipment=_shipment(public_id))
        except services.ShippingError as exc:
            raise _api_error(exc) from exc
        return Response(ShipmentSerializer(shipment).data)


class PickupsView(APIView):
    required_scopes = {"POST": WRITE}

    @extend_schema(
        operation_id="pickup_create",
        summary="Book a carrier pickup",
        request=PickupCreateSerializer,
        responses={
            201: PickupSerializer,
            202: PickupSerializer,
            **_ERRORS,
            422: _error(
                "A carrier's refusal in our words; `pickup_failed`: this key's "
                "booking failed (a replay after its window), with the pickup "
                "under `pickup`: book again under a new key."
            ),
        },
        examples=[
            OpenApiExample("Tomorrow", request_only=True, value=PICKUP_REQUEST),
            OpenApiExample("Booked", response_only=True, value=PICKUP_RESPONSE),
        ],
    )
    @idempotent
    def post(self, request: Request) -> Response:
        serializer = PickupCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        account = ProviderAccount.objects.filter(
            kind="shipping", enabled=True, slug=data.pop("account")
        ).first()
        if account is None:
            raise ApiError(
                "No such shipping account.",
                code="not_found",
                status_code=404,
                param="account",
            )
        shipment_ids = data.pop("shipments")
        pickup_request = PickupRequest(
            **{**data, "address": codec.address_from_json(data["address"])},
            idempotency_key=_scoped_key(request),
        )
        try:
            pickup = services.pickup_schedule(
                account=account, request=pickup_request, shipment_ids=shipment_ids
            )
        except (ProviderError, services.ShippingError) as exc:
            raise _pickup_error(exc) from exc
        data = PickupSerializer(pickup).data
        if pickup.status == PickupStatus.FAILED:
            # A replay of a key whose booking failed (refused, or staff found
            # none): settled, as a failed label's buy answers, never a 202.
            body = error_body(422, "pickup_failed", _PICKUP_FAILED)
            return Response({**body, "pickup": data}, status=422)
        # Booked, its day maybe gone or the booking cancelled since (a replay
        # of the key): 201 with the pickup as it stands; 202 is for doubt.
        booked = (PickupStatus.SCHEDULED, PickupStatus.PAST, PickupStatus.CANCELLED)
        code = 201 if pickup.status in booked else 202
        return Response(data, status=code)


_PICKUP_FAILED = (
    "no pickup was booked under this key (the carrier refused it, or none was "
    "found at the carrier): book again under a new key"
)


def _pickup_error(exc: Exception) -> ApiError:
    error = _api_error(exc)
    retry_after = getattr(exc, "retry_after", None)
    if isinstance(exc, CarrierUnavailable) and retry_after:
        # DRF's handler turns ``wait`` into the Retry-After header.
        error.wait = math.ceil(retry_after)  # type: ignore[attr-defined]
    return error


class PickupDetailView(APIView):
    required_scopes = {"GET": READ}

    @extend_schema(
        operation_id="pickup_retrieve",
        summary="A booked pickup as it stands now (past once its day has gone, "
        "cancelled, or settled from unknown)",
        responses={200: PickupSerializer, **_ERRORS},
        examples=[OpenApiExample("Booked", response_only=True, value=PICKUP_RESPONSE)],
    )
    def get(self, request: Request, public_id: str) -> Response:
        pickup = get_object_or_404(
            Pickup.objects.select_related("account"), public_id=public_id
        )
        return Response(PickupSerializer(pickup).data)


class PickupCancelView(APIView):
    required_scopes = {"POST": WRITE}

    @extend_schema(
        operation_id="pickup_cancel",
        summary="Cancel a booked pickup (422 not_supported where the carrier "
        "takes cancellations only directly, as Shippo's)",
        request=None,
        responses={200: PickupSerializer, **_ERRORS},
        examples=[
            OpenApiExample(
                "Cancelled",
                response_only=True,
                value={**PICKUP_RESPONSE, "status": "cancelled"},
            )
        ],
    )
    @idempotent
    def post(self, request: Request, public_id: str) -> Response:
        pickup = get_object_or_404(
            Pickup.objects.select_related("account"), public_id=public_id
        )
        try:
            pickup = services.pickup_cancel(pickup=pickup)
        except services.ShippingError as exc:
            raise _api_error(exc) from exc
        return Response(PickupSerializer(pickup).data)
