"""Storefront payments API: validate, call one service, render.

Amounts are integers in minor units. A decline answers 402 with the card's
reason as ``code`` and the payment; an unknown outcome 202 with status
``unknown`` (reconciliation settles it; poll the payment); a fraud block 402
``payment_blocked``.
"""

from typing import Any

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.generics import GenericAPIView
from rest_framework.mixins import ListModelMixin
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from integrations.api.errors import ApiError, error_body
from integrations.api.idempotency import HEADER, idempotent, key_sent
from integrations.api.serializers import ErrorResponseSerializer
from integrations.models import ApiKey, ProviderAccount
from payments import selectors, services
from payments.models import (
    Payment,
    PaymentStatus,
    Refund,
    RefundStatus,
    SavedPaymentMethod,
)
from payments.serializers import (
    CaptureSerializer,
    PaymentCreateSerializer,
    PaymentMethodCreateSerializer,
    PaymentSerializer,
    RefundCreateSerializer,
    RefundSerializer,
    SavedPaymentMethodSerializer,
    payment_create_validated,
    payment_data,
)
from payments.services.messages import refusal_type

READ = ["payments:read"]
WRITE = ["payments:write"]

_ERROR_STATUS = {
    services.PanRefused: 400,
    services.AmountExceedsRefundable: 400,
    services.AmountExceedsCapturable: 400,
    services.InvalidState: 409,
    services.KeyReused: 422,
    services.GatewayRejected: 402,
    services.GatewayUnavailable: 503,
}


def api_error(exc: services.PaymentError) -> ApiError:
    code = next((s for cls, s in _ERROR_STATUS.items() if isinstance(exc, cls)), 400)
    error_type = refusal_type(exc.code) if code == 402 else None
    return ApiError(
        exc.message,
        code=exc.code,
        status_code=code,
        # A key reused is the header's, as the API's own check answers it.
        param=HEADER if isinstance(exc, services.KeyReused) else exc.param or None,
        error_type=error_type,
        provider_code=exc.provider_code,
    )


def scoped_key(request: Request) -> str:
    """The Idempotency-Key, scoped to its caller as the decorator scopes it."""
    owner = (
        f"api-key:{request.auth.pk}"
        if isinstance(request.auth, ApiKey)
        else f"user:{request.user.pk}"
    )
    return f"{owner}:{key_sent(request) or ''}"


def _payment_response(payment: Payment, *, created: bool) -> Response:
    data = payment_data(payment)
    if payment.status == PaymentStatus.FAILED:
        body = error_body(
            402,
            payment.failure_code or "payment_failed",
            payment.failure_message or "The payment failed.",
            error_type=refusal_type(payment.failure_code or "payment_failed"),
            provider_code=payment.failure_provider_code,
        )
        return Response({**body, "payment": data}, status=402)
    if payment.status == PaymentStatus.BLOCKED:
        body = error_body(
            402,
            "payment_blocked",
            "The payment was blocked by fraud screening.",
            error_type=refusal_type("payment_blocked"),
        )
        return Response({**body, "payment": data}, status=402)
    if payment.status == PaymentStatus.UNKNOWN:
        return Response(data, status=status.HTTP_202_ACCEPTED)
    return Response(data, status=201 if created else 200)


def _payment(public_id: str) -> Payment:
    return get_object_or_404(
        Payment.objects.select_related("account"), public_id=public_id
    )


