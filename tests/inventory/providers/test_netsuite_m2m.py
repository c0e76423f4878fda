"""NetSuite OAuth 2.0 client credentials (M2M): the JWT client assertion as
Oracle's "The Request Token Structure" (section_162790605110) describes it,
verified here with the public key; the token request of "POST Request to the
Token Endpoint" (section_162755359851; answer in
tests/fixtures/netsuite/oauth2_token.json); the token shared through the
cache, refreshed after a 401; TBA kept for accounts without a certificate."""

import base64
import json
import time
from urllib.parse import parse_qs

import pytest
import responses
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from integrations.errors import ConfigurationError, NotProcessed
from integrations.models import ProviderCall
from inventory.providers.base import LevelsQuery
from inventory.providers.netsuite import NetSuiteAdapter
from inventory.providers.netsuite_m2m import client_assertion
from tests.inventory.contract import harness_netsuite as ns

pytestmark = pytest.mark.django_db

TOKEN_URL = f"{ns.BASE}/auth/oauth2/v1/token"
CLIENT_ID = "1c343a716c1dceb60e7fc149fa6735929ef77d28fe16293f892976dde7d8e3e2"
CERTIFICATE_ID = "pvHJZk-siL5h1bm1pqypdH7dblr_ZYCE8gfODaKqAC4"
FAST = {
    "account_id": "1234567_SB1",
    "max_attempts": 1,
    "backoff_base_seconds": 0.001,
}


def _pem(key) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


@pytest.fixture(scope="module")
def ec_key():
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture(scope="module")
def rsa_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=3072)


def _decode(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def _parts(assertion: str) -> tuple[dict, dict, bytes, bytes]:
    header, payload, signature = assertion.split(".")
    signed = f"{header}.{payload}".encode()
    return (
        json.loads(_decode(header)),
        json.loads(_decode(payload)),
        signed,
        _decode(signature),
    )


def _assertion(key, now: int = 1764900000) -> str:
    return client_assertion(
        client_id=CLIENT_ID,
        certificate_id=CERTIFICATE_ID,
        private_key=_pem(key),
        token_url=TOKEN_URL,
        now=now,
    )


def test_ec_assertion_has_the_documented_claims_and_verifies(ec_key):
    header, payload, signed, signature = _parts(_assertion(ec_key))

    assert header == {"typ": "JWT", "alg": "ES256", "kid": CERTIFICATE_ID}
    assert payload == {
        "iss": CLIENT_ID,
        "scope": "rest_webservices",
        "aud": TOKEN_URL,
        "iat": 1764900000,
        "exp": 1764900300,
    }
    # JWS ECDSA: R || S, 32 bytes each for P-256.
    assert len(signature) == 64
    der = encode_dss_signature(
        int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
    )
    ec_key.public_key().verify(der, signed, ec.ECDSA(hashes.SHA256()))


def test_rsa_keys_sign_with_pss_never_pkcs1(rsa_key):
    header, payload, signed, signature = _parts(_assertion(rsa_key))

    assert header["alg"] == "PS256"
    assert payload["exp"] - payload["iat"] < 3600
    pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
    rsa_key.public_key().verify(signature, signed, pss, hashes.SHA256())


def test_an_unusable_key_is_a_configuration_error_that_never_quotes_it():
    with pytest.raises(ConfigurationError) as info:
        client_assertion(
            client_id=CLIENT_ID,
            certificate_id=CERTIFICATE_ID,
            private_key="-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n",
            token_url=TOKEN_URL,
            now=0,
        )
    assert "bm90IGEga2V5" not in str(info.value)
    weak = ec.generate_private_key(ec.SECP256K1())
    with pytest.raises(ConfigurationError):
        _assertion(weak)


@pytest.fixture
def m2m(ec_key) -> NetSuiteAdapter:
    account = ns.make_account()
    account.settings = dict(FAST)
    account.set_credentials(
        {
            "client_id": CLIENT_ID,
            "certificate_id": CERTIFICATE_ID,
            # As the admin's one-line secret field delivers a pasted PEM.
            "private_key": _pem(ec_key).replace("\n", ""),
        }
    )
    account.save()
    return NetSuiteAdapter(account)


@pytest.fixture
def rsps():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def test_m2m_account_gets_one_token_and_sends_it_as_bearer(m2m, rsps, ec_key):
    rsps.post(TOKEN_URL, json=ns.load("oauth2_token.json"))
    rsps.post(ns.SUITEQL, json=ns.load("suiteql_levels_page2.json"))
    before = int(time.time())

    m2m.levels(LevelsQuery(limit=2))
    NetSuiteAdapter(m2m.account).levels(LevelsQuery(limit=2))

    token_calls = [c for c in rsps.calls if c.request.url == TOKEN_URL]
    assert len(token_calls) == 1  # the second adapter used the shared token
    form = parse_qs(token_calls[0].request.body)
    assert form["grant_type"] == ["client_credentials"]
    assert form["client_assertion_type"] == [
        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    ]
    header, payload, _, _ = _parts(form["client_assertion"][0])
    assert (header["kid"], payload["iss"], payload["aud"]) == (
        CERTIFICATE_ID,
        CLIENT_ID,
        TOKEN_URL,
    )
    assert payload["iat"] >= before
    token = ns.load("oauth2_token.json")["access_token"]
    queries = [c.request for c in rsps.calls if c.request.url.startswith(ns.SUITEQL)]
    assert [r.headers["Authorization"] for r in queries] == [f"Bearer {token}"] * 2
    assert "OAuth" not in str(queries[0].headers)
    operations = set(ProviderCall.objects.values_list("operation", flat=True))
    assert "netsuite_oauth_token" in operations


def test_a_401_fetches_a_new_token_once(m2m, rsps):
    rsps.post(TOKEN_URL, json=ns.load("oauth2_token.json"))
    rsps.post(TOKEN_URL, json={**ns.load("oauth2_token.json"), "access_token": "new"})
    rsps.post(ns.SUITEQL, status=401, json=ns.load("error_invalid_login.json"))
    rsps.post(ns.SUITEQL, json=ns.load("suiteql_levels_page2.json"))

    page = m2m.levels(LevelsQuery(limit=2))

    assert page.records
    sent = [
        c.request.headers["Authorization"]
        for c in rsps.calls
        if "suiteql" in c.request.url
    ]
    assert sent[-1] == "Bearer new" and sent[0] != sent[-1]


def test_a_refused_assertion_is_not_processed_and_nothing_else_is_sent(m2m, rsps):
    rsps.post(TOKEN_URL, status=401, json={"error": "invalid_client"})

    with pytest.raises(NotProcessed) as info:
        m2m.levels(LevelsQuery(limit=2))

    assert info.value.http_status == 401
    assert [c.request.url for c in rsps.calls] == [TOKEN_URL]


def test_half_a_certificate_is_a_clear_configuration_error(m2m, rsps):
    m2m.account.set_credentials({"certificate_id": CERTIFICATE_ID})
    m2m.account.save()

    with pytest.raises(ConfigurationError) as info:
        NetSuiteAdapter(m2m.account).levels(LevelsQuery(limit=2))

    assert "client_id" in str(info.value) and "private_key" in str(info.value)
    assert len(rsps.calls) == 0


def test_health_check_proves_the_certificate_with_a_new_token(m2m, rsps):
    rsps.post(TOKEN_URL, json=ns.load("oauth2_token.json"))
    rsps.post(ns.SUITEQL, json=ns.load("suiteql_levels_page2.json"))

    assert m2m.health_check().ok
    assert m2m.health_check().ok

    assert [c.request.url for c in rsps.calls].count(TOKEN_URL) == 2
