"""One JSON error shape for the whole API::

    {"error": {"type": ..., "code": ..., "message": ..., "param": ...}}

``type`` is the broad class (from the status), ``code`` a stable
machine-readable reason, ``param`` the offending field (or header) or null.
An error a provider refused also carries ``provider_code``, the provider's
own code (never its text, which may quote what we sent).
DRF errors come through ``exception_handler``; Django-level errors under
``/api/`` (unknown path, unexpected exception) through the ``api_*`` views that
``config.urls`` installs as error handlers. Unexpected exceptions become a
generic 500 whose message never carries the exception text.
"""

import logging
from typing import Any

from django.core.exceptions import PermissionDenied, RequestDataTooBig, ValidationError
from django.http import Http404, HttpRequest, JsonResponse
from django.urls import Resolver404, resolve
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_handler

from integrations import registry

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
    """Raise from a view to answer with a specific status, code and param."""

    def __init__(
        self,
        message: str,
        *,
        code: str,
        status_code: int = 400,
        param: str | None = None,
        error_type: str | None = None,
        provider_code: str = "",
    ) -> None:
        super().__init__(detail=message, code=code)
        self.status_code = status_code
        self.code = code
        self.param = param
        self.error_type = error_type
        self.provider_code = provider_code


class RequestTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is too large."
    default_code = "request_too_large"


def error_body(
    status_code: int,
    code: str,
    message: str,
    param: str | None = None,
    error_type: str | None = None,
    provider_code: str = "",
) -> dict[str, Any]:
    if error_type is None:
        error_type = _TYPES.get(status_code, "api_error")
    error = {"type": error_type, "code": code, "message": message, "param": param}
    if provider_code:
        error["provider_code"] = provider_code
    return {"error": error}


def _first_validation_error(detail: Any, path: str = "") -> tuple[str, str, str] | None:
    """(param, code, message) of the first error in a DRF error tree.

    ``param`` is a dotted path (``lines[2].sku``); list serializers may report
    an empty dict for valid items, which are skipped.
    """
    if isinstance(detail, dict):
        for key, value in detail.items():
            if isinstance(key, int):
                # Newer DRF reports list items by index in a dict.
                param = f"{path}[{key}]"
            else:
                name = "" if key in ("non_field_errors", "__all__") else str(key)
                param = f"{path}.{name}" if path and name else (name or path)
            found = _first_validation_error(value, param)
            if found is not None:
                return found
        return None
    if isinstance(detail, list):
        for index, item in enumerate(detail):
            if isinstance(item, dict | list):
                found = _first_validation_error(item, f"{path}[{index}]")
                if found is not None:
                    return found
            else:
                return path, getattr(item, "code", None) or "invalid", str(item)
        return None
    return path, getattr(detail, "code", None) or "invalid", str(detail)


def invalid_input(errors: Any, *, code: str) -> ApiError:
    """A serializer's ``errors`` as one 400 with the endpoint's own ``code``:
    the first error's field as ``param`` and its message, as the handler
    would render them."""
    param, _, message = _first_validation_error(errors) or ("", "", "Invalid input.")
    return ApiError(message, code=code, param=param or None)


def _normalise(exc: Exception) -> Exception:
    """Django's exceptions as their DRF equivalents, so DRF renders them."""
    if isinstance(exc, Http404):
        return exceptions.NotFound()
    if isinstance(exc, PermissionDenied):
        return exceptions.PermissionDenied()
    if isinstance(exc, RequestDataTooBig):
        return RequestTooLarge()
    if isinstance(exc, ValidationError):
        detail = exc.message_dict if hasattr(exc, "error_dict") else exc.messages
        return exceptions.ValidationError(detail)
    if isinstance(exc, registry.ACCOUNT_UNCALLABLE):
        return _account_uncallable(exc)
    return exc


def _account_uncallable(exc: Exception) -> ApiError:
    """A row's provider account this deploy cannot call (a retired provider,
    a bad adapter path, credentials no key opens): nothing was sent. A fault
    of ours staff must mend, told at ERROR; the caller may try again later."""
    logger.error("API request needs a provider account that cannot be called: %s", exc)
    return ApiError(
        "The provider account this needs cannot be used right now; nothing "
        "was done. Try again later.",
        code="provider_unavailable",
        status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
    )


def _body_for(exc: exceptions.APIException, status_code: int) -> dict[str, Any]:
    if isinstance(exc, ApiError):
        return error_body(
            status_code,
            exc.code,
            str(exc.detail),
            exc.param,
            exc.error_type,
            provider_code=exc.provider_code,
        )
    if isinstance(exc, exceptions.ValidationError):
        first = _first_validation_error(exc.detail)
        param, code, message = first or ("", "invalid", "Invalid input.")
        return error_body(status_code, code, message, param or None)
    code = exc.get_codes()
    detail = exc.detail
    if not isinstance(code, str):
        # A non-validation exception raised with a dict/list detail.
        first = _first_validation_error(detail)
        param, code, message = first or ("", "error", "Error.")
        return error_body(status_code, code, message, param or None)
    return error_body(status_code, code, str(detail))


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF ``EXCEPTION_HANDLER``: every handled error in the one shape.

    Returns None for anything that is not an API error, so it propagates to
    Django's 500 handler (``api_server_error``), which logs it.
    """
    exc = _normalise(exc)
    response = drf_handler(exc, context)
    if response is None or not isinstance(exc, exceptions.APIException):
        return None
    # drf_handler already set WWW-Authenticate (401) and Retry-After (429).
    response.data = _body_for(exc, response.status_code)
    return response


def _json_error(status_code: int, code: str, message: str) -> JsonResponse:
    return JsonResponse(error_body(status_code, code, message), status=status_code)


# The url name of the JSON 404 for every unmatched path under /api/.
CATCH_ALL_URL_NAME = "api-not-found"


def api_not_found(
    request: HttpRequest, exception: Exception | None = None
) -> JsonResponse:
    message = "No such endpoint."
    if not request.path.endswith("/"):
        try:
            match = resolve(request.path + "/", getattr(request, "urlconf", None))
        except Resolver404:
            match = None
        if match is not None and match.url_name != CATCH_ALL_URL_NAME:
            # A slash-less path is not redirected under /api/ (a redirected
            # POST loses its body), so say what was meant.
            message = f"No such endpoint. Did you mean {request.path}/ ?"
    return _json_error(status.HTTP_404_NOT_FOUND, "not_found", message)


def api_server_error(request: HttpRequest) -> JsonResponse:
    # Django has logged the exception with its traceback; the client gets
    # nothing from it but the correlation id (X-Correlation-ID header).
    return _json_error(
        status.HTTP_500_INTERNAL_SERVER_ERROR,
        "internal_error",
        "An internal error occurred; it has been logged.",
    )


def api_bad_request(
    request: HttpRequest, exception: Exception | None = None
) -> JsonResponse:
    return _json_error(status.HTTP_400_BAD_REQUEST, "bad_request", "Bad request.")


def api_permission_denied(
    request: HttpRequest, exception: Exception | None = None
) -> JsonResponse:
    return _json_error(status.HTTP_403_FORBIDDEN, "permission_denied", "Forbidden.")
