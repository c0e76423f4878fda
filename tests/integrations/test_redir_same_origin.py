"""Every adapter refuses a redirect off its origin (``SAME_ORIGIN``), and so
does the OAuth token fetch whatever its account's rule: a 307/308 re-sends the
request body (a payment, a label's addresses, a client secret), and no
provider we speak documents a cross-origin redirect of its API. A refused
301/307/308 is ``not_processed`` (the server asked for the request elsewhere
and did not act on it), a refused 302/303 ``unknown`` (post/redirect/get: the
write may have been carried out)."""

import json
from pathlib import Path

import pytest
import responses

from integrations import registry
from integrations.client import ClientConfig, ProviderClient
from integrations.client.redirects import FOLLOW, SAME_ORIGIN, adapter_rule
from integrations.errors import NotProcessed, Unknown
from integrations.failover import run_with_failover
from integrations.models import ProviderCall
from integrations.oauth import ClientCredentials, TokenCache
from integrations.testing.faultserver import fault_server, respond
from payments.providers.base import PaymentRequest
from payments.providers.paypal import PayPalAdapter
from payments.providers.stripe import StripeAdapter
from tests.factories import ProviderAccountFactory

pytestmark = pytest.mark.django_db

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "stripe"

ELSEWHERE = "https://collector.example:8443"
STRIPE_API = "https://api.stripe.com"
STRIPE_KEY = "sk_test_51SwitchyardSecretKey000000000000"
PAYPAL_API = "https://api-m.sandbox.paypal.com"
PAYPAL_ID = "AbCdEf-switchyard-client-id"
PAYPAL_SECRET = "EFgh-switchyard-client-secret"
FAST = {
    "max_attempts": 2,
    "backoff_base_seconds": 0.001,
    "backoff_cap_seconds": 0.001,
    "breaker_consecutive_failures": 50,
}


def payment(source: str = "pm_1Pgc75B7WZ01zgkWlHVgdEGJ") -> PaymentRequest:
    return PaymentRequest(
        amount=2000,
        currency="EUR",
        source_token=source,
        capture=True,
        idempotency_key="pay-key-0001",
        order_id="order-42",
    )


def stripe_account(slug: str = "stripe-main"):
    return ProviderAccountFactory(
        provider="stripe",
        slug=slug,
        mode="test",
        settings=dict(FAST),
        credentials={"secret_key": STRIPE_KEY, "webhook_secret": "whsec_x"},
    )


def paypal_account():
    return ProviderAccountFactory(
        provider="paypal",
        slug="paypal-main",
        settings=dict(FAST),
        credentials={"client_id": PAYPAL_ID, "client_secret": PAYPAL_SECRET},
    )


@pytest.fixture
def rsps():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        # Whatever reaches the other origin is recorded, and answered.
        for method in ("GET", "POST"):
            mock.add(method, f"{ELSEWHERE}/collect", json={"ok": True})
        yield mock


def reached_elsewhere(rsps) -> list:
    return [c for c in rsps.calls if c.request.url.startswith(ELSEWHERE)]


# --- The default rule ---------------------------------------------------------


def test_every_adapter_and_a_plain_account_keep_to_their_origin():
    follows = [
        f"{kind}/{code}"
        for kind in registry.kinds()
        for code in registry.provider_codes(kind)
        if adapter_rule(registry.get_adapter_class(kind, code)) != SAME_ORIGIN
    ]
    assert follows == []
    assert ClientConfig.for_account(ProviderAccountFactory()).redirects == SAME_ORIGIN


def test_a_rule_the_client_does_not_know_keeps_to_the_origin():
    class Misspelt:
        redirects = "folow"

    assert adapter_rule(Misspelt) == SAME_ORIGIN
    assert adapter_rule(type("Declared", (), {"redirects": FOLLOW})) == FOLLOW


# --- A 307 off the origin with a body -----------------------------------------


def test_stripe_payment_redirected_off_its_origin_sends_nothing_there(rsps):
    rsps.post(
        f"{STRIPE_API}/v1/payment_intents",
        status=307,
        headers={"Location": f"{ELSEWHERE}/collect"},
    )
    with pytest.raises(NotProcessed) as caught:
        StripeAdapter(stripe_account()).authorize(payment())
    assert reached_elsewhere(rsps) == []
    assert len(rsps.calls) == 1  # not retried: a retry cannot fix it
    error = caught.value
    assert (error.code, error.http_status) == ("redirected", 307)
    assert f"to {ELSEWHERE}," in str(error)
    assert STRIPE_KEY not in str(error)
    (row,) = ProviderCall.objects.all()
    assert (row.outcome, row.error_code) == ("not_processed", "redirected")


def test_paypal_order_redirected_off_its_origin_sends_nothing_there(rsps):
    rsps.post(f"{PAYPAL_API}/v1/oauth2/token", json=token_answer())
    rsps.post(
        f"{PAYPAL_API}/v2/checkout/orders",
        status=308,
        headers={"Location": f"{ELSEWHERE}/collect"},
    )
    with pytest.raises(NotProcessed) as caught:
        PayPalAdapter(paypal_account()).create_order(
            amount=1050,
            currency="USD",
            order_id="order-1001",
            capture=False,
            idempotency_key="order-key-1",
        )
    assert reached_elsewhere(rsps) == []
    assert (caught.value.code, caught.value.http_status) == ("redirected", 308)
    assert f"to {ELSEWHERE}," in str(caught.value)


