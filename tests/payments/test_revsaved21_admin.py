"""revsaved21: staff see a saved method's e-mail and card fingerprint on
its admin page (read-only) and find the methods of one fingerprint or
e-mail, so they can blocklist them."""

import pytest
from django.test import Client
from django.urls import reverse

from payments.models import SavedPaymentMethod
from tests.factories import ProviderAccountFactory

pytestmark = pytest.mark.django_db

FINGERPRINT = "AOB934RVNwzk6xtn"


@pytest.fixture
def staff(django_user_model) -> Client:
    user = django_user_model.objects.create_superuser("boss", "b@example.com", "pw")
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def method() -> SavedPaymentMethod:
    return SavedPaymentMethod.objects.create(
        customer_reference="cus_rs21",
        account=ProviderAccountFactory(slug="rs21"),
        provider_customer_id="cus_1",
        provider_method_id="pm_1",
        card_last4="4242",
        customer_email="mallory@evil.test",
        card_fingerprint=FINGERPRINT,
    )


def test_the_method_page_shows_both_read_only(staff, method):
    url = reverse("admin:payments_savedpaymentmethod_change", args=[method.pk])
    page = staff.get(url)
    assert page.status_code == 200
    body = page.content.decode()
    assert FINGERPRINT in body
    assert "mallory@evil.test" in body
    # Shown, never an input staff could edit.
    assert 'name="card_fingerprint"' not in body
    assert 'name="customer_email"' not in body


@pytest.mark.parametrize("query", [FINGERPRINT, "mallory@evil.test"])
def test_staff_find_the_methods_of_a_fingerprint_or_email(staff, method, query):
    SavedPaymentMethod.objects.create(
        customer_reference="cus_other",
        account=method.account,
        provider_customer_id="cus_2",
        provider_method_id="pm_2",
    )
    listing = staff.get(
        reverse("admin:payments_savedpaymentmethod_changelist"), {"q": query}
    )
    assert listing.status_code == 200
    assert listing.context["cl"].result_count == 1
    assert method.public_id in listing.content.decode()
