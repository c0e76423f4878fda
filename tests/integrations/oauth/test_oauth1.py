"""OAuth 1.0a signing (NetSuite token-based authentication), checked against
an RFC 5849 base string and HMAC-SHA256 computed here, independently of
oauthlib."""

import base64
import hashlib
import hmac
import re
from urllib.parse import parse_qsl, quote, unquote, urlsplit

import pytest
import requests

from integrations.client import client_for
from integrations.errors import ConfigurationError
from integrations.oauth import OAuth1Signer, netsuite_realm, netsuite_signer
from integrations.testing.faultserver import respond
from tests.integrations.oauth.conftest import API_PATH

ACCOUNT_ID = "1234567-sb1"
CONSUMER_KEY = "ef40afdd8abaac111b13825dd5e5e2ddddb44f86d5a0dd6dcf38c20aae6b67e4"
CONSUMER_SECRET = "d26ad321a4b2f23b0741c8d38392ce01c3e23e109df6c96eac6d099e9ab9a8f5"
TOKEN_ID = "2b0ce516420110bcbd36b69e99196d1b7f6de3c6234c5afb799b73d87569f5cc"
TOKEN_SECRET = "c29a677df7d5439a458c063654187e3d678d73aca8e3c9d8fea1478a1a16171e"
NONCE = "fjaLirsIcCGVZWzBX0pg"
TIMESTAMP = "1508242306"
URL = (
    "https://1234567-sb1.suitetalk.api.netsuite.com/services/rest/record/v1/"
    "customer?q=companyName%20START_WITH%20%22A%2BB%22&limit=5"
)
# What the independent computation below gives for a GET of URL; pinned so
# a change in oauthlib or in our use of it cannot go unnoticed.
KNOWN_SIGNATURE = "5fi+86ov/yMM+MrwSMRgcg24aAJphYS5R+WcgOGFZlM="


def signer(**kwargs) -> OAuth1Signer:
    return OAuth1Signer(
        consumer_key=CONSUMER_KEY,
        consumer_secret=CONSUMER_SECRET,
        token=TOKEN_ID,
        token_secret=TOKEN_SECRET,
        realm=netsuite_realm(ACCOUNT_ID),
        nonce=lambda: NONCE,
        timestamp=lambda: TIMESTAMP,
        **kwargs,
    )


def signed(method: str, url: str = URL, **kwargs) -> requests.PreparedRequest:
    prepared = requests.Request(method, url, **kwargs).prepare()
    return signer()(prepared)


def header_params(request: requests.PreparedRequest) -> dict[str, str]:
    header = request.headers["Authorization"]
    assert header.startswith("OAuth ")
    pairs = re.findall(r'(\w+)="([^"]*)"', header[len("OAuth ") :])
    return {name: unquote(value) for name, value in pairs}


# --- RFC 5849 by hand ----------------------------------------------------------------


def pct(value: str) -> str:
    # RFC 5849 3.6: everything but ALPHA, DIGIT, "-", ".", "_", "~".
    return quote(value, safe="~")


def base_string(method: str, url: str, extra: list[tuple[str, str]]) -> str:
    parts = urlsplit(url)
    base_uri = f"{parts.scheme}://{parts.netloc.lower()}{parts.path}"
    params = parse_qsl(parts.query, keep_blank_values=True) + extra
    params += [
        ("oauth_consumer_key", CONSUMER_KEY),
        ("oauth_nonce", NONCE),
        ("oauth_signature_method", "HMAC-SHA256"),
        ("oauth_timestamp", TIMESTAMP),
        ("oauth_token", TOKEN_ID),
        ("oauth_version", "1.0"),
    ]
    normalized = "&".join(
        f"{name}={value}" for name, value in sorted((pct(k), pct(v)) for k, v in params)
    )
    return "&".join([method.upper(), pct(base_uri), pct(normalized)])


