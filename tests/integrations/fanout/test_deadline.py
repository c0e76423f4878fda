"""deadline_scope, and the provider client keeping to it."""

import math
import time

import pytest

from integrations import deadline
from integrations.client import client_for
from integrations.errors import NotProcessed, Unknown
from integrations.testing.faultserver import FaultServer, hang, respond
from tests.factories import ProviderAccountFactory


def test_no_scope_leaves_everything_to_the_operation():
    assert deadline.remaining() == math.inf
    assert deadline.clamp(30.0) == 30.0


def test_a_scope_bounds_what_is_left_and_ends_with_its_block():
    with deadline.deadline_scope(2.0):
        assert 1.9 < deadline.remaining() <= 2.0
        assert deadline.clamp(30.0) <= 2.0
        assert deadline.clamp(0.5) == 0.5
    assert deadline.remaining() == math.inf


def test_an_inner_scope_can_shorten_but_never_extend():
    with deadline.deadline_scope(1.0) as outer:
        with deadline.deadline_scope(10.0) as inner:
            assert inner == outer
            assert deadline.remaining() <= 1.0
        with deadline.deadline_scope(0.1):
            assert deadline.remaining() <= 0.1
        assert deadline.remaining() > 0.5


@pytest.fixture
def server():
    with FaultServer() as server:
        yield server


@pytest.mark.django_db
def test_a_provider_call_ends_with_the_scope(server):
    server.route("GET", "/slow", hang())
    account = ProviderAccountFactory(settings={"read_timeout": 15})
    start = time.monotonic()
    with deadline.deadline_scope(0.2), pytest.raises(Unknown) as info:
        client_for(account).request(
            "GET", server.url_for("/slow"), operation="quote", idempotent=True
        )
    assert info.value.code == "read_timeout"
    # The scope's 0.2 s, with room for a loaded machine; not the 15 s.
    assert time.monotonic() - start < 0.2 * 3


@pytest.mark.django_db
def test_nothing_is_sent_once_the_scope_has_passed(server):
    server.route("GET", "/quote", respond(200))
    account = ProviderAccountFactory()
    with deadline.deadline_scope(0.01):
        time.sleep(0.02)
        with pytest.raises(NotProcessed) as info:
            client_for(account).request(
                "GET", server.url_for("/quote"), operation="quote", idempotent=True
            )
    assert info.value.code == "deadline_exceeded"
    assert server.requests == []


@pytest.mark.django_db
def test_outside_a_scope_the_account_deadline_applies(server):
    server.route("GET", "/quote", respond(200, latency=0.2))
    account = ProviderAccountFactory()
    response = client_for(account).request(
        "GET", server.url_for("/quote"), operation="quote", idempotent=True
    )
    assert response.status_code == 200
