"""Webhook endpoints under /api/v1/."""

from django.urls import path

from storefront_hooks import api

urlpatterns = [
    path("webhook-endpoints/", api.EndpointListView.as_view(), name="hook-list"),
    path(
        "webhook-endpoints/<str:public_id>/",
        api.EndpointDetailView.as_view(),
        name="hook-detail",
    ),
    path(
        "webhook-endpoints/<str:public_id>/rotate-secret/",
        api.EndpointRotateView.as_view(),
        name="hook-rotate-secret",
    ),
    path(
        "webhook-endpoints/<str:public_id>/test/",
        api.EndpointTestView.as_view(),
        name="hook-test",
    ),
]
