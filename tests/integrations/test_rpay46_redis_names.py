"""r-pay46: the line's own packer sends the very bytes redis-py's would for
any command name: redis-py splits a str name on every ASCII whitespace (a
tab, a newline, not only a space) and a bytes name with a space too."""

import contextlib

import pytest
from redis.exceptions import ResponseError

from integrations.redis_line import redis_handle

pytestmark = pytest.mark.redis


@pytest.fixture(autouse=True)
def _redis(settings):
    if not settings.REDIS_URL:
        pytest.skip("needs service: Redis not configured (set REDIS_URL)")


@pytest.fixture
def line_and_wire(monkeypatch):
    """The line, its connection, and the bytes each command puts on the socket."""
    line = redis_handle().line
    line.command("PING")  # connected
    conn = line.connection
    seen: list[bytes] = []
    original = conn.send_packed_command

    def recording(command, check_health=True):
        seen.append(command if isinstance(command, bytes) else b"".join(command))
        return original(command, check_health)

    monkeypatch.setattr(conn, "send_packed_command", recording)
    return line, conn, seen


NAMES = [
    ("GET\t", "rpay46:k"),
    ("GET\n", "rpay46:k"),
    ("CONFIG\tGET", "maxmemory"),
    (b"CONFIG GET", "maxmemory"),
    ("\u00e9CHO", "x"),  # not a command: redis-py encodes a name as UTF-8
]


@pytest.mark.parametrize("args", NAMES, ids=repr)
def test_a_command_name_is_packed_as_redis_py_packs_it(line_and_wire, args):
    line, conn, seen = line_and_wire
    with contextlib.suppress(ResponseError):  # an unknown name: not the point
        line.command(*args)
    assert seen == [b"".join(conn._command_packer.pack(*args))]


def test_a_name_with_a_tab_is_the_command_redis_py_sends(line_and_wire):
    line, _conn, _seen = line_and_wire
    line.command("SET", "rpay46:k", "v")
    assert line.command("GET\t", "rpay46:k") == b"v"  # not "unknown command"
