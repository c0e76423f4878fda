"""REDIS_CONNECT_TIMEOUT_SECONDS / REDIS_SOCKET_TIMEOUT_SECONDS: set, they
reach the cache's connections and the task broker's URL (whose reads wait a
second longer: its BLPOP waits 1 s); unusable, the start stops with one line."""

import json

import pytest

from config.checks import redis_url_with_timeouts
from tests.platform.test_config_truth import _assert_one_line_stop, _run

_SHOW = (
    "import json; from django.conf import settings as s;"
    "print(json.dumps([s.CACHES['default'].get('OPTIONS'), s.Q_CLUSTER.get('redis')]))"
)


def test_the_timeouts_reach_the_cache_and_the_broker():
    result = _run(
        _SHOW,
        DEBUG="true",
        REDIS_URL="redis://redis.internal:6379/2",
        REDIS_CONNECT_TIMEOUT_SECONDS="0.5",
        REDIS_SOCKET_TIMEOUT_SECONDS="1.5",
    )
    assert result.returncode == 0, result.stderr[-800:]
    options, broker = json.loads(result.stdout)
    assert options == {"socket_connect_timeout": 0.5, "socket_timeout": 1.5}
    assert broker == (
        "redis://redis.internal:6379/2?socket_connect_timeout=0.5&socket_timeout=2.5"
    )


def test_timeouts_in_the_url_win_and_its_other_options_stay():
    url = "rediss://:pw@redis.internal:6380/1?socket_timeout=9&ssl_cert_reqs=none"
    assert redis_url_with_timeouts(url, connect=1.0, socket=2.0) == (
        "rediss://:pw@redis.internal:6380/1"
        "?socket_timeout=9&ssl_cert_reqs=none&socket_connect_timeout=1.0"
    )


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("REDIS_CONNECT_TIMEOUT_SECONDS", "0"),
        ("REDIS_SOCKET_TIMEOUT_SECONDS", "-1"),
        ("REDIS_SOCKET_TIMEOUT_SECONDS", "1s"),
        ("REDIS_CONNECT_TIMEOUT_SECONDS", "inf"),
    ],
)
def test_an_unusable_timeout_stops_the_start_with_one_line(name, value):
    result = _run("print('started')", DEBUG="true", **{name: value})
    assert result.returncode == 2, f"{name}={value!r} started"
    _assert_one_line_stop(result, name)
