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


def client_on(session_key: str, *, post_context: bool = False) -> Client:
    """A new test client (no cookie of an earlier test) on that login; one
    that records no template context of a POST unless ``post_context``."""
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
        signal = signals.template_rendered
        with (
            mock.patch.object(signal, "connect", _ignored),
            mock.patch.object(signal, "disconnect", _ignored),
        ):
            return super().request(**request)
