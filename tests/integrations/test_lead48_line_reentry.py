"""A concurrency slot left open (its ``with`` never ended: a generator or
frame dropped) is released when the garbage collector finalizes it, and the
collector runs wherever Python allocates: on this thread, in the middle of
another command on this thread's Redis line. The release's command waited
for the line's lock its own thread held: the process hung for good (seen
once in a full .ci/run, a payment's breaker read stuck in read_response)."""

import threading

import pytest

from integrations.ratelimit import limiter_for
from integrations.redis_line import redis_handle
from tests.factories import ProviderAccountFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.redis]


def _in_a_thread(work):
    """``work()``'s result, run on a thread of its own (a hang fails the
    test instead of holding the suite)."""
    done: dict = {}

    def run():
        done["result"] = work()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(60)
    assert not thread.is_alive(), "the line hung on a command re-entered mid-reply"
    return done["result"]


def test_a_slot_finalized_mid_command_is_released_and_the_command_answers(settings):
    if not settings.REDIS_URL:
        pytest.skip("needs service: Redis not configured (set REDIS_URL)")
    account = ProviderAccountFactory(
        settings={"max_concurrency": 1, "concurrency_max_wait_seconds": 0}
    )

    def work():
        limiter = limiter_for(account)
        held = limiter.concurrency_slot()
        held.__enter__()  # left open, as by a dropped frame
        line = redis_handle().line
        conn = line.connection
        real_read = conn.read_response

        def collected_meanwhile(*args, **kwargs):
            conn.read_response = real_read
            held.gen.close()  # what the collector does: its finally releases
            return real_read(*args, **kwargs)

        conn.read_response = collected_meanwhile
        answer = line.command("PING")
        return answer, limiter.in_flight()

    answer, in_flight = _in_a_thread(work)
    assert answer in (b"PONG", "PONG", True)
    assert in_flight == 0  # the finalized slot's release reached Redis