def test_a_json_body_never_reaches_a_second_local_origin():
    account = ProviderAccountFactory(settings=dict(FAST))
    client = ProviderClient(account, sleep=lambda _: None)
    with fault_server() as here, fault_server() as elsewhere:
        elsewhere.route("POST", "/collect", respond(200, json={}))
        here.route(
            "POST",
            "/charge",
            respond(307, headers={"Location": elsewhere.url_for("/collect")}),
        )
        with pytest.raises(NotProcessed) as caught:
            client.request(
                "POST",
                here.url_for("/charge"),
                operation="charge",
                idempotent=True,
                json={"card": "4242424242424242", "amount": 2000},
            )
        assert elsewhere.requests == []
        assert len(here.requests) == 1
        named = elsewhere.url
    client.close()
    assert f"to {named}," in str(caught.value)


# --- Which outcome a refused redirect has --------------------------------------


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (301, NotProcessed),
        (307, NotProcessed),
        (308, NotProcessed),
        (302, Unknown),
        (303, Unknown),
    ],
)
def test_a_refused_redirect_is_not_processed_only_where_http_says_so(
    rsps, status, outcome
):
    rsps.post(
        f"{STRIPE_API}/v1/payment_intents",
        status=status,
        headers={"Location": f"{ELSEWHERE}/collect"},
    )
    with pytest.raises(outcome) as caught:
        StripeAdapter(stripe_account()).authorize(payment())
    assert type(caught.value) is outcome
    assert caught.value.code == "redirected"
    assert reached_elsewhere(rsps) == []


def test_after_a_redirect_followed_on_the_origin_the_refusal_is_unknown(rsps):
    # The first hop (a 303 after a write, say) is not known to the refusal.
    rsps.post(
        f"{STRIPE_API}/v1/payment_intents",
        status=303,
        headers={"Location": "/v1/payment_intents/pi_1/confirmed"},
    )
    rsps.get(
        f"{STRIPE_API}/v1/payment_intents/pi_1/confirmed",
        status=307,
        headers={"Location": f"{ELSEWHERE}/collect"},
    )
    with pytest.raises(Unknown) as caught:
        StripeAdapter(stripe_account()).authorize(payment())
    assert caught.value.code == "redirected"
    assert reached_elsewhere(rsps) == []


def test_failover_moves_on_after_a_307_and_stops_after_a_303(rsps):
    first, second = stripe_account("stripe-a"), stripe_account("stripe-b")
    url = f"{STRIPE_API}/v1/payment_intents"
    moved = {"Location": f"{ELSEWHERE}/collect"}
    rsps.post(url, status=307, headers=moved)
    rsps.post(url, json=json.loads((FIXTURES / "payment_intent.json").read_text()))

    result = run_with_failover(
        "payments",
        lambda adapter: adapter.authorize(payment()),
        operation_name="authorize",
        accounts=[first, second],
    )
    assert result.account == second
    assert [a.code for a in result.attempts] == ["redirected", ""]

    rsps.replace("POST", url, status=303, headers=moved)
    with pytest.raises(Unknown) as caught:
        run_with_failover(
            "payments",
            lambda adapter: adapter.authorize(payment()),
            operation_name="authorize",
            accounts=[first, second],
        )
    assert [a.account for a in caught.value.attempts] == ["stripe-a"]
    assert reached_elsewhere(rsps) == []


# --- The OAuth token fetch ------------------------------------------------------


def token_answer() -> dict:
    path = FIXTURES.parent / "paypal" / "oauth_token.json"
    return json.loads(path.read_text())


def test_paypal_token_redirected_off_its_origin_leaks_no_client_secret(rsps):
    rsps.post(
        f"{PAYPAL_API}/v1/oauth2/token",
        status=307,
        headers={"Location": f"{ELSEWHERE}/collect"},
    )
    with pytest.raises(NotProcessed) as caught:
        PayPalAdapter(paypal_account()).health_check()
    assert reached_elsewhere(rsps) == []
    assert caught.value.code == "redirected"
    assert PAYPAL_SECRET not in str(caught.value)


@pytest.mark.parametrize("send_as", ["header", "body", "json"])
def test_token_fetch_keeps_to_its_origin_on_a_client_that_follows(rsps, send_as):
    # The token form carries the client secret: refused off the origin even
    # where an adapter declared it follows redirects.
    account = ProviderAccountFactory(settings=dict(FAST))
    config = ClientConfig.for_account(account)
    config = ClientConfig(**{**config.__dict__, "redirects": FOLLOW})
    client = ProviderClient(account, config=config, sleep=lambda _: None)
    token_url = "https://auth.provider.example/oauth/token"
    rsps.post(token_url, status=308, headers={"Location": f"{ELSEWHERE}/collect"})
    credentials = ClientCredentials(
        token_url, "client-id", PAYPAL_SECRET, send_as=send_as
    )
    tokens = TokenCache(account, credentials, provider="acme", client=client)
    with pytest.raises(NotProcessed) as caught:
        tokens.fetch()
    assert reached_elsewhere(rsps) == []
    assert caught.value.code == "redirected"
    assert PAYPAL_SECRET not in str(caught.value)
    # The client's own rule is left as it was for the calls after.
    assert client.session.redirects == FOLLOW
    client.close()
