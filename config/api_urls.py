"""Storefront API, version 1. Each domain app adds its own urls module here."""

from django.urls import include, path

from integrations.api.views import CurrentApiKeyView

app_name = "api"
urlpatterns: list = [
    path("me/", CurrentApiKeyView.as_view(), name="current-api-key"),
    path("", include("payments.urls")),
    path("", include("storefront_hooks.urls")),
    path("", include("shipping.urls")),
    path("", include("inventory.urls")),
    path("", include("notifications.api_urls")),
]
