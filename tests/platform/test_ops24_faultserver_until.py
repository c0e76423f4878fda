"""FaultServer's ``respond(until=event)``: the answer waits for the test,
so a request is in flight exactly as long as the test needs (the timed
tests' clock-free form), and a test that never releases it still ends."""

import threading

import requests

from integrations.testing.faultserver import FaultServer, respond


def _get_in_thread(url: str, answers: list[int]) -> threading.Thread:
    def get() -> None:
        try:
            answers.append(requests.get(url, timeout=30).status_code)
        except requests.RequestException:
            answers.append(0)  # the connection closed with the server

    thread = threading.Thread(target=get)
    thread.start()
    return thread


def test_the_answer_waits_for_the_event():
    released = threading.Event()
    with FaultServer() as server:
        server.route("GET", "/held", respond(201, until=released))
        answers: list[int] = []
        client = _get_in_thread(server.url_for("/held"), answers)
        while not server.requests:
            threading.Event().wait(0.01)
        client.join(0.2)  # a moment: not answered while held
        assert client.is_alive() and answers == []

        released.set()
        client.join(30)
    assert answers == [201]


def test_a_held_answer_ends_with_the_server():
    with FaultServer() as server:
        server.route("GET", "/held", respond(until=threading.Event()))
        answers: list[int] = []
        client = _get_in_thread(server.url_for("/held"), answers)
        while not server.requests:
            threading.Event().wait(0.01)
    # Stopped, the handler no longer waits: the client gets its answer.
    client.join(30)
    assert not client.is_alive()
