"""Admin fixtures: logged-in clients with and without permissions, and
payments made through the real services on the sandbox gateway."""

import uuid
from collections.abc import Callable

import pytest
from django.contrib.auth.models import Permission
from django.test import Client

from integrations.models import ProviderAccount
from payments.models import Payment
from payments.services import payment_create

MakePayment = Callable[..., Payment]


@pytest.fixture
def staff_client(db, django_user_model) -> Client:
    user = django_user_model.objects.create_superuser(
        "boss", "boss@example.com", "pw-boss-123"
    )
    client = Client()
    client.force_login(user)
    return client


def _client_with(django_user_model, username: str, codenames: list[str]) -> Client:
    user = django_user_model.objects.create_user(username, password="pw", is_staff=True)
    user.user_permissions.set(
        Permission.objects.filter(
            content_type__app_label="payments", codename__in=codenames
        )
    )
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def clerk_client(db, django_user_model) -> Client:
    """May see payments and capture/void/reconcile them, but not refund."""
    return _client_with(django_user_model, "clerk", ["view_payment", "change_payment"])


@pytest.fixture
def viewer_client(db, django_user_model) -> Client:
    return _client_with(django_user_model, "viewer", ["view_payment"])


@pytest.fixture
def make_payment(primary: ProviderAccount) -> MakePayment:
    """``make_payment(capture=False, amount=..., token=...)`` through payment_create."""

    def make(
        *,
        amount: int = 10_000,
        currency: str = "EUR",
        capture: bool = True,
        token: str = "tok_success",
        **extra: object,
    ) -> Payment:
        values: dict[str, object] = {
            "order_id": f"order-{uuid.uuid4().hex[:8]}",
            "customer_email": "ada@example.com",
            **extra,
        }
        return payment_create(
            amount=amount,
            currency=currency,
            source_token=token,
            capture=capture,
            idempotency_key=uuid.uuid4().hex,
            **values,
        )

    return make
