"""fraud21: one e-mail domain, however spelled (full-width letters, Unicode
or its ``xn--`` form), is one domain to the e-mail blocklist and the
e-mail velocity rule, on the API and on saved-method charges."""

import uuid

import pytest

from payments import services
from payments.fraud import payment_screen
from payments.models import (
    BlocklistEntry,
    BlocklistKind,
    Payment,
    PaymentStatus,
    SandboxCharge,
    blocklist_normalise,
)

pytestmark = pytest.mark.django_db
# Full-width spellings (NFKC folds them to ASCII), escaped for the linter.
EVIL = "\uff25\uff36\uff29\uff2c"  # EVIL
DOT = "\uff0e"  # a full stop
bucher = "\uff42\u00fc\uff43\uff48\uff45\uff52"  # bücher

URL = "/api/v1/payments/"
CUSTOMER = "cus_fraud21"
SPELLINGS = [
    ("@evil.test", f"ada@{EVIL}.test"),
    (f"@{EVIL}.test", "ada@evil.test"),
    ("@bücher.de", "ada@xn--bcher-kva.de"),
    ("@xn--bcher-kva.de", "ada@bücher.de"),
    ("@BÜCHER.de", "Ada@Bücher.DE"),
    ("ada@bücher.de", "ADA@xn--bcher-kva.de"),
    ("ada@xn--bcher-kva.de", f"ada@{bucher}.de"),
]


def block(value: str) -> BlocklistEntry:
    entry = BlocklistEntry(kind=BlocklistKind.EMAIL, value=value, reason="test")
    entry.full_clean()
    entry.save()
    return entry


def screen(email: str):
    return payment_screen(
        amount=1_000,
        currency="EUR",
        customer_reference="",
        customer_email=email,
        ip_address=None,
        billing_country="",
        card_fingerprint="",
    )


def pay(api, email: str):
    body = {
        "order_id": f"order-{uuid.uuid4().hex[:8]}",
        "amount": 1_000,
        "currency": "EUR",
        "source_token": "tok_success",
        "customer_email": email,
    }
    return api.post(URL, body, format="json", HTTP_IDEMPOTENCY_KEY=uuid.uuid4().hex)


# --- The stored form ----------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        (f"@{EVIL}.test", "@evil.test"),
        ("@bücher.de", "@xn--bcher-kva.de"),
        ("@XN--BCHER-KVA.DE", "@xn--bcher-kva.de"),
        ("Ada@Bücher.de.", "ada@xn--bcher-kva.de"),
        (f"@evil{DOT}test", "@evil.test"),
    ],
)
def test_an_email_entry_is_stored_with_its_domain_in_ascii(typed, stored):
    assert blocklist_normalise(BlocklistKind.EMAIL, typed) == stored


@pytest.mark.parametrize(
    "typed", ["@-evil.test", "@ex_ample.com", "ada@", "@evil", "@1.2.3.4"]
)
def test_an_email_entry_whose_domain_is_no_domain_name_is_refused(typed):
    with pytest.raises(ValueError, match="domain"):
        blocklist_normalise(BlocklistKind.EMAIL, typed)


def test_two_spellings_of_one_entry_are_one_entry():
    block("@bücher.de")
    entry = BlocklistEntry(kind=BlocklistKind.EMAIL, value="@xn--bcher-kva.de")
    with pytest.raises(Exception, match="already exists"):
        entry.full_clean()


# --- Screening ------------------------------------------------------------------


@pytest.mark.parametrize(("entry", "email"), SPELLINGS)
def test_the_blocklist_meets_every_spelling_of_the_domain(entry, email):
    block(entry)
    assert screen(email).reasons == ["blocklisted_email"]


def test_another_domain_is_not_blocked():
    block("@bücher.de")
    assert screen("ada@bucher.de").reasons == []


def test_a_payment_keeps_its_domain_in_ascii(primary, api):
    response = pay(api, f"Ada@{EVIL}.test")
    assert response.status_code == 201, response.content
    assert Payment.objects.get().customer_email == "Ada@evil.test"


@pytest.mark.parametrize(
    ("earlier", "later"),
    [("ada@bücher.de", "ada@xn--bcher-kva.de"), (f"ada@{EVIL}.test", "Ada@evil.test")],
)
def test_the_email_velocity_counts_every_spelling(
    primary, api, settings, earlier, later
):
    settings.FRAUD_VELOCITY_MAX_PER_EMAIL = 2
    for _ in range(2):
        assert pay(api, earlier).status_code == 201
    assert "velocity_email" in screen(later).reasons


# --- Through the API and a saved method ---------------------------------------------


@pytest.mark.parametrize(("entry", "email"), SPELLINGS[:4])
def test_the_api_blocks_every_spelling(primary, api, entry, email):
    block(entry)
    response = pay(api, email)
    assert response.status_code in (201, 402), response.content
    payment = Payment.objects.get()
    assert payment.status == PaymentStatus.BLOCKED
    assert payment.risk_reasons == ["blocklisted_email"]
    assert not SandboxCharge.objects.exists()


@pytest.mark.parametrize(("entry", "email"), SPELLINGS[:4])
def test_a_saved_method_charge_is_blocked_in_every_spelling(primary, entry, email):
    method = services.payment_method_save(
        customer_reference=CUSTOMER,
        source_token="tok_success",
        idempotency_key=uuid.uuid4().hex,
        customer_email=email,
    )
    block(entry)
    payment = services.saved_method_charge(
        saved_method=method,
        amount=1_000,
        currency="EUR",
        order_id="order-saved",
        idempotency_key=uuid.uuid4().hex,
    )
    assert payment.status == PaymentStatus.BLOCKED
    assert "blocklisted_email" in payment.risk_reasons
    assert not SandboxCharge.objects.filter(kind="payment").exists()
