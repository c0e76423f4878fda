"""Inventory endpoints under /api/v1/inventory/ (trailing slashes)."""

from django.urls import path

from inventory import api

urlpatterns = [
    path("inventory/stock/", api.StockView.as_view(), name="inventory-stock"),
    path(
        "inventory/reservations/",
        api.ReservationsView.as_view(),
        name="inventory-reservations",
    ),
    path(
        "inventory/reservations/<str:public_id>/",
        api.ReservationDetailView.as_view(),
        name="inventory-reservation-detail",
    ),
    path(
        "inventory/reservations/<str:public_id>/confirm/",
        api.ReservationConfirmView.as_view(),
        name="inventory-reservation-confirm",
    ),
    path(
        "inventory/reservations/<str:public_id>/release/",
        api.ReservationReleaseView.as_view(),
        name="inventory-reservation-release",
    ),
]
