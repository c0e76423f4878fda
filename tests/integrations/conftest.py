"""Fixtures shared by the integrations tests."""

import pytest
from django.test import Client


@pytest.fixture
def staff(django_user_model) -> Client:
    """A client logged in as a superuser (the admin's replay, history)."""
    user = django_user_model.objects.create_superuser("staff", "s@example.com", "pw")
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def line_wire(monkeypatch):
    """The Redis line (connected), its connection, and the bytes each
    command then puts on the socket (test_pay46_*, test_rpay46_*: compared
    with what redis-py's own packer makes)."""
    from integrations.redis_line import redis_handle

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