_ERRORS = {
    400: ErrorResponseSerializer,
    401: ErrorResponseSerializer,
    403: ErrorResponseSerializer,
    404: ErrorResponseSerializer,
    409: ErrorResponseSerializer,
    422: ErrorResponseSerializer,
    429: ErrorResponseSerializer,
    503: ErrorResponseSerializer,
}
# Capture and void: which 409s are the key's answer, and which are not.
_FOLLOW_UP_409 = OpenApiResponse(
    ErrorResponseSerializer,
    description="`invalid_state`: the payment's status does not allow it (stored "
    "as the key's answer). `outcome_unknown` (stored too): the payment is "
    "`unknown`, reconciliation could not settle it and staff acknowledged it; "
    "they settle it at the gateway, nothing is sent. True only for now, never "
    "stored, so the same key may "
    "be sent again: `capture_in_progress` / `void_in_progress` (another "
    "request's capture or void is at the gateway), `reconciliation_in_progress` "
    "(the payment is `unknown` until reconciliation settles it), "
    "`staff_review_in_progress` (`unknown`, and reconciliation could not settle "
    "it by itself: staff check it at the gateway) and `authorization_in_progress` "
    "(`pending` or `requires_action`: not authorized yet).",
)
_CAPTURE_409 = OpenApiResponse(
    ErrorResponseSerializer,
    description=f"{_FOLLOW_UP_409.description} Capture only, never stored either: "
    "`fraud_review_in_progress` (the payment is held for fraud review: staff's "
    "approval captures it when the create asked for a capture, and a capture "
    "of its full amount then answers 200 with the payment; an authorize-only "
    "payment stays authorized for this capture once approved; a void releases "
    "it and closes the review).",
)
_PAYMENT_EXAMPLE = {
    "id": "pay_3k2j4h5g6f7d8s9a0q1w2e3r",
    "order_id": "order-1001",
    "status": "captured",
    "amount": 1050,
    "currency": "EUR",
    "amount_authorized": 1050,
    "amount_captured": 1050,
    "amount_refunded": 0,
    "amount_refundable": 1050,
    "capture_requested": True,
    "customer_reference": "cust-42",
    "customer_email": "ada@example.com",
    "provider": "sandbox",
    "provider_reference": "ch_sbx_4f0c1e2d3b4a59687766",
    "card": {"brand": "visa", "last4": "4242", "wallet": ""},
    "risk": {"score": 0, "level": "low", "reasons": []},
    "review_state": "none",
    "dispute_status": "",
    "failure": None,
    "next_action": None,
    "metadata": {"cart": "c-77"},
    "created_at": "2025-01-02T03:04:05Z",
    "updated_at": "2025-01-02T03:04:06Z",
}
_DECLINE_EXAMPLE = {
    "error": {
        "type": "card_error",
        "code": "card_declined",
        "message": "The card was declined.",
        "param": None,
        "provider_code": "generic_decline",
    },
    "payment": {**_PAYMENT_EXAMPLE, "status": "failed", "amount_captured": 0},
}


def _create_input(request: Request) -> tuple[dict, list[ProviderAccount]]:
    """The validated body, and the enabled accounts: read once for the
    limits check and for failover."""
    accounts = selectors.enabled_accounts()
    providers = {account.provider for account in accounts}
    data = payment_create_validated(request.data, enabled_providers=providers)
    # The screening worked out for the reads sent ahead (_create_reads).
    data["screening_ahead"] = getattr(request, "_screening_ahead", None)
    return data, accounts


def _create_reads(request: Request) -> list[tuple[str, list[Any]]]:
    reads, ahead = selectors.payment_create_reads_screened(request.data)
    # This request's screening reuses what was worked out for its reads.
    request._screening_ahead = ahead
    return reads


