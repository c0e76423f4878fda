"""NetSuite OAuth 2.0 client credentials (machine to machine).

The integration proves itself with a JWT client assertion signed by the
private key of the certificate mapped under Setup > Integration > OAuth 2.0
Client Credentials (M2M) Setup, and gets a bearer token valid 60 minutes:

    POST https://<account>.suitetalk.api.netsuite.com/services/rest/auth/oauth2/v1/token
    grant_type=client_credentials
    &client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer
    &client_assertion=<JWT>

Assertion header: ``typ`` JWT, ``alg`` one of PS256/384/512 or ES256/384/512,
``kid`` the certificate id; payload: ``iss`` the integration's client id,
``scope`` (``rest_webservices``), ``aud`` the token endpoint, ``iat`` and
``exp`` (seconds since the epoch, ``exp`` less than 60 minutes after ``iat``).
NetSuite stopped accepting RSA PKCS#1 v1.5 signatures (RS256) on 1 March 2025,
so an RSA key signs with RSA-PSS (PS256) and an EC key with the ECDSA matching
its curve. The token is shared by every process through
``integrations.oauth.TokenCache``.
"""

import base64
import json
import re
import time
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from integrations.errors import ConfigurationError
from integrations.oauth import ClientCredentials, Clock, TokenCache, token_of

if TYPE_CHECKING:
    from integrations.models import ProviderAccount

TOKEN_PATH = "/auth/oauth2/v1/token"  # noqa: S105 (a URL path, not a secret)
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
SCOPE = "rest_webservices"
# The assertion is used at once; NetSuite refuses one living 60 minutes or more.
ASSERTION_SECONDS = 300
M2M_CREDENTIALS = ("client_id", "certificate_id", "private_key")
# ECDSA per curve: (alg, hash, bytes per coordinate of the raw signature).
_EC_ALGORITHMS: dict[str, tuple[str, hashes.HashAlgorithm, int]] = {
    "secp256r1": ("ES256", hashes.SHA256(), 32),
    "secp384r1": ("ES384", hashes.SHA384(), 48),
    "secp521r1": ("ES512", hashes.SHA512(), 66),
}


_PEM = re.compile(r"-----BEGIN ([A-Z ]+)-----(.*?)-----END \1-----", re.DOTALL)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _segment(value: dict[str, Any]) -> str:
    return _b64(json.dumps(value, separators=(",", ":")).encode())


def normalized_pem(text: str) -> str:
    """A PEM block re-wrapped at 64 columns: the admin's secret field is one
    line, so a pasted key arrives without its line breaks."""
    match = _PEM.search(text.replace("\\n", "\n"))
    if match is None:
        return text
    label, body = match.group(1), "".join(match.group(2).split())
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return "\n".join([f"-----BEGIN {label}-----", *lines, f"-----END {label}-----", ""])


def load_private_key(pem: str) -> rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey:
    """The certificate's private key (PEM, unencrypted); the error never
    quotes the key."""
    try:
        key = serialization.load_pem_private_key(
            normalized_pem(pem).encode(), password=None
        )
    except (ValueError, TypeError):
        key = None
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise ConfigurationError(
            "NetSuite credential 'private_key' is not an unencrypted RSA or EC "
            "private key in PEM",
            code="missing_credentials",
        )
    return key


def signing_algorithm(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> str:
    """The JWT ``alg`` NetSuite accepts for this key."""
    if isinstance(key, rsa.RSAPrivateKey):
        return "PS256"
    found = _EC_ALGORITHMS.get(key.curve.name)
    if found is None:
        raise ConfigurationError(
            "NetSuite accepts EC keys on P-256, P-384 or P-521 only",
            code="missing_credentials",
        )
    return found[0]


def _sign(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey, data: bytes) -> bytes:
    if isinstance(key, rsa.RSAPrivateKey):
        # RFC 7518 3.5: MGF1 with the same hash, salt as long as the hash.
        pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
        return key.sign(data, pss, hashes.SHA256())
    _, digest, size = _EC_ALGORITHMS[key.curve.name]
    r, s = decode_dss_signature(key.sign(data, ec.ECDSA(digest)))
    # JWS wants R || S at fixed width, not the DER the library returns.
    return r.to_bytes(size, "big") + s.to_bytes(size, "big")


def client_assertion(
    *,
    client_id: str,
    certificate_id: str,
    private_key: str,
    token_url: str,
    now: int,
) -> str:
    """The signed JWT that asks ``token_url`` for a token."""
    key = load_private_key(private_key)
    header = {"typ": "JWT", "alg": signing_algorithm(key), "kid": certificate_id}
    payload = {
        "iss": client_id,
        "scope": SCOPE,
        "aud": token_url,
        "iat": now,
        "exp": now + ASSERTION_SECONDS,
    }
    signing_input = f"{_segment(header)}.{_segment(payload)}"
    return f"{signing_input}.{_b64(_sign(key, signing_input.encode()))}"


class NetSuiteM2MTokens(TokenCache):
    """One account's M2M bearer token, shared by every process; the client
    id and certificate id are in the cache key, so a new certificate never
    reuses the old one's token."""

    def __init__(
        self,
        account: "ProviderAccount",
        *,
        token_url: str,
        credentials: dict[str, Any],
        clock: Clock = time.time,
    ) -> None:
        missing = [name for name in M2M_CREDENTIALS if not credentials.get(name)]
        if missing:
            raise ConfigurationError(
                "NetSuite OAuth 2.0 credentials are missing: " + ", ".join(missing),
                code="missing_credentials",
            )
        self.certificate_id = str(credentials["certificate_id"])
        super().__init__(
            account,
            ClientCredentials(
                token_url=token_url,
                client_id=str(credentials["client_id"]),
                # The key signs assertions; it never leaves this process.
                client_secret=str(credentials["private_key"]),
                scope=SCOPE,
                send_as="body",
            ),
            provider="netsuite",
            clock=clock,
        )

    def key_material(self) -> str:
        return f"{super().key_material()}\n{self.certificate_id}"

    def request_token(self) -> tuple[str, int]:
        creds = self.credentials
        assertion = client_assertion(
            client_id=creds.client_id,
            certificate_id=self.certificate_id,
            private_key=creds.client_secret,
            token_url=creds.token_url,
            now=int(self.clock()),
        )
        response = self.client.request(
            "POST",
            creds.token_url,
            operation=self.operation,
            # A second token request changes nothing at NetSuite.
            idempotent=True,
            idempotency_header=None,
            headers={"Accept": "application/json"},
            expect_json=True,
            data={
                "grant_type": "client_credentials",
                "client_assertion_type": ASSERTION_TYPE,
                "client_assertion": assertion,
            },
        )
        return token_of(response)


__all__ = [
    "ASSERTION_TYPE",
    "M2M_CREDENTIALS",
    "SCOPE",
    "TOKEN_PATH",
    "NetSuiteM2MTokens",
    "client_assertion",
    "load_private_key",
    "normalized_pem",
    "signing_algorithm",
]
