"""Email endpoints under /api/v1/notifications/ (trailing slashes)."""

from django.urls import path

from notifications import api

urlpatterns = [
    path("notifications/emails/", api.EmailsView.as_view(), name="emails"),
    path(
        "notifications/emails/<str:public_id>/",
        api.EmailDetailView.as_view(),
        name="email-detail",
    ),
]