class PaymentCreateView(APIView):
    required_scopes = {"POST": WRITE}

    @extend_schema(
        operation_id="payment_create",
        summary="Take a payment (authorize, or authorize and capture)",
        request=PaymentCreateSerializer,
        responses={
            201: PaymentSerializer,
            202: OpenApiResponse(
                PaymentSerializer,
                description="Outcome unknown (the gateway did not answer); "
                "reconciliation settles it. Poll the payment.",
            ),
            402: OpenApiResponse(
                ErrorResponseSerializer,
                description="Refused: the body also holds the payment. Type "
                "`card_error` for the card's refusal (card_declined, "
                "insufficient_funds, stop_payment, ...) or a fraud block "
                "(payment_blocked); "
                "`invalid_request_error` for any other refusal: the request, its "
                "source or its order (currency_not_supported, invalid_amount, "
                "not_approved, expired, already_captured, duplicate_transaction, "
                "order_mismatch, amount_mismatch, intent_mismatch, ...).",
            ),
            **_ERRORS,
        },
        examples=[
            OpenApiExample(
                "Capture 10.50 EUR",
                request_only=True,
                value={
                    "order_id": "order-1001",
                    "amount": 1050,
                    "currency": "EUR",
                    "source_token": "tok_success",
                    "capture": True,
                    "customer_reference": "cust-42",
                    "customer_email": "ada@example.com",
                    "metadata": {"cart": "c-77"},
                },
            ),
            OpenApiExample("Captured", response_only=True, value=_PAYMENT_EXAMPLE),
            OpenApiExample(
                "Declined",
                response_only=True,
                status_codes=["402"],
                value=_DECLINE_EXAMPLE,
            ),
        ],
    )
    # Two commits per payment: one before the gateway call, one after it.
    # The handler's first reads ride with the idempotency claim.
    @idempotent(share_commits=True, reads_ahead=_create_reads)
    def post(self, request: Request) -> Response:
        data, accounts = _create_input(request)
        try:
            payment = services.payment_create(
                **data, idempotency_key=scoped_key(request), accounts=accounts
            )
        except services.PaymentError as exc:
            raise api_error(exc) from exc
        return _payment_response(payment, created=True)


class PaymentDetailView(APIView):
    required_scopes = {"GET": READ}

    @extend_schema(
        operation_id="payment_retrieve",
        summary="A payment",
        responses={200: PaymentSerializer, **_ERRORS},
        examples=[OpenApiExample("Captured", value=_PAYMENT_EXAMPLE)],
    )
    def get(self, request: Request, public_id: str) -> Response:
        return Response(payment_data(_payment(public_id)))


class PaymentCaptureView(APIView):
    required_scopes = {"POST": WRITE}

    @extend_schema(
        operation_id="payment_capture",
        summary="Capture an authorized payment (partial allowed)",
        request=CaptureSerializer,
        responses={
            200: PaymentSerializer,
            202: PaymentSerializer,
            402: ErrorResponseSerializer,
            **_ERRORS,
            409: _CAPTURE_409,
        },
        examples=[
            OpenApiExample("Capture 5.00", request_only=True, value={"amount": 500})
        ],
    )
    @idempotent
    def post(self, request: Request, public_id: str) -> Response:
        serializer = CaptureSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        payment = _payment(public_id)
        try:
            payment = services.payment_capture(
                payment=payment,
                amount=serializer.validated_data.get("amount"),
                actor=actor(request),
                storefront=True,
            )
        except services.PaymentError as exc:
            raise api_error(exc) from exc
        return _payment_response(payment, created=False)


class PaymentVoidView(APIView):
    required_scopes = {"POST": WRITE}

    @extend_schema(
        operation_id="payment_void",
        summary="Void (release) an authorized payment",
        request=None,
        responses={
            200: PaymentSerializer,
            202: PaymentSerializer,
            402: ErrorResponseSerializer,
            **_ERRORS,
            409: _FOLLOW_UP_409,
        },
    )
    @idempotent
    def post(self, request: Request, public_id: str) -> Response:
        payment = _payment(public_id)
        try:
            payment = services.payment_void(
                payment=payment, actor=actor(request), storefront=True
            )
        except services.PaymentError as exc:
            raise api_error(exc) from exc
        return _payment_response(payment, created=False)


