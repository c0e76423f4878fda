"""Recurring charges API: a customer's subscriptions on a saved method,
created, listed, paused, resumed, moved to another method and cancelled by
the storefront.

Resuming never back-charges the periods missed while paused; if the charge's
date passed, the period the resume begins is charged at once."""

from collections.abc import Callable

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework.generics import GenericAPIView
from rest_framework.mixins import ListModelMixin
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from integrations.api.errors import ApiError, error_body
from integrations.api.idempotency import idempotent
from integrations.api.serializers import ErrorResponseSerializer
from integrations.money import MoneyError
from payments import services
from payments.api import READ, WRITE, actor, api_error, check_customer, scoped_key
from payments.models import RecurringCharge
from payments.serializers_recurring import (
    RecurringChargeCreateSerializer,
    RecurringChargeMethodSerializer,
    RecurringChargeSerializer,
)
from payments.services import recurring_manage

_ERRORS = {s: ErrorResponseSerializer for s in (400, 401, 403, 404, 409, 422, 429)}
_EXAMPLE = {
    "id": "rec_5t6y7u8i9o0p1a2s3d4f5g6h",
    "customer_reference": "cust-42",
    "payment_method": "pm_1q2w3e4r5t6y7u8i9o0p1a2s",
    "amount": 990,
    "currency": "EUR",
    "interval": "month",
    "interval_count": 1,
    "status": "active",
    "next_run_at": "2025-02-01T09:00:00Z",
    "description": "Coffee club, monthly",
    "runs": 1,
    "last_payment": "pay_3k2j4h5g6f7d8s9a0q1w2e3r",
    "created_at": "2025-01-01T09:00:00Z",
    "updated_at": "2025-01-01T09:00:02Z",
}
_CONFLICT = OpenApiResponse(
    ErrorResponseSerializer,
    description="`invalid_state`: the charge's status does not allow it (pause: "
    "only `active`; resume: only `paused` or `failed`; cancel and payment-method: "
    "any but `cancelled`).",
    examples=[
        OpenApiExample(
            "Cancelled already",
            value=error_body(
                409,
                "invalid_state",
                "A cancelled recurring charge cannot be resumed.",
                "status",
            ),
        )
    ],
)


def _manage_error(exc: services.PaymentError | MoneyError) -> ApiError:
    if isinstance(exc, MoneyError):
        return ApiError(str(exc), code="invalid", param="amount")
    if isinstance(exc, recurring_manage.MethodNotFound):
        return ApiError(exc.message, code=exc.code, status_code=404, param=exc.param)
    return api_error(exc)


def _recurring(public_id: str) -> RecurringCharge:
    return get_object_or_404(
        RecurringCharge.objects.select_related("saved_method", "last_payment"),
        public_id=public_id,
    )


_CREATE_EXAMPLES = [
    OpenApiExample(
        "Monthly 9.90 EUR",
        request_only=True,
        value={
            "payment_method": "pm_1q2w3e4r5t6y7u8i9o0p1a2s",
            "amount": 990,
            "currency": "EUR",
            "interval": "month",
            "interval_count": 1,
            "first_run_at": "2025-01-01T09:00:00Z",
            "description": "Coffee club, monthly",
        },
    ),
    OpenApiExample(
        "Created",
        response_only=True,
        status_codes=["201"],
        value={**_EXAMPLE, "runs": 0, "last_payment": None},
    ),
    OpenApiExample(
        "Expired card",
        response_only=True,
        status_codes=["400"],
        value=error_body(
            400,
            "payment_method_expired",
            "The payment method's card has expired.",
            "payment_method",
        ),
    ),
]


