"""fraud21: the blocklist's admin form stores an e-mail entry with its
domain in ASCII (any spelling of one domain is one entry) and refuses a
domain that is no domain name with a form error."""

import pytest
from django.urls import reverse

from payments.models import BlocklistEntry, PaymentStatus

pytestmark = pytest.mark.django_db
# Full-width spellings (NFKC folds them to ASCII), escaped for the linter.
EVIL = "\uff25\uff36\uff29\uff2c"  # EVIL
ADD = "admin:payments_blocklistentry_add"


def add(client, value: str):
    return client.post(reverse(ADD), {"kind": "email", "value": value, "reason": "r"})


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        (f"@{EVIL}.test", "@evil.test"),
        ("@Bücher.de", "@xn--bcher-kva.de"),
        ("Ada@bücher.DE", "ada@xn--bcher-kva.de"),
    ],
)
def test_an_email_entry_is_stored_with_its_domain_in_ascii(staff_client, typed, stored):
    response = add(staff_client, typed)
    assert response.status_code == 302, response.content
    assert BlocklistEntry.objects.get().value == stored


@pytest.mark.parametrize("typed", ["@ex_ample.com", "@-evil.test", "ada@1.2.3.4"])
def test_a_domain_that_is_no_domain_name_is_a_form_error(staff_client, typed):
    response = add(staff_client, typed)
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors["value"]
    assert "domain" in errors[0]
    assert not BlocklistEntry.objects.exists()


def test_another_spelling_of_an_entry_is_a_duplicate(staff_client):
    assert add(staff_client, "@bücher.de").status_code == 302
    response = add(staff_client, "@XN--BCHER-KVA.de")
    assert response.status_code == 200
    assert response.context["adminform"].form.errors
    assert BlocklistEntry.objects.count() == 1


def test_staff_find_an_entry_by_its_unicode_spelling(staff_client):
    add(staff_client, "@bücher.de")
    url = reverse("admin:payments_blocklistentry_changelist")
    response = staff_client.get(url, {"q": "bücher.de"})
    assert list(response.context["cl"].result_list) == [BlocklistEntry.objects.get()]


def test_an_entry_typed_full_width_blocks_the_ascii_spelling(
    staff_client, make_payment
):
    add(staff_client, f"@{EVIL}.example")
    payment = make_payment(customer_email="mallory@evil.example")
    assert payment.status == PaymentStatus.BLOCKED
    assert payment.risk_reasons == ["blocklisted_email"]