class PaymentRefundsView(APIView):
    required_scopes = {"POST": WRITE}

    @extend_schema(
        operation_id="payment_refund",
        summary="Refund part or all of a captured payment",
        request=RefundCreateSerializer,
        responses={
            201: RefundSerializer,
            202: OpenApiResponse(
                RefundSerializer,
                description="Outcome unknown, or pending: no gateway could be "
                "reached; it is sent again with back-off under the same key.",
            ),
            402: OpenApiResponse(
                ErrorResponseSerializer,
                description="The gateway refused the refund (refund_failed, "
                "already_refunded, amount_too_large, refund_window_closed, ...): "
                "type `invalid_request_error` (`card_error` only for a card's "
                "code); the body also holds the refund.",
            ),
            **_ERRORS,
        },
        examples=[
            OpenApiExample(
                "Refund 2.50",
                request_only=True,
                value={"amount": 250, "reason": "damaged item"},
            ),
            OpenApiExample(
                "Too much",
                response_only=True,
                status_codes=["400"],
                value=error_body(
                    400,
                    "amount_exceeds_refundable",
                    "At most 800 can be refunded.",
                    "amount",
                ),
            ),
        ],
    )
    @idempotent
    def post(self, request: Request, public_id: str) -> Response:
        serializer = RefundCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        payment = _payment(public_id)
        try:
            refund = services.payment_refund(
                payment=payment,
                amount=serializer.validated_data["amount"],
                reason=serializer.validated_data["reason"],
                requested_by=actor(request),
                idempotency_key=scoped_key(request),
            )
        except services.PaymentError as exc:
            raise api_error(exc) from exc
        return _refund_response(refund)


def _refund_response(refund: Refund) -> Response:
    data = RefundSerializer(refund).data
    if refund.status == RefundStatus.FAILED:
        body = error_body(
            402,
            refund.failure_code or "refund_failed",
            refund.failure_message or "The gateway refused the refund.",
            error_type=refusal_type(refund.failure_code or "refund_failed"),
            provider_code=refund.failure_provider_code,
        )
        return Response({**body, "refund": data}, status=402)
    # Unknown, or pending until a gateway is reachable: not done yet.
    waiting = (RefundStatus.UNKNOWN, RefundStatus.PENDING)
    return Response(data, status=202 if refund.status in waiting else 201)


class CustomerPaymentMethodsView(ListModelMixin, GenericAPIView):
    required_scopes = {"GET": READ, "POST": WRITE}
    serializer_class = SavedPaymentMethodSerializer

    def get_queryset(self) -> QuerySet[SavedPaymentMethod]:
        return SavedPaymentMethod.objects.filter(
            customer_reference=self.kwargs["customer_reference"]
        ).select_related("account")

    @extend_schema(
        operation_id="payment_methods_list",
        summary="A customer's saved payment methods, newest first, by cursor",
        responses={200: SavedPaymentMethodSerializer(many=True), **_ERRORS},
    )
    def get(self, request: Request, customer_reference: str) -> Response:
        return self.list(request)

    @extend_schema(
        operation_id="payment_method_save",
        summary="Save a payment method from a client-side token or nonce",
        request=PaymentMethodCreateSerializer,
        responses={
            201: SavedPaymentMethodSerializer,
            402: ErrorResponseSerializer,
            **_ERRORS,
        },
        examples=[
            OpenApiExample(
                "Save a card",
                request_only=True,
                value={"source_token": "tok_visa", "make_default": True},
            )
        ],
    )
    @idempotent
    def post(self, request: Request, customer_reference: str) -> Response:
        check_customer(customer_reference)
        serializer = PaymentMethodCreateSerializer(
            data=request.data, context={"idempotency_key": scoped_key(request)}
        )
        serializer.is_valid(raise_exception=True)
        try:
            method = services.payment_method_save(
                customer_reference=customer_reference,
                idempotency_key=scoped_key(request),
                **serializer.validated_data,
            )
        except services.PaymentError as exc:
            raise api_error(exc) from exc
        return Response(SavedPaymentMethodSerializer(method).data, status=201)


def check_customer(customer_reference: str) -> None:
    """The path's customer fits the saved method's column: checked before
    the gateway is asked to keep the card, not by the INSERT after it."""
    limit = SavedPaymentMethod._meta.get_field("customer_reference").max_length
    if len(customer_reference) > limit:
        raise ApiError(
            f"Ensure this field has no more than {limit} characters.",
            code="max_length",
            param="customer_reference",
        )


def actor(request: Request) -> str:
    if isinstance(request.auth, ApiKey):
        return f"api-key:{request.auth.name}"
    return getattr(request.user, "username", "") or ""