class CustomerRecurringChargesView(ListModelMixin, GenericAPIView):
    required_scopes = {"GET": READ, "POST": WRITE}
    serializer_class = RecurringChargeSerializer

    def get_queryset(self) -> QuerySet[RecurringCharge]:
        return (
            RecurringCharge.objects.filter(
                saved_method__customer_reference=self.kwargs["customer_reference"]
            )
            .select_related("saved_method", "last_payment")
            .order_by("-created_at", "-pk")
        )

    @extend_schema(
        operation_id="recurring_charges_list",
        summary="A customer's recurring charges, newest first, by cursor",
        responses={200: RecurringChargeSerializer(many=True), **_ERRORS},
    )
    def get(self, request: Request, customer_reference: str) -> Response:
        return self.list(request)

    @extend_schema(
        operation_id="recurring_charge_create",
        summary="Charge a saved method every period",
        description="The method must be this customer's (another's answers 404 "
        "`payment_method_not_found`) and usable at the first run (400 "
        "`payment_method_expired`, or `payment_method_unusable`: its account disabled "
        "or one this deploy cannot call; `payment_method_declined`: its latest "
        "decided charge a hard decline, card lost, stolen, expired or closed). "
        "A first run "
        "more than five minutes in the past answers 400 `first_run_in_past`, one "
        "more than two years ahead 400 `first_run_too_far`.",
        request=RecurringChargeCreateSerializer,
        responses={201: RecurringChargeSerializer, **_ERRORS},
        examples=_CREATE_EXAMPLES,
    )
    # No provider call: the charge commits with the stored response.
    @idempotent(share_commits=True)
    def post(self, request: Request, customer_reference: str) -> Response:
        check_customer(customer_reference)
        serializer = RecurringChargeCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        try:
            recurring = recurring_manage.recurring_create(
                customer_reference=customer_reference,
                method_id=data["payment_method"],
                amount=data["amount"],
                currency=data["currency"],
                interval=data["interval"],
                interval_count=data["interval_count"],
                first_run_at=data["first_run_at"],
                description=data["description"],
                idempotency_key=scoped_key(request),
            )
        except (services.PaymentError, MoneyError) as exc:
            raise _manage_error(exc) from exc
        return Response(RecurringChargeSerializer(recurring).data, status=201)


class RecurringChargeDetailView(APIView):
    required_scopes = {"GET": READ}

    @extend_schema(
        operation_id="recurring_charge_retrieve",
        summary="A recurring charge",
        responses={200: RecurringChargeSerializer, **_ERRORS},
        examples=[OpenApiExample("Active", value=_EXAMPLE)],
    )
    def get(self, request: Request, public_id: str) -> Response:
        return Response(RecurringChargeSerializer(_recurring(public_id)).data)


_DECLINED = OpenApiExample(
    "Declined for good",
    response_only=True,
    status_codes=["400"],
    value=error_body(
        400,
        "payment_method_declined",
        "The payment method was declined for good (card lost, stolen, "
        "expired or closed, payments stopped by the cardholder, or the issuer "
        "said not to try again); move the charge to another payment method.",
        "payment_method",
    ),
)


_RETRIES_EXHAUSTED = OpenApiExample(
    "Retried as often as allowed",
    response_only=True,
    status_codes=["400"],
    value=error_body(
        400,
        "payment_method_retries_exhausted",
        "The charge was retried on this payment method as often as card "
        "networks allow for now; move it to another payment method.",
        "payment_method",
    ),
)


def _change_view(
    name: str,
    service: Callable[..., RecurringCharge],
    summary: str,
    example: dict,
    *refusals: OpenApiExample,
) -> type[APIView]:
    """One POST that changes a charge's status through ``service``."""

    class View(APIView):
        required_scopes = {"POST": WRITE}

        @extend_schema(
            operation_id=f"recurring_charge_{name}",
            summary=summary,
            request=None,
            responses={200: RecurringChargeSerializer, **_ERRORS, 409: _CONFLICT},
            examples=[OpenApiExample(name.capitalize(), value=example), *refusals],
        )
        @idempotent(share_commits=True)
        def post(self, request: Request, public_id: str) -> Response:
            recurring = _recurring(public_id)
            try:
                recurring = service(recurring=recurring, actor=actor(request))
            except services.PaymentError as exc:
                raise _manage_error(exc) from exc
            return Response(RecurringChargeSerializer(recurring).data)

    View.__name__ = View.__qualname__ = f"RecurringCharge{name.capitalize()}View"
    return View


