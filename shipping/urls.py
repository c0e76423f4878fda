"""Shipping endpoints under /api/v1/shipping/ (trailing slashes)."""

from django.urls import path

from shipping import api

urlpatterns = [
    path("shipping/rates/", api.RatesView.as_view(), name="shipping-rates"),
    path(
        "shipping/addresses/validate/",
        api.AddressValidateView.as_view(),
        name="shipping-address-validate",
    ),
    path("shipping/shipments/", api.ShipmentsView.as_view(), name="shipments"),
    path(
        "shipping/shipments/<str:public_id>/",
        api.ShipmentDetailView.as_view(),
        name="shipment-detail",
    ),
    path(
        "shipping/shipments/<str:public_id>/label/",
        api.ShipmentLabelView.as_view(),
        name="shipment-label",
    ),
    path(
        "shipping/shipments/<str:public_id>/void/",
        api.ShipmentVoidView.as_view(),
        name="shipment-void",
    ),
    path("shipping/pickups/", api.PickupsView.as_view(), name="pickups"),
    path(
        "shipping/pickups/<str:public_id>/",
        api.PickupDetailView.as_view(),
        name="pickup-detail",
    ),
    path(
        "shipping/pickups/<str:public_id>/cancel/",
        api.PickupCancelView.as_view(),
        name="pickup-cancel",
    ),
]
