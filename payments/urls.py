"""Payments endpoints under /api/v1/ (trailing slashes, like the rest of the API)."""

from django.urls import path

from payments import api, api_recurring

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
    path(
        "customers/<str:customer_reference>/recurring-charges/",
        api_recurring.CustomerRecurringChargesView.as_view(),
        name="customer-recurring-charges",
    ),
    path(
        "recurring-charges/<str:public_id>/",
        api_recurring.RecurringChargeDetailView.as_view(),
        name="recurring-charge-detail",
    ),
    path(
        "recurring-charges/<str:public_id>/pause/",
        api_recurring.RecurringChargePauseView.as_view(),
        name="recurring-charge-pause",
    ),
    path(
        "recurring-charges/<str:public_id>/resume/",
        api_recurring.RecurringChargeResumeView.as_view(),
        name="recurring-charge-resume",
    ),
    path(
        "recurring-charges/<str:public_id>/cancel/",
        api_recurring.RecurringChargeCancelView.as_view(),
        name="recurring-charge-cancel",
    ),
    path(
        "recurring-charges/<str:public_id>/payment-method/",
        api_recurring.RecurringChargeMethodView.as_view(),
        name="recurring-charge-payment-method",
    ),
]