RecurringChargePauseView = _change_view(
    "pause",
    recurring_manage.recurring_pause,
    "Pause a recurring charge (only an active one)",
    {**_EXAMPLE, "status": "paused"},
)
RecurringChargeResumeView = _change_view(
    "resume",
    recurring_manage.recurring_resume,
    "Resume a paused recurring charge, or a failed one (stopped by a decline) "
    "on the same method. If its date passed meanwhile (or it failed: its "
    "period was declined), the period the resume begins is charged at once and "
    "later ones follow from it; periods missed "
    "are never charged. Its method must still be usable (400 "
    "`payment_method_expired`, `payment_method_unusable`). One on a method "
    "whose latest decided charge (this charge's or any other's) was a hard "
    "decline (card lost or stolen, expired, number or account invalid or "
    "closed; or, paused, with such a decline waiting to stop it) answers 400 "
    "`payment_method_declined`: move it to another "
    "method (`.../payment-method/`), as do the cardholder's stop of payments "
    "(`stop_payment`) and a decline the gateway advised not to try again. A "
    "soft decline (insufficient funds, do-not-honour) is resumable, up to "
    "RECURRING_SOFT_DECLINE_RETRY_LIMIT retries (15) of the charge on the "
    "method in 30 days, then 400 `payment_method_retries_exhausted`.",
    {**_EXAMPLE, "next_run_at": "2025-04-01T09:00:00Z"},
    _DECLINED,
    _RETRIES_EXHAUSTED,
)
RecurringChargeCancelView = _change_view(
    "cancel",
    recurring_manage.recurring_cancel,
    "Cancel a recurring charge for good (never charged nor resumed again)",
    {**_EXAMPLE, "status": "cancelled"},
)


_METHOD_NOT_FOUND = OpenApiExample(
    "Another customer's method",
    response_only=True,
    status_codes=["400"],
    value=error_body(
        400,
        "payment_method_not_found",
        "No such payment method for this customer.",
        "payment_method",
    ),
)


class RecurringChargeMethodView(APIView):
    required_scopes = {"POST": WRITE}

    @extend_schema(
        operation_id="recurring_charge_change_method",
        summary="Charge another saved method of the customer (a failed charge "
        "resumes on it)",
        description="The method must be the charge's customer's (another's, or "
        "none: 400 `payment_method_not_found`) and usable at the next run (400 "
        "`payment_method_expired`, or `payment_method_unusable`: its account "
        "disabled or one this deploy cannot call). A `failed` charge becomes "
        "`active`: the period the change begins is charged at once (its "
        "declined one is unpaid), missed periods never. Moved (whatever its "
        "status) to a method whose latest decided charge was a hard decline, "
        "the one it stopped on included: 400 `payment_method_declined` (as its "
        "resume); a `failed` one moved back to a method it was retried on as "
        "often as allowed: 400 `payment_method_retries_exhausted`. A paused "
        "one stays "
        "paused; a cancelled one answers 409 `invalid_state`.",
        request=RecurringChargeMethodSerializer,
        responses={200: RecurringChargeSerializer, **_ERRORS, 409: _CONFLICT},
        examples=[
            OpenApiExample(
                "New card",
                request_only=True,
                value={"payment_method": "pm_9z8x7c6v5b4n3m2l1k0j9h8g"},
            ),
            OpenApiExample(
                "Resumed on it",
                response_only=True,
                status_codes=["200"],
                value={**_EXAMPLE, "payment_method": "pm_9z8x7c6v5b4n3m2l1k0j9h8g"},
            ),
            _METHOD_NOT_FOUND,
            _DECLINED,
            _RETRIES_EXHAUSTED,
        ],
    )
    @idempotent(share_commits=True)
    def post(self, request: Request, public_id: str) -> Response:
        recurring = _recurring(public_id)
        serializer = RecurringChargeMethodSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            recurring = recurring_manage.recurring_method_change(
                recurring=recurring,
                method_id=serializer.validated_data["payment_method"],
                actor=actor(request),
            )
        except recurring_manage.MethodNotFound as exc:
            # The charge exists: a bad method in the body is a 400, not a 404.
            raise ApiError(exc.message, code=exc.code, param=exc.param) from exc
        except services.PaymentError as exc:
            raise _manage_error(exc) from exc
        return Response(RecurringChargeSerializer(recurring).data)
