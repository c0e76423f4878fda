"""Shared OAuth: client-credentials tokens kept once for every process, and
OAuth 1.0a request signing (NetSuite token-based authentication).

``TokenCache`` keeps one token per account in Django's cache (Redis in
production, the database cache in the embedded default), fetches it through
the account's ``ProviderClient`` once when many processes find it missing,
fetches it again ``OAUTH_TOKEN_EXPIRY_MARGIN_SECONDS`` before it expires, and
``with_token`` repeats a call once with a new token after a 401::

    tokens = TokenCache(account, ClientCredentials(token_url, client_id, secret),
                        provider="paypal")
    response = tokens.with_token(lambda token: client.request(
        "GET", url, operation="paypal_get_order", idempotent=True,
        headers={"Authorization": f"Bearer {token}"}))

``OAuth1Signer`` is a ``requests`` auth: pass it as ``auth=`` to
``ProviderClient.request`` and every attempt is signed with its own nonce.
Tokens and secrets are never logged. Design notes: docs/oauth.md.
"""

import hashlib
import logging
import math
import time
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal, TypeVar

import requests
from django.conf import settings
from django.core.cache import cache
from django.utils.crypto import salted_hmac
from oauthlib import oauth1
from redis.exceptions import RedisError

from integrations import secrets_registry
from integrations.client import ProviderClient, client_for, response_json
from integrations.client.redirects import same_origin_only
from integrations.errors import ConfigurationError, NotProcessed, ProviderError
from integrations.ratelimit import cache_lock
from integrations.redis_line import outage

if TYPE_CHECKING:
    from integrations.models import ProviderAccount

__all__ = [
    "BearerTokenAuth",
    "ClientCredentials",
    "OAuth1Signer",
    "TokenCache",
    "fetching_token",
    "forget_kept_tokens",
    "netsuite_realm",
    "netsuite_signer",
    "token_of",
]

logger = logging.getLogger(__name__)

T = TypeVar("T")
Clock = Callable[[], float]

# Waiters for a token being fetched elsewhere try the lock this often.
_LOCK_POLL_SECONDS = 0.01
_FORM = "application/x-www-form-urlencoded"
# The client secret's digest in a token's key: keyed with SECRET_KEY, so a
# key listing cannot confirm a guessed secret.
_KEY_SALT = "switchyard.oauth.token-cache.client-secret"
# A token answer is cached at most this long, whatever lifetime it claims.
_MAX_CACHE_SECONDS = 24 * 3600

# The token entries this process stored or read, by cache key: what it uses
# while Redis cannot be reached (the payment path fails open), so an outage
# costs each process one token fetch, not one per call. Bounded.
_KEPT_MAX = 1024
_kept: dict[str, dict[str, Any]] = {}


def forget_kept_tokens() -> None:
    """Drop the tokens this process keeps for an outage (tests)."""
    _kept.clear()


# True while a token is fetched: its requests are not the operation's own.
_fetching: ContextVar[bool] = ContextVar("oauth_token_fetching", default=False)


def fetching_token() -> bool:
    """True while a token is being fetched, for a caller that counts only
    the requests of the operation itself (a carrier hook's guard)."""
    return _fetching.get()


# --- Client credentials (RFC 6749 section 4.4) --------------------------------


@dataclass(frozen=True)
class ClientCredentials:
    token_url: str
    client_id: str
    client_secret: str = field(repr=False)
    scope: str = ""
    # "header": HTTP Basic (RFC 6749 2.3.1; PayPal); "body": in the form (FedEx);
    # "json": in a JSON body (USPS documents only that).
    send_as: Literal["header", "body", "json"] = "header"


