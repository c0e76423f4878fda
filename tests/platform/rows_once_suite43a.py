"""Rows a whole test module reads, written once instead of once per test.

Each test still runs in its own transaction (pytest-django's ``db``), rolled
back at its end, so what one test changes no other sees; the module's rows
are committed before the first test and flushed after the last, as a
transactional test's rows are (``tests.pg.flush_as_after_a_test``)."""

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar
from unittest import mock

from django.conf import settings
from django.test import Client, signals

Made = TypeVar("Made")


@contextmanager
def rows_for_the_module(
    django_db_blocker: Any, make: Callable[[], Made]
) -> Iterator[Made]:
    """``make()``'s rows committed for the module, the database emptied after."""
    from tests.pg import flush_as_after_a_test

    with django_db_blocker.unblock():
        try:
            made = make()
        except BaseException:
            flush_as_after_a_test()
            raise
    try:
        yield made
    finally:
        with django_db_blocker.unblock():
            flush_as_after_a_test()


def session_of(user: Any) -> str:
    """The session key of ``user`` logged in (kept for the module)."""
    client = Client()
    client.force_login(user)
    return client.cookies[settings.SESSION_COOKIE_NAME].value


def client_on(
    session_key: str, *, post_context: bool = False, context: bool = True
) -> Client:
    """A new test client (no cookie of an earlier test) on that login; one
    that records no template context of a POST unless ``post_context``, and
    none at all without ``context`` (a test reading status and HTML only)."""
    if not context:
        client: Client = BlindClient()
    else:
        client = Client() if post_context else PageClient()
    client.cookies[settings.SESSION_COOKIE_NAME] = session_key
    return client


def _ignored(*args: Any, **kwargs: Any) -> None:
    return None


class PageClient(Client):
    """A test client that records the template context of the pages it GETs
    (the forms a test reads) but not of what it POSTs: recording copies the
    context at each of a page's few hundred template renders, a fifth of an
    admin page's time. The response's HTML is the same."""

    def request(self, **request: Any) -> Any:
        if request.get("REQUEST_METHOD") == "GET":
            return super().request(**request)
        with _no_context_recorded():
            return super().request(**request)


class BlindClient(Client):
    """A test client that records no template context at all; the response's
    HTML is the same. Its ``response.context`` fails when read, so a test
    that reads it cannot pass on a None by mistake."""

    def request(self, **request: Any) -> Any:
        with _no_context_recorded():
            response = super().request(**request)
        response.context = NotRecorded()
        return response


class NotRecorded:
    """The context of a response whose context was not recorded."""

    def _refuse(self, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError("template context not recorded (BlindClient)")

    __getattr__ = __getitem__ = __contains__ = __iter__ = __bool__ = _refuse


@contextmanager
def _no_context_recorded() -> Iterator[None]:
    signal = signals.template_rendered
    with (
        mock.patch.object(signal, "connect", _ignored),
        mock.patch.object(signal, "disconnect", _ignored),
    ):
        yield
