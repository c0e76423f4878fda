"""Correlation ids: one per incoming request or task, carried into every log
line and every outbound provider call (``X-Correlation-ID``)."""

import logging
import re
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from django.http import HttpRequest, HttpResponse

HEADER = "X-Correlation-ID"
_META_KEY = "HTTP_X_CORRELATION_ID"
# Accept what a caller sends only if it is short and plain, so a header cannot
# inject text into log lines or outbound headers.
_VALID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")

_current: ContextVar[str | None] = ContextVar("correlation_id", default=None)


def new_id() -> str:
    return uuid.uuid4().hex


def get() -> str | None:
    return _current.get()


def get_or_create() -> str:
    value = _current.get()
    if value is None:
        value = new_id()
        _current.set(value)
    return value


def clean(value: str | None) -> str | None:
    if value and _VALID.match(value):
        return value
    return None


@contextmanager
def bind(value: str | None) -> Iterator[str]:
    """Use ``value`` (or a fresh id) as the correlation id inside the block."""
    token = _current.set(clean(value) or new_id())
    try:
        yield _current.get()  # type: ignore[misc]
    finally:
        _current.reset(token)


class CorrelationIdMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        with bind(request.META.get(_META_KEY)) as correlation_id:
            request.correlation_id = correlation_id
            response = self.get_response(request)
            response[HEADER] = correlation_id
            return response


class CorrelationIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        value = _current.get()
        if value is None:
            # Django logs 4xx/5xx responses ("Not Found: ...") after the
            # middleware chain has returned; those records carry the request.
            value = getattr(getattr(record, "request", None), "correlation_id", None)
        record.correlation_id = value
        return True
