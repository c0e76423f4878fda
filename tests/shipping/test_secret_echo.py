"""A carrier's error text may quote what we sent, credentials included: it
reaches neither the storefront's answer nor the stored shipment."""

import pytest

from integrations.errors import Rejected
from shipping.models import Shipment
from shipping.providers.sandbox import SandboxShippingAdapter
from tests.factories import ApiKeyFactory, ProviderAccountFactory
from tests.shipping.helpers import carrier
from tests.shipping.test_labels import _quote

SECRET = "shp_canary_Zk81Qw0xT5"
SHIPMENTS = "/api/v1/shipping/shipments/"


@pytest.mark.django_db
def test_a_refusal_quoting_a_credential_is_masked_everywhere(client, monkeypatch):
    ProviderAccountFactory(
        slug="ups-live", kind="shipping", credentials={"client_secret": SECRET}
    )

    def refuse(self, request):
        raise Rejected(f"Invalid credentials: client_secret={SECRET}", code="x")

    monkeypatch.setattr(SandboxShippingAdapter, "carrier_create_label", refuse)
    quote = _quote(carrier("strict"))

    key = ApiKeyFactory(scopes=["shipping:write", "shipping:read"])
    answer = client.post(
        SHIPMENTS,
        {"quote_id": quote.public_id},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {key.raw_key}",
        HTTP_IDEMPOTENCY_KEY="echo-1",
    )

    assert answer.status_code == 422
    assert SECRET not in answer.content.decode()
    stored = Shipment.objects.get()
    assert SECRET not in stored.failure_message
    assert "[redacted]" in stored.failure_message  # the carrier's, for staff
    assert stored.failure_code == "x"


@pytest.mark.django_db
def test_a_provider_error_never_carries_a_known_secret():
    ProviderAccountFactory(slug="pay-live", credentials={"api_key": SECRET})
    from integrations.secrets_registry import known_secrets

    known_secrets(fresh=True)
    error = Rejected(f"key {SECRET} is not valid")

    assert SECRET not in error.message
    assert SECRET not in str(error)
    assert error.message == "key [redacted] is not valid"


@pytest.mark.django_db
def test_a_refusal_with_a_nul_is_stored_with_its_failure(client, monkeypatch):
    # JSON may carry "\u0000"; PostgreSQL text cannot: the failed shipment
    # must still be stored with the carrier's message, not lost to a 500.
    def refuse(self, request):
        raise Rejected("bad address\x00line 2", code="x")

    monkeypatch.setattr(SandboxShippingAdapter, "carrier_create_label", refuse)
    quote = _quote(carrier("strict"))

    key = ApiKeyFactory(scopes=["shipping:write", "shipping:read"])
    answer = client.post(
        SHIPMENTS,
        {"quote_id": quote.public_id},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {key.raw_key}",
        HTTP_IDEMPOTENCY_KEY="nul-1",
    )

    assert answer.status_code == 422
    stored = Shipment.objects.get()
    assert stored.failure_message == "bad address\ufffdline 2"


# --- Our own words to the storefront, the carrier's for staff ---------------------

CANARY = "CARRIER-SAYS-canary-7Qx"
RATES = "/api/v1/shipping/rates/"
PICKUPS = "/api/v1/shipping/pickups/"
VALIDATE = "/api/v1/shipping/addresses/validate/"


def _refusing(monkeypatch, *methods: str) -> None:
    """The sandbox carrier refuses each of ``methods`` quoting the canary."""

    def refuse(self, *args, **kwargs):
        raise Rejected(f"{CANARY}: refused", code="rejected", provider_code="E42")

    for method in methods:
        monkeypatch.setattr(SandboxShippingAdapter, method, refuse)


def _api():
    from rest_framework.test import APIClient

    client = APIClient()
    key = ApiKeyFactory(scopes=["shipping:write", "shipping:read"])
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key.raw_key}")
    return client


def _post(api, url, body, key=""):
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
    return api.post(url, body, format="json", **headers)