class TokenCache:
    """One account's client-credentials token, shared through the cache.

    Cheap to build (holds no token itself). ``provider`` names the operation
    (``<provider>_oauth_token``) in the call log; ``margin`` overrides
    ``OAUTH_TOKEN_EXPIRY_MARGIN_SECONDS``; ``clock`` is the wall clock.
    """

    def __init__(
        self,
        account: "ProviderAccount",
        credentials: ClientCredentials,
        *,
        provider: str,
        margin: float | None = None,
        clock: Clock = time.time,
        client: ProviderClient | None = None,
    ) -> None:
        if not credentials.client_id or not credentials.client_secret:
            raise ConfigurationError(
                f"{provider} OAuth client ID or secret is not set",
                code="missing_credentials",
            )
        self.account = account
        self.credentials = credentials
        self.operation = f"{provider}_oauth_token"
        self.margin = (
            float(settings.OAUTH_TOKEN_EXPIRY_MARGIN_SECONDS)
            if margin is None
            else margin
        )
        self.clock = clock
        self._client = client

    @property
    def client(self) -> ProviderClient:
        if self._client is None:
            self._client = client_for(self.account)
        return self._client

    # Subclasses that cache another kind of token (a carrier's payment
    # authorization) change the prefix, the key material and request_token.
    key_prefix: ClassVar[str] = "oauth"

    @property
    def cache_key(self) -> str:
        digest = hashlib.sha256(self.key_material().encode()).hexdigest()[:16]
        return (
            f"{self.key_prefix}:{{acct:{self.account.pk}}}:{self.account.mode}:{digest}"
        )

    def key_material(self) -> str:
        """What makes a token this one (hashed into the key, never a secret)."""
        # The client id is in the key so new credentials never reuse the old
        # app's token; hashed to keep it out of key listings. So is the
        # secret, as a keyed digest: one replaced (it leaked) never reuses
        # the token fetched with it.
        creds = self.credentials
        secret = salted_hmac(_KEY_SALT, creds.client_secret, algorithm="sha256")
        return (
            f"{creds.token_url}\n{creds.client_id}\n{creds.scope}\n{secret.hexdigest()}"
        )

    # --- Public surface ---------------------------------------------------------

    def get(self) -> str:
        """The cached token, or a new one fetched by one process for all."""
        return self._read() or self._fetch_once(failed=None)

    def refresh(self, failed: str) -> str:
        """A token other than ``failed`` (which the provider refused): the one
        another process already fetched, or a new one."""
        logger.info(
            "oauth token refused, fetching another",
            extra={"account": self.account.slug, "operation": self.operation},
        )
        current = self._read()
        if current and current != failed:
            return current
        return self._fetch_once(failed=failed)

    def with_token(self, call: Callable[[str], T]) -> T:
        """``call(token)``; after a 401 (``NotProcessed`` with http_status 401)
        once more with a new token. A second 401 is raised."""
        token = self.get()
        try:
            return call(token)
        except NotProcessed as error:
            if error.http_status != 401:
                raise
        return call(self.refresh(token))

    def fetch(self) -> str:
        """A new token from the provider now, stored for everyone (a health
        check proves the credentials this way; a cached token proves nothing).

        Any failure is ``NotProcessed``: the operation that needed the token
        has sent nothing yet, whatever became of the token call itself."""
        token, lifetime = self._requested()
        secrets_registry.remember(token)
        self._store(token, lifetime)
        logger.info(
            "oauth token fetched",
            extra={
                "account": self.account.slug,
                "operation": self.operation,
                "expires_in": lifetime,
            },
        )
        return token

    def _requested(self) -> tuple[str, int]:
        mark = _fetching.set(True)
        try:
            # The token request carries the client secret: never off its origin.
            with same_origin_only():
                return self.request_token()
        except NotProcessed:
            raise
        except Exception as error:
            # A lost or broken token answer (or one our reading breaks) is
            # unknown for the token call (its own call-log row says so),
            # never for the operation behind it: that one sent nothing yet.
            raise self._not_processed(error) from error
        finally:
            _fetching.reset(mark)

    def _not_processed(self, error: Exception) -> NotProcessed:
        extra = {"account": self.account.slug, "operation": self.operation}
        if not isinstance(error, ProviderError):
            logger.exception(
                "oauth token answer could not be read",
                extra={**extra, "error_type": type(error).__name__},
            )
            return NotProcessed(
                "the token answer could not be read", code="malformed_response"
            )
        logger.warning(
            "oauth token fetch failed",
            extra={**extra, "outcome": error.outcome, "code": error.code},
        )
        return NotProcessed(
            error.message,
            code=error.code,
            http_status=error.http_status,
            retry_after=error.retry_after,
            provider_code=error.provider_code,
        )

    def request_token(self) -> tuple[str, int]:
        """Ask the provider for a token: (token, lifetime in seconds)."""
        creds = self.credentials
        data = {"grant_type": "client_credentials"}
        if creds.scope:
            data["scope"] = creds.scope
        extra: dict[str, Any] = {"data": data}
        if creds.send_as == "header":
            extra["auth"] = (creds.client_id, creds.client_secret)
        else:
            data.update(client_id=creds.client_id, client_secret=creds.client_secret)
        if creds.send_as == "json":
            extra = {"json": data}
        response = self.client.request(
            "POST",
            creds.token_url,
            operation=self.operation,
            # Asking twice for a token changes nothing.
            idempotent=True,
            idempotency_header=None,
            headers={"Accept": "application/json"},
            expect_json=True,
            **extra,
        )
        return _token_of(response)

    # --- Cache ----------------------------------------------------------------

    def _read(self) -> str | None:
        try:
            outage.check()
            entry = cache.get(self.cache_key)
        except RedisError as exc:
            outage.failed(exc)  # the payment path goes on: this process's
            return self._valid(_kept.get(self.cache_key))
        outage.answered()
        if isinstance(entry, dict):
            self._keep(entry)
        return self._valid(entry)

    def _keep(self, entry: dict[str, Any] | None) -> None:
        if entry is None:
            _kept.pop(self.cache_key, None)
            return
        _kept[self.cache_key] = entry
        if len(_kept) > _KEPT_MAX:
            _kept.pop(next(iter(_kept)), None)

    def _shared(self, write: Callable[[], None]) -> None:
        """A write of the shared entry; Redis unreachable: noted, skipped
        (this process keeps its own, ``_keep``)."""
        try:
            outage.check()
            write()
        except RedisError as exc:
            outage.failed(exc)

    def _valid(self, entry: Any) -> str | None:
        if not isinstance(entry, dict):
            return None
        token = entry.get("access_token")
        expires_at = entry.get("expires_at")
        if not isinstance(token, str) or not isinstance(expires_at, int | float):
            return None
        # A provider's error may quote the token back: mask it in our logs.
        secrets_registry.remember(token)
        return token if self.clock() < expires_at - self.margin else None

    def _store(self, token: str, lifetime: int) -> None:
        ttl = lifetime - self.margin
        if ttl <= 0:
            # Too short-lived to share: this caller uses it, the next fetches.
            self._keep(None)
            self._shared(lambda: cache.delete(self.cache_key))
            return
        lifetime = min(lifetime, _MAX_CACHE_SECONDS + self.margin)
        entry = {"access_token": token, "expires_at": self.clock() + lifetime}
        self._keep(entry)
        ttl = math.ceil(min(ttl, _MAX_CACHE_SECONDS))
        self._shared(lambda: cache.set(self.cache_key, entry, ttl))

    def _fetch_once(self, *, failed: str | None) -> str:
        """``_fetch_locked``; while Redis cannot be reached (its lock there),
        this process's kept token or one it fetches for itself."""
        try:
            outage.check()
            return self._fetch_locked(failed=failed)
        except RedisError as exc:
            # Also Redis gone after a fetch: ``_store`` kept that token.
            outage.failed(exc)
        current = self._valid(_kept.get(self.cache_key))
        if current and current != failed:
            return current
        return self.fetch()

    def _fetch_locked(self, *, failed: str | None) -> str:
        # Long enough for one whole token operation, retries included.
        ttl = self.client.config.deadline_seconds + 1
        lock = self.cache_key + ":lock"
        with cache_lock(lock, wait=ttl + 1, ttl=ttl, poll=_LOCK_POLL_SECONDS) as ok:
            # A waiter re-reads: the holder before it has usually fetched.
            entry = cache.get(self.cache_key)
            current = self._valid(entry)
            if current and current != failed:
                return current
            if not ok:
                raise NotProcessed(
                    "another process is fetching the OAuth token",
                    code="token_unavailable",
                )
            # Only the token that failed is dropped, never a newer one.
            if (
                isinstance(entry, dict)
                and failed
                and entry.get("access_token") == failed
            ):
                cache.delete(self.cache_key)
            return self.fetch()


