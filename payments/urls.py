"""Payments endpoints under /api/v1/ (trailing slashes, like the rest of the API)."""

from django.urls import path

from payments import api

urlpatterns = [
    path("payments/", api.PaymentCreateView.as_view(), name="payment-create"),
    path(
        "payments/<str:public_id>/",
        api.PaymentDetailView.as_view(),
        name="payment-detail",
    ),
    path(
        "payments/<str:public_id>/capture/",
        api.PaymentCaptureView.as_view(),
        name="payment-capture",
    ),
    path(
        "payments/<str:public_id>/void/",
        api.PaymentVoidView.as_view(),
        name="payment-void",
    ),
    path(
        "payments/<str:public_id>/refunds/",
        api.PaymentRefundsView.as_view(),
        name="payment-refunds",
    ),
    path(
        "customers/<str:customer_reference>/payment-methods/",
        api.CustomerPaymentMethodsView.as_view(),
        name="customer-payment-methods",
    ),
]
