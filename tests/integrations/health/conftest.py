import socket
from collections.abc import Iterator

import pytest

from tests.factories import ProviderAccountFactory


@pytest.fixture
def account():
    return ProviderAccountFactory(slug="sbx-pay", kind="payments")


@pytest.fixture
def staff_client(client, django_user_model):
    user = django_user_model.objects.create_user(
        "staff", "staff@example.com", "pw", is_staff=True
    )
    client.force_login(user)
    return client


@pytest.fixture
def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (connections are refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts TCP connections and never answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield sock.getsockname()[1]