@pytest.mark.django_db
def test_a_refused_pickup_answers_our_words_and_keeps_the_carriers_for_staff(
    monkeypatch,
):
    from shipping.api_examples import PICKUP_REQUEST
    from shipping.models import Pickup

    carrier("post")
    _refusing(monkeypatch, "carrier_schedule_pickup")
    api = _api()
    body = PICKUP_REQUEST | {"account": "post"}

    answers = [_post(api, PICKUPS, body, key="pu-c"), _post(api, PICKUPS, body, "pu-c")]

    for answer in answers:  # the first, and its idempotent replay
        assert answer.status_code == 422, answer.content
        assert CANARY not in answer.content.decode()
        error = answer.json()["error"]
        assert (error["code"], error["provider_code"]) == ("rejected", "E42")
        assert error["message"]
    assert CANARY in Pickup.objects.get().failure_message  # for staff


@pytest.mark.django_db
def test_a_refused_address_check_answers_our_words(monkeypatch):
    from shipping.api_examples import ADDRESS_FROM

    carrier("post")
    _refusing(monkeypatch, "carrier_validate_address")

    answer = _post(_api(), VALIDATE, {"address": ADDRESS_FROM})

    assert answer.status_code == 422, answer.content
    assert CANARY not in answer.content.decode()
    assert answer.json()["error"]["code"] == "rejected"


@pytest.mark.django_db
def test_a_refused_label_answers_our_words_in_the_error_and_the_shipment(
    monkeypatch,
):
    _refusing(monkeypatch, "carrier_create_label")
    quote = _quote(carrier("strict"))
    api = _api()

    answer = _post(api, SHIPMENTS, {"quote_id": quote.public_id}, key="lb-c")
    shipment = api.get(f"{SHIPMENTS}{answer.json()['shipment']['id']}/")
    listed = api.get(SHIPMENTS)

    assert answer.status_code == 422
    for body in (answer, shipment, listed):
        assert CANARY not in body.content.decode()
    assert shipment.json()["failure"]["code"] == "rejected"
    assert shipment.json()["failure"]["message"]
    assert CANARY in Shipment.objects.get().failure_message  # for staff


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("threads_db")
def test_a_carrier_refusing_to_quote_is_listed_in_our_words(monkeypatch):
    from shipping.api_examples import RATE_REQUEST

    carrier("post")
    carrier("strict", priority=20)
    calls = []
    original = SandboxShippingAdapter.carrier_rates

    def one_refuses(self, request):
        calls.append(1)
        if self.account.slug == "strict":
            raise Rejected(f"{CANARY}: refused", code="rejected")
        return original(self, request)

    monkeypatch.setattr(SandboxShippingAdapter, "carrier_rates", one_refuses)

    answer = _post(_api(), RATES, RATE_REQUEST)

    assert answer.status_code == 200, answer.content
    assert CANARY not in answer.content.decode()
    (failure,) = answer.json()["failures"]
    assert (failure["account"], failure["code"]) == ("strict", "rejected")
    assert failure["message"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "method", ["carrier_schedule_pickup", "carrier_validate_address"]
)
def test_a_carrier_code_that_is_text_is_not_passed_on(monkeypatch, method):
    # A "code" holding the carrier's words (or our credentials echoed) is
    # provider text: the storefront gets none of it, as with payments.
    from shipping.api_examples import ADDRESS_FROM, PICKUP_REQUEST

    def refuse(self, *args, **kwargs):
        raise Rejected("refused", code="rejected", provider_code=f"{CANARY} x y")

    monkeypatch.setattr(SandboxShippingAdapter, method, refuse)
    carrier("post")
    if method == "carrier_schedule_pickup":
        answer = _post(_api(), PICKUPS, PICKUP_REQUEST | {"account": "post"}, "pu-t")
    else:
        answer = _post(_api(), VALIDATE, {"address": ADDRESS_FROM})

    assert answer.status_code == 422, answer.content
    assert CANARY not in answer.content.decode()
    assert answer.json()["error"].get("provider_code", "") == ""