def _token_of(response: requests.Response) -> tuple[str, int]:
    body = response_json(response)
    token = body.get("access_token") if isinstance(body, dict) else None
    if not isinstance(token, str) or not token:
        raise NotProcessed(
            "the token response has no access token",
            code="malformed_response",
            http_status=response.status_code,
        )
    try:
        lifetime = int(body.get("expires_in", 0))
    except (TypeError, ValueError):
        lifetime = 0
    except OverflowError:
        # A lifetime of infinity (1e999 in JSON) is a broken answer.
        raise NotProcessed(
            "the token response's lifetime cannot be read",
            code="malformed_response",
            http_status=response.status_code,
        ) from None
    return token, lifetime


def token_of(response: requests.Response) -> tuple[str, int]:
    """(access token, lifetime in seconds) from an RFC 6749 token response,
    for ``TokenCache`` subclasses that send their own token request."""
    return _token_of(response)


class BearerTokenAuth:
    """For an ``HttpAdapter`` whose API takes client-credentials bearer
    tokens (put it first among the bases): ``auth_headers`` from the shared
    ``TokenCache``, and ``refresh_auth`` after a 401 replaces only the token
    that failed. The adapter supplies ``oauth_credentials``."""

    account: "ProviderAccount"
    code: ClassVar[str]

    def oauth_credentials(self) -> ClientCredentials:
        """Token URL, client id and secret (read with ``self.credential``)."""
        raise NotImplementedError

    def oauth_tokens(self) -> TokenCache:
        return TokenCache(self.account, self.oauth_credentials(), provider=self.code)

    def auth_headers(self) -> dict[str, str]:
        # The token refresh_auth just got, else the shared one.
        token = self.__dict__.pop("_oauth_fresh", None) or self.oauth_tokens().get()
        self._oauth_sent = token
        return {"Authorization": f"Bearer {token}"}

    def refresh_auth(self) -> bool:
        sent = self.__dict__.get("_oauth_sent")
        if not sent:
            return False
        self._oauth_fresh = self.oauth_tokens().refresh(sent)
        return True


