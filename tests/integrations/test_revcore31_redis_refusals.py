"""Review of NOREPLICAS and max clients against what Redis 7.0 and the
installed redis-py 8.2 really do (task revcore31; no defect found, these
guard it). Seen against a real redis-server 7.0.15:

- ``maxclients`` reached: the server writes ``-ERR max number of clients
  reached`` as it accepts, then closes. Over RESP3 (redis-py 8's default)
  the HELLO's reply is that line: ``MaxClientsReachedError``, a
  ``ConnectionError``, raised from ``connect`` (in a pipeline too).
- ``min-replicas-to-write`` unmet: a plain ``ResponseError`` with
  ``status_code`` NOREPLICAS for a command, a pipeline's command (redis-py
  words it first: "Command # 1 (...) of pipeline caused error: ...") and a
  script's write (``EVALSHA``: "... script: <sha>, on @user_script:1.").

The fake servers here send those exact bytes.
"""

import contextlib
import logging
import socket
import threading

import pytest
from django.core.cache import cache
from redis._parsers.base import BaseParser
from redis.client import Pipeline
from redis.exceptions import MaxClientsReachedError

from integrations.cache_clock import redis_outage_guard
from integrations.redis_line import RedisPaused, is_outage, outage
from tests.factories import ProviderAccountFactory
from tests.integrations.redis_refusing import cache_on, line_records, pay_captured

pytestmark = pytest.mark.django_db

MAXCLIENTS = b"-ERR max number of clients reached\r\n"
SCRIPT_NOREPLICAS = (
    "NOREPLICAS Not enough good replicas to write. script: "
    "91fb98f1f472072e36230bd1f864f688f3ab12cd, on @user_script:1."
)


class FullServer:
    """Redis at ``maxclients``: each connection gets the error line as it is
    accepted, then is closed."""

    def __init__(self) -> None:
        self.connections = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            self.connections += 1
            with contextlib.suppress(OSError):
                conn.sendall(MAXCLIENTS)
            conn.close()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()


@pytest.fixture
def full(settings):
    server = FullServer()
    try:
        with cache_on(settings, f"redis://127.0.0.1:{server.port}/0"):
            yield server
    finally:
        server.close()


def test_a_full_server_is_an_outage_asked_once(full, caplog):
    caplog.set_level(logging.INFO)
    ProviderAccountFactory(slug="sbx-primary")

    pay_captured("revcore31")  # goes out unguarded, as in any outage

    assert full.connections == 1  # the line did not connect again at once
    with pytest.raises(RedisPaused):
        outage.check()
    assert len(line_records(caplog, logging.WARNING)) == 1
    assert line_records(caplog, logging.ERROR) == []


def test_a_full_server_met_through_the_cache_is_the_same_outage(full):
    with pytest.raises(MaxClientsReachedError):
        redis_outage_guard(cache.get_many, ["a", "b"])
    with pytest.raises(RedisPaused):
        outage.check()
    assert full.connections == 1


def test_redis_s_noreplicas_words_are_an_outage_as_redis_py_raises_them():
    parsed = BaseParser.parse_error(SCRIPT_NOREPLICAS)
    assert parsed.status_code == "NOREPLICAS"
    assert is_outage(parsed)

    plain = BaseParser.parse_error("NOREPLICAS Not enough good replicas to write.")
    in_pipeline = BaseParser.parse_error(str(plain))
    Pipeline.annotate_exception(None, in_pipeline, 1, ("SET", "k", "v"))
    assert "of pipeline caused error: NOREPLICAS" in str(in_pipeline)
    assert is_outage(in_pipeline)

    full = BaseParser.parse_error(MAXCLIENTS[1:-2].decode())
    assert isinstance(full, MaxClientsReachedError)
    assert is_outage(full)
    # Not these: a key's or a stream group's own refusal.
    assert not is_outage(BaseParser.parse_error("BUSYKEY Target key name exists"))
    assert not is_outage(BaseParser.parse_error("ERR Error running script"))
