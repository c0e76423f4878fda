"""Hostile input refused before it reaches a view or the database.

PostgreSQL refuses a NUL in text and jsonb, and a control character in an id,
a reference or a query is never meant: such input is a 400
``invalid_characters`` in the API's error shape, never a 500. Paths and query
strings may hold no control character at all; string values in a JSON body
may hold tab, line feed and carriage return (free text), nothing else
(``integrations.api.parsers``, which also refuses integers beyond 64 bits).
"""

import re
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, JsonResponse

from integrations.api.errors import error_body

# Unicode category Cc: C0 controls, DEL and the C1 controls.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
CODE = "invalid_characters"
MESSAGE = "Control characters (such as NUL) are not allowed here."


def has_control(value: str) -> bool:
    """True if ``value`` holds a control character (tab and newline too)."""
    return _CONTROL.search(value) is not None


def _refused(request: HttpRequest, param: str) -> HttpResponse:
    # JSON where clients are programs; the admin gets plain text.
    if request.path_info.startswith(("/api/", "/webhooks/")):
        body = error_body(400, CODE, MESSAGE, param)
        return JsonResponse(body, status=400)
    return HttpResponse(MESSAGE, status=400, content_type="text/plain")


class ControlCharacterMiddleware:
    """Refuse a request whose path or query string (decoded) holds a control
    character, before URL resolution, so no view ever sees one."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if has_control(request.path_info):
            return _refused(request, "path")
        for name, values in request.GET.lists():
            if has_control(name) or any(has_control(v) for v in values):
                return _refused(request, "query" if has_control(name) else name)
        return self.get_response(request)
