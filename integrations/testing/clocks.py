"""Another machine's clock, for tests of stamps that two processes compare
(``integrations.clock``): NTP leaves seconds between machines, a broken one
minutes."""

import contextlib
from collections.abc import Iterator
from datetime import timedelta
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


def shared_by_machines() -> bool:
    """Only a server database is shared by processes on several machines
    (SQLite's one clock is this machine's): skew tests need one."""
    return connection.vendor == "postgresql"
