"""Scope checks. A view lists the scopes it needs in ``required_scopes``; an API
key must hold all of them. Staff sessions pass only on views that allow staff
(``allow_staff = True``)."""

from typing import TYPE_CHECKING

from rest_framework import permissions
from rest_framework.request import Request

from integrations.models import ApiKey

if TYPE_CHECKING:
    from rest_framework.views import APIView

# Every scope a key can hold; `create_api_key` and the admin validate against it.
SCOPES: dict[str, str] = {
    "payments:read": "Read payments and saved payment methods",
    "payments:write": "Create, capture, void and refund payments",
    "shipping:read": "Read rates, shipments and tracking",
    "shipping:write": "Buy labels and book pickups",
    "inventory:read": "Read stock levels and reservations",
    "inventory:write": "Reserve and release stock",
    "email:send": "Send email",
}


class HasScopes(permissions.BasePermission):
    message = "This API key lacks a scope this endpoint needs."

    def has_permission(self, request: Request, view: "APIView") -> bool:
        if isinstance(request.auth, ApiKey):
            needed = set(getattr(view, "required_scopes", ()))
            missing = needed - set(request.auth.scopes)
            if missing:
                self.message = (
                    "This API key lacks the scope(s): " + ", ".join(sorted(missing))
                )
                return False
            return True
        user = request.user
        return bool(
            getattr(view, "allow_staff", False)
            and user is not None
            and user.is_authenticated
            and user.is_staff
        )
