"""pay46: the line packs its commands itself (redis-py's packer costs ~50
Python calls a command: an encoder call and two checks per argument), with
exactly the bytes redis-py would send; anything it does not pack plainly
goes to redis-py's packer."""

import cProfile
import pstats

import pytest
from redis.exceptions import DataError

# Redis needed: without it the marker skips the test (in CI, fails it).
pytestmark = pytest.mark.redis

ARGUMENTS = [
    ("SET", "pay46:k", "caf\u00e9 \U0001f600"),
    ("SET", "pay46:k", b"\x00\xffbytes"),
    ("SET", "pay46:k", ""),
    ("SET", "pay46:k", "x" * 20_000),  # past redis-py's buffer cut-off
    ("EVAL", "return ARGV[1]", 0, -7),
    ("EVAL", "return ARGV[1]", 0, 2**70),
    ("EVAL", "return ARGV[1]", 0, 0.1),
    ("EVAL", "return ARGV[1]", 0, 1e300),
    ("EVAL", "return ARGV[1]", 0, bytearray(b"ba")),
    ("EVAL", "return ARGV[1]", 0, memoryview(b"mv")),
    ("MGET", "pay46:a", "pay46:b"),
    ("CONFIG GET", "maxmemory"),  # redis-py splits a spaced name
]


@pytest.mark.parametrize("args", ARGUMENTS, ids=lambda a: repr(a)[:40])
def test_the_bytes_are_redis_pys(line_wire, args):
    line, conn, seen = line_wire
    line.command(*args)
    assert seen == [b"".join(conn._command_packer.pack(*args))]


def test_what_redis_py_refuses_is_refused_alike(line_wire):
    line, _conn, seen = line_wire
    for bad in (True, None, 1.5j, ["list"]):
        with pytest.raises(DataError):
            line.command("SET", "pay46:k", bad)
    assert seen == []
    assert line.command("GET", "pay46:k") is None  # the line still in step


def test_a_command_is_packed_in_a_handful_of_calls(line_wire):
    line, _conn, _seen = line_wire
    keys = ["pay46:{acct:1}:mode", "pay46:{acct:1}:state"]
    profile = cProfile.Profile()
    profile.enable()
    for _ in range(10):
        line.command("MGET", *keys)
    profile.disable()
    calls = pstats.Stats(profile).total_calls / 10
    # 101 through redis-py's packer, 76 now (this test's recorder included);
    # most of the rest is redis-py reading the reply.
    assert calls <= 80, calls
