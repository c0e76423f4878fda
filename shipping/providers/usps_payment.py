"""The USPS payment authorization token (Payments 3.0), kept like an OAuth
token: one cache entry per account and payer, fetched once for every process
(``integrations.oauth.TokenCache``: cross-process lock, refreshed
``OAUTH_TOKEN_EXPIRY_MARGIN_SECONDS`` before it expires), instead of asked for
before every label and void.

Its lifetime is the token's own ``exp`` claim when it is a JWT; otherwise the
account's ``payment_token_seconds`` (USPS's answer carries no ``expires_in``).
"""

import base64
import binascii
import json
import math
from typing import TYPE_CHECKING, Any

from integrations.errors import NotProcessed
from integrations.oauth import TokenCache

if TYPE_CHECKING:
    from shipping.providers.usps import USPSAdapter

PAYMENT_PATH = "/payments/v3/payment-authorization"
DEFAULT_LIFETIME_SECONDS = 3600


class PaymentTokenCache(TokenCache):
    """The account's payment authorization token for its payer roles."""

    key_prefix = "usps-payment"

    def __init__(self, adapter: "USPSAdapter", role: dict[str, str]) -> None:
        super().__init__(
            adapter.account, adapter.oauth_credentials(), provider="usps_payment"
        )
        # The call log keeps the operation's name from before it was cached.
        self.operation = "usps_payment_token"
        self.adapter = adapter
        self.role = role

    def key_material(self) -> str:
        # New payer details never reuse the old payer's authorization.
        role = self.role
        return "\n".join(
            (super().key_material(), role["CRID"], role["MID"], role["accountNumber"])
        )

    def request_token(self) -> tuple[str, int]:
        data = self.adapter.send(
            "POST",
            PAYMENT_PATH,
            operation=self.operation,
            json={
                "roles": [
                    {"roleName": "PAYER", **self.role},
                    {"roleName": "LABEL_OWNER", **self.role},
                ]
            },
        )
        token = data.get("paymentAuthorizationToken")
        if not isinstance(token, str) or not token:
            raise NotProcessed(
                "USPS gave no payment authorization", code="malformed_response"
            )
        fallback = int(
            self.adapter.setting("payment_token_seconds") or DEFAULT_LIFETIME_SECONDS
        )
        return token, _lifetime(token, fallback, now=self.clock())


def _lifetime(token: str, fallback: int, *, now: float) -> int:
    """Seconds until the JWT's ``exp``; ``fallback`` for an opaque token."""
    claims = _jwt_claims(token)
    expires = claims.get("exp") if claims else None
    if isinstance(expires, int | float) and not isinstance(expires, bool):
        if not math.isfinite(expires):
            # 1e999 in the claims' JSON: a token we cannot read.
            raise NotProcessed(
                "USPS's payment authorization cannot be read",
                code="malformed_response",
            )
        return max(0, int(expires - now))
    return fallback


def _jwt_claims(token: str) -> dict[str, Any] | None:
    parts = token.split(".")
    if len(parts) != 3:
        return None
    padded = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        claims = json.loads(base64.urlsafe_b64decode(padded))
    except (binascii.Error, ValueError):
        return None
    return claims if isinstance(claims, dict) else None


__all__ = ["PaymentTokenCache"]
