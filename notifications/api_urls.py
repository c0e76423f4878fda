"""Email and bulk-send endpoints under /api/v1/notifications/ (trailing slashes)."""

from django.urls import path

from notifications import api, api_bulk

urlpatterns = [
    path("notifications/emails/", api.EmailsView.as_view(), name="emails"),
    path(
        "notifications/emails/<str:public_id>/",
        api.EmailDetailView.as_view(),
        name="email-detail",
    ),
    path(
        "notifications/bulk-sends/", api_bulk.BulkSendsView.as_view(), name="bulk-sends"
    ),
    path(
        "notifications/bulk-sends/<str:public_id>/",
        api_bulk.BulkSendDetailView.as_view(),
        name="bulk-send-detail",
    ),
    path(
        "notifications/bulk-sends/<str:public_id>/cancel/",
        api_bulk.BulkSendCancelView.as_view(),
        name="bulk-send-cancel",
    ),
]
