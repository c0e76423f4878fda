"""The Redis owner check says nothing when Redis cannot be reached (its
docstring's promise): the run's own tests report the missing service."""

import socket

from tests.redis_owner import owned_database


def _closed_port() -> int:
    # Bound then closed: nothing listens there.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_an_unreachable_redis_is_not_the_owner_checks_error():
    with owned_database(f"redis://127.0.0.1:{_closed_port()}/0"):
        pass