def hmac_sha256(base: str) -> str:
    key = f"{pct(CONSUMER_SECRET)}&{pct(TOKEN_SECRET)}"
    digest = hmac.new(key.encode(), base.encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


# --- Known answer ------------------------------------------------------------------


def test_signature_matches_rfc_5849_hmac_sha256():
    params = header_params(signed("GET"))

    expected = hmac_sha256(base_string("GET", URL, []))
    assert params["oauth_signature"] == expected == KNOWN_SIGNATURE


def test_header_carries_realm_and_every_protocol_parameter():
    header = signed("GET").headers["Authorization"]

    assert header.startswith('OAuth realm="1234567_SB1", ')
    assert header_params(signed("GET")) == {
        "realm": "1234567_SB1",
        "oauth_consumer_key": CONSUMER_KEY,
        "oauth_token": TOKEN_ID,
        "oauth_signature_method": "HMAC-SHA256",
        "oauth_timestamp": TIMESTAMP,
        "oauth_nonce": NONCE,
        "oauth_version": "1.0",
        "oauth_signature": KNOWN_SIGNATURE,
    }
    # Values travel percent-encoded inside the quotes (RFC 5849 3.5.1).
    encoded = "5fi%2B86ov%2FyMM%2BMrwSMRgcg24aAJphYS5R%2BWcgOGFZlM%3D"
    assert f'oauth_signature="{encoded}"' in header


def test_query_parameters_are_signed():
    plain_url = URL.split("?")[0]
    with_query = header_params(signed("GET"))["oauth_signature"]
    without = header_params(signed("GET", plain_url))["oauth_signature"]

    assert with_query != without
    assert without == hmac_sha256(base_string("GET", plain_url, []))


def test_form_body_is_signed():
    form = {"name": "A+B Ltd", "city": "Köln"}
    request = signed("POST", data=form)

    expected = hmac_sha256(base_string("POST", URL, list(form.items())))
    assert header_params(request)["oauth_signature"] == expected
    assert expected != hmac_sha256(base_string("POST", URL, []))


def test_json_body_is_not_signed():
    request = signed("POST", json={"companyName": "A+B Ltd", "subsidiary": "1"})

    assert request.headers["Content-Type"] == "application/json"
    expected = hmac_sha256(base_string("POST", URL, []))
    assert header_params(request)["oauth_signature"] == expected


def test_json_body_that_looks_like_a_form_is_still_not_signed():
    request = signed("POST", data=b"12345", headers={"Content-Type": "text/plain"})
    expected = hmac_sha256(base_string("POST", URL, []))
    assert header_params(request)["oauth_signature"] == expected


# --- Through the client ------------------------------------------------------------


@pytest.mark.django_db
def test_every_attempt_is_signed_with_a_new_nonce(account, server):
    server.route("GET", API_PATH, respond(503), respond(200, json={"id": "42"}))
    auth = OAuth1Signer(
        consumer_key=CONSUMER_KEY,
        consumer_secret=CONSUMER_SECRET,
        token=TOKEN_ID,
        token_secret=TOKEN_SECRET,
        realm="1234567_SB1",
    )

    client_for(account).request(
        "GET",
        server.url_for(API_PATH),
        operation="netsuite_get_customer",
        idempotent=True,
        auth=auth,
    )

    first, second = server.requests_for("GET", API_PATH)
    nonces = [
        re.search(r'oauth_nonce="([^"]+)"', r.header("Authorization")).group(1)
        for r in (first, second)
    ]
    assert nonces[0] != nonces[1]
    assert second.header("Authorization").startswith('OAuth realm="1234567_SB1", ')
    assert CONSUMER_SECRET not in repr(auth) and TOKEN_SECRET not in repr(auth)


# --- NetSuite helpers -------------------------------------------------------------


@pytest.mark.parametrize(
    ("account_id", "realm"),
    [
        ("1234567", "1234567"),
        ("1234567-sb1", "1234567_SB1"),
        ("tstdrv12-rp", "TSTDRV12_RP"),
    ],
)
def test_netsuite_realm(account_id, realm):
    assert netsuite_realm(account_id) == realm


def test_netsuite_signer_reads_credentials_by_name():
    credentials = {
        "consumer_key": CONSUMER_KEY,
        "consumer_secret": CONSUMER_SECRET,
        "token_id": TOKEN_ID,
        "token_secret": TOKEN_SECRET,
    }
    auth = netsuite_signer(credentials, account_id=ACCOUNT_ID)
    request = auth(requests.Request("GET", URL).prepare())

    params = header_params(request)
    assert params["realm"] == "1234567_SB1"
    assert params["oauth_consumer_key"] == CONSUMER_KEY
    assert params["oauth_token"] == TOKEN_ID
    assert params["oauth_signature_method"] == "HMAC-SHA256"


def test_netsuite_signer_names_what_is_missing_without_values():
    with pytest.raises(ConfigurationError) as caught:
        netsuite_signer({"consumer_key": CONSUMER_KEY}, account_id="")
    assert caught.value.code == "missing_credentials"
    message = str(caught.value)
    for name in ("consumer_secret", "token_id", "token_secret", "account_id"):
        assert name in message
    assert CONSUMER_KEY not in message