# --- OAuth 1.0a signing (RFC 5849) ----------------------------------------------


class OAuth1Signer(requests.auth.AuthBase):
    """Signs a request with OAuth 1.0a HMAC-SHA256 in the Authorization
    header, realm included. Query parameters and form bodies are signed; other
    bodies (JSON) are not, as RFC 5849 section 3.4.1.3.1 says.

    A new nonce and timestamp per request (and so per retry attempt);
    ``nonce``/``timestamp`` callables fix them for known-answer tests.
    """

    def __init__(
        self,
        *,
        consumer_key: str,
        consumer_secret: str,
        token: str,
        token_secret: str,
        realm: str = "",
        nonce: Callable[[], str] | None = None,
        timestamp: Callable[[], str] | None = None,
    ) -> None:
        self._consumer = (consumer_key, consumer_secret)
        self._token = (token, token_secret)
        self.realm = realm
        self._nonce = nonce
        self._timestamp = timestamp

    def __repr__(self) -> str:
        return f"<OAuth1Signer realm={self.realm!r}>"

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        client = oauth1.Client(
            self._consumer[0],
            client_secret=self._consumer[1],
            resource_owner_key=self._token[0],
            resource_owner_secret=self._token[1],
            signature_method=oauth1.SIGNATURE_HMAC_SHA256,
            signature_type=oauth1.SIGNATURE_TYPE_AUTH_HEADER,
            realm=self.realm or None,
            nonce=self._nonce() if self._nonce else None,
            timestamp=self._timestamp() if self._timestamp else None,
        )
        body = _form_body(request)
        headers = {"Content-Type": _FORM} if body is not None else {}
        _, signed, _ = client.sign(
            request.url, request.method, body=body, headers=headers
        )
        request.headers["Authorization"] = signed["Authorization"]
        return request


def _form_body(request: requests.PreparedRequest) -> str | None:
    content_type = request.headers.get("Content-Type", "")
    if not request.body or not content_type.startswith(_FORM):
        return None
    body = request.body
    return body.decode() if isinstance(body, bytes) else body


def netsuite_realm(account_id: str) -> str:
    """NetSuite's realm: the account id upper-cased, "-" as "_"
    (``1234567-sb1`` -> ``1234567_SB1``)."""
    return account_id.strip().upper().replace("-", "_")


NETSUITE_CREDENTIALS = ("consumer_key", "consumer_secret", "token_id", "token_secret")


def netsuite_signer(credentials: Mapping[str, Any], *, account_id: str) -> OAuth1Signer:
    """The signer for NetSuite token-based authentication from an account's
    credentials (``NETSUITE_CREDENTIALS``) and its NetSuite account id."""
    missing = [name for name in NETSUITE_CREDENTIALS if not credentials.get(name)]
    if not account_id:
        missing.append("account_id")
    if missing:
        raise ConfigurationError(
            "NetSuite credentials are missing: " + ", ".join(missing),
            code="missing_credentials",
        )
    return OAuth1Signer(
        consumer_key=str(credentials["consumer_key"]),
        consumer_secret=str(credentials["consumer_secret"]),
        token=str(credentials["token_id"]),
        token_secret=str(credentials["token_secret"]),
        realm=netsuite_realm(account_id),
    )
