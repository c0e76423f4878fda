"""One JSON error shape for the whole API:
``{"error": {"type", "code", "message", "param"}}``."""

import logging
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_handler

logger = logging.getLogger(__name__)

_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    405: "invalid_request_error",
    406: "invalid_request_error",
    409: "conflict_error",
    413: "invalid_request_error",
    415: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
}


class ApiError(exceptions.APIException):
    """Raise from a view or service adapter to answer with a specific code."""

    def __init__(
        self,
        message: str,
        *,
        code: str,
        status_code: int = 400,
        param: str | None = None,
        error_type: str | None = None,
    ) -> None:
        super().__init__(detail=message, code=code)
        self.status_code = status_code
        self.code = code
        self.param = param
        self.error_type = error_type


def error_body(
    status_code: int,
    code: str,
    message: str,
    param: str | None = None,
    error_type: str | None = None,
) -> dict[str, Any]:
    return {
        "error": {
            "type": error_type or _TYPES.get(status_code, "api_error"),
            "code": code,
            "message": message,
            "param": param,
        }
    }


def _first_validation_error(detail: Any, path: str = "") -> tuple[str, str, str]:
    """(param, code, message) of the first field error in a DRF error tree."""
    if isinstance(detail, dict):
        for key, value in detail.items():
            name = "" if key == "non_field_errors" else str(key)
            param = f"{path}.{name}" if path and name else (name or path)
            return _first_validation_error(value, param)
    if isinstance(detail, list) and detail:
        first = detail[0]
        if isinstance(first, dict | list):
            return _first_validation_error(first, f"{path}[0]" if path else "")
        return path, getattr(first, "code", "invalid"), str(first)
    return path, getattr(detail, "code", "invalid"), str(detail)


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    elif isinstance(exc, ValidationError):
        exc = exceptions.ValidationError(exc.messages)

    response = drf_handler(exc, context)
    if response is None:
        return None  # a real bug: Django's 500 handler answers in our shape

    if isinstance(exc, ApiError):
        body = error_body(exc.status_code, exc.code, str(exc.detail), exc.param,
                          exc.error_type)
    elif isinstance(exc, exceptions.ValidationError):
        param, code, message = _first_validation_error(exc.detail)
        body = error_body(400, code, message, param or None)
        body["error"]["details"] = exc.detail
    else:
        code = exc.get_codes() if isinstance(exc, exceptions.APIException) else "error"
        if not isinstance(code, str):
            code = "error"
        detail = getattr(exc, "detail", str(exc))
        body = error_body(response.status_code, code, str(detail))
    response.data = body
    return response


def _json_error(status_code: int, code: str, message: str) -> JsonResponse:
    return JsonResponse(error_body(status_code, code, message), status=status_code)


def api_not_found(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return _json_error(status.HTTP_404_NOT_FOUND, "not_found", "No such endpoint.")


def api_server_error(request: HttpRequest) -> JsonResponse:
    return _json_error(
        status.HTTP_500_INTERNAL_SERVER_ERROR,
        "internal_error",
        "An internal error occurred; it has been logged.",
    )


def api_bad_request(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return _json_error(status.HTTP_400_BAD_REQUEST, "bad_request", "Bad request.")


def api_permission_denied(
    request: HttpRequest, exception: Exception | None = None
) -> JsonResponse:
    return _json_error(status.HTTP_403_FORBIDDEN, "permission_denied", "Forbidden.")
