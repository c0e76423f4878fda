"""Another machine's clock, for tests of stamps that two processes compare
(``integrations.clock``): NTP leaves seconds between machines, a broken one
minutes."""

import contextlib
from collections.abc import Iterator
from datetime import datetime, timedelta
from unittest import mock

from django.db import connection
from django.utils import timezone

# This machine's own clock, whatever a skew does to timezone.now.
_MACHINE_NOW = timezone.now


@contextlib.contextmanager
def machine_clock(seconds: float) -> Iterator[None]:
    """Run as a process on a machine whose clock is ``seconds`` ahead of this
    one (behind if negative)."""
    skewed = lambda: _MACHINE_NOW() + timedelta(seconds=seconds)  # noqa: E731
    with mock.patch.object(timezone, "now", skewed):
        yield


@contextlib.contextmanager
def whole_machine_clock(seconds: float) -> Iterator[None]:
    """This process's every reading of the time off by ``seconds``, model
    field defaults included (``machine_clock`` swaps ``timezone.now``, which a
    field's ``default=timezone.now`` captured at import)."""

    class Skewed(datetime):
        @classmethod
        def now(cls, tz=None) -> datetime:  # type: ignore[override]
            return datetime.now(tz) + timedelta(seconds=seconds)

    with mock.patch.object(timezone, "datetime", Skewed):
        yield


def shared_by_machines() -> bool:
    """Only a server database is shared by processes on several machines
    (SQLite's one clock is this machine's): skew tests need one."""
    return connection.vendor == "postgresql"
