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
