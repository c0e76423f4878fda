"""The deadline bounds the whole response, not each socket read: a peer that
answers at once and then trickles its body (or its headers) one byte at a
time, each byte well within the read timeout, is cut off at the deadline."""

import time

import pytest

from integrations.client import ProviderClient
from integrations.errors import Outcome, Unknown
from integrations.models import ProviderCall
from integrations.testing.faultserver import fault_server, respond, trickle
from tests.factories import ProviderAccountFactory

pytestmark = pytest.mark.django_db

# A 1 s deadline; reads time out after 0.5 s of silence.
TIGHT = {
    "connect_timeout": 0.5,
    "read_timeout": 0.5,
    "deadline_seconds": 1.0,
    "max_attempts": 1,
    "breaker_consecutive_failures": 50,
}


def _timed_request(client: ProviderClient, url: str, **kwargs):
    started = time.monotonic()
    with pytest.raises(Unknown) as info:
        client.request("POST", url, operation="send", idempotent=False, **kwargs)
    return info.value, time.monotonic() - started


@pytest.mark.parametrize("head", [False, True], ids=["body", "status-and-headers"])
def test_a_trickled_response_is_cut_off_at_the_deadline(head):
    client = ProviderClient(ProviderAccountFactory(settings=dict(TIGHT)))
    # 40 bytes, one every 0.2 s: 8 s in all, never 0.5 s of silence.
    with fault_server() as server:
        server.route("POST", "/send", trickle(length=40, gap=0.2, head=head))
        error, elapsed = _timed_request(client, server.url_for("/send"))
    client.close()

    # The 1 s deadline, with room for a loaded machine; not the 8 s.
    assert elapsed < 1.0 * 3, f"a 1 s deadline held the caller {elapsed:.1f} s"
    # The provider may have acted on the POST: outcome unknown, as a timeout.
    assert (error.outcome, error.code) == (Outcome.UNKNOWN, "read_timeout")
    row = ProviderCall.objects.get()
    assert (row.outcome, row.error_code) == ("unknown", "read_timeout")


def test_a_streamed_body_read_after_the_call_is_still_bounded():
    client = ProviderClient(ProviderAccountFactory(settings=dict(TIGHT)))
    with fault_server() as server:
        server.route("GET", "/file", trickle(length=40, gap=0.2))
        response = client.request(
            "GET", server.url_for("/file"), operation="get", idempotent=True,
            stream=True,
        )  # fmt: skip
        started = time.monotonic()
        with pytest.raises(Exception):  # noqa: B017 - requests' own error
            response.content  # noqa: B018
        elapsed = time.monotonic() - started
    client.close()
    assert elapsed < 1.0 * 3  # the 1 s deadline, not the 8 s body


def test_a_pooled_connection_gets_its_full_timeouts_back():
    # A response read close to its deadline lowers the socket's timeout (to
    # ~0.25 s here); the next request on the same connection must not inherit
    # it: its answer comes after 0.4 s, within the 0.5 s read timeout.
    client = ProviderClient(ProviderAccountFactory(settings=dict(TIGHT)))
    with fault_server() as server:
        server.route(
            "GET", "/x", trickle(length=3, gap=0.25), respond(200, latency=0.4)
        )
        for _ in range(2):
            response = client.request(
                "GET", server.url_for("/x"), operation="get", idempotent=True
            )
            assert response.status_code == 200
        assert len(server.requests_for("GET", "/x")) == 2
    client.close()
    assert list(ProviderCall.objects.values_list("outcome", flat=True)) == [
        "success",
        "success",
    ]
