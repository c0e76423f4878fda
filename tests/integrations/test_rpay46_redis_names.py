"""r-pay46: the line's own packer sends the very bytes redis-py's would for
any command name: redis-py splits a str name on every ASCII whitespace (a
tab, a newline, not only a space) and a bytes name with a space too."""

import contextlib

import pytest
from redis.exceptions import ResponseError

# Redis needed: without it the marker skips the test (in CI, fails it).
pytestmark = pytest.mark.redis

NAMES = [
    ("GET\t", "rpay46:k"),
    ("GET\n", "rpay46:k"),
    ("CONFIG\tGET", "maxmemory"),
    (b"CONFIG GET", "maxmemory"),
    ("\u00e9CHO", "x"),  # not a command: redis-py encodes a name as UTF-8
]


@pytest.mark.parametrize("args", NAMES, ids=repr)
def test_a_command_name_is_packed_as_redis_py_packs_it(line_wire, args):
    line, conn, seen = line_wire
    with contextlib.suppress(ResponseError):  # an unknown name: not the point
        line.command(*args)
    assert seen == [b"".join(conn._command_packer.pack(*args))]


def test_a_name_with_a_tab_is_the_command_redis_py_sends(line_wire):
    line, _conn, _seen = line_wire
    line.command("SET", "rpay46:k", "v")
    assert line.command("GET\t", "rpay46:k") == b"v"  # not "unknown command"
