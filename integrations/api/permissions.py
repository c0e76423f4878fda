"""Scope checks.

A view names the scopes it needs in ``required_scopes``: a sequence (every
method), or a dict from HTTP method to a sequence. An API key must hold all of
them. A view that declares nothing is closed to API keys, so forgetting the
declaration fails safe; ``required_scopes = ()`` opens it to any valid key. A
method missing from a dict that the view has no handler for either is let
through, so DRF answers 405 with its Allow header rather than a 403.
Staff sessions pass only on views that say ``allow_staff = True``.
"""

from collections.abc import Mapping
from typing import TYPE_CHECKING

from rest_framework import permissions
from rest_framework.request import Request

from integrations.api.scopes import SCOPES
from integrations.models import ApiKey

if TYPE_CHECKING:
    from rest_framework.views import APIView

__all__ = ["SCOPES", "HasScopes", "required_scopes_for"]


def required_scopes_for(view: "APIView", method: str) -> set[str] | None:
    """The scopes ``view`` needs for ``method``; None when it declares none."""
    declared = getattr(view, "required_scopes", None)
    if declared is None:
        return None
    if isinstance(declared, Mapping):
        scopes = declared.get(method.upper())
        if scopes is None and method.upper() in ("HEAD", "OPTIONS"):
            scopes = declared.get("GET")
        return None if scopes is None else set(scopes)
    return set(declared)


def _lacks_method(view: "APIView", method: str) -> bool:
    """Whether a view that lists its scopes by method has no handler for
    ``method`` (a viewset binds only the methods its route maps)."""
    if not isinstance(getattr(view, "required_scopes", None), Mapping):
        return False
    handler = method.lower()
    return handler not in view.http_method_names or not hasattr(view, handler)


class HasScopes(permissions.BasePermission):
    message = "This API key lacks a scope this endpoint needs."
    code = "missing_scope"

    def has_permission(self, request: Request, view: "APIView") -> bool:
        if isinstance(request.auth, ApiKey):
            return self._key_allowed(request.auth, request, view)
        user = request.user
        if user is None or not user.is_authenticated:
            # DRF turns this into a 401 because no authenticator succeeded.
            return False
        if getattr(view, "allow_staff", False) and user.is_staff:
            return True
        self.message = "This endpoint needs an API key."
        self.code = "api_key_required"
        return False

    def _key_allowed(self, api_key: ApiKey, request: Request, view: "APIView") -> bool:
        method = request.method or "GET"
        needed = required_scopes_for(view, method)
        if needed is None and _lacks_method(view, method):
            # Not a question of scopes: DRF answers 405 with an Allow header.
            return True
        if needed is None:
            self.message = "This endpoint is not available to API keys."
            self.code = "permission_denied"
            return False
        missing = needed - set(api_key.scopes)
        if missing:
            self.message = "This API key lacks the scope(s): " + ", ".join(
                sorted(missing)
            )
            return False
        return True
