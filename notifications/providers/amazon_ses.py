"""Amazon SES (SESv2 ``SendEmail``) through anymail's SES backend, boto3
underneath. boto3 does not send through a ``requests`` session, so the
account gets its own boto3 client (cached per process and credentials, with
botocore's retries off and the client's timeouts), each send still runs as
one ProviderClient operation (breaker, limiter, call log), and errors are
classified by SES's error code. Events arrive over SNS (``ses_events``).
"""

import hashlib
import re
from collections.abc import Iterable, Mapping
from email.utils import getaddresses
from typing import Any, ClassVar

import boto3
from anymail.backends.base import AnymailBaseBackend
from anymail.exceptions import AnymailError
from botocore import exceptions as boto
from botocore.client import BaseClient, Config
from botocore.parsers import ResponseParserError

from integrations.client import CallContext, client_for
from integrations.client.store import AccountStore
from integrations.errors import (
    ConfigurationError,
    NotProcessed,
    ProviderError,
    Rejected,
    Unknown,
)
from integrations.providers.base import ConfigField, HealthResult
from notifications.providers.base import (
    SENDING_DOMAINS_FIELD,
    idn_address,
    sender_not_verified,
)
from notifications.providers.esp import (
    AnymailAdapter,
    build_anymail_backend,
    refused_recipient,
)
from notifications.providers.ses_events import SesEventsMixin

# SES error codes by what they mean for the send (SESv2 API reference,
# "Errors" of SendEmail, and the common errors of every AWS API).
_THROTTLED = frozenset(
    {
        "TooManyRequestsException",
        "LimitExceededException",
        "Throttling",
        "ThrottlingException",
    }
)
_AUTH = frozenset(
    {
        "UnrecognizedClientException",
        "InvalidClientTokenId",
        "SignatureDoesNotMatch",
        "AccessDeniedException",
        "ExpiredTokenException",
        "IncompleteSignature",
        "MissingAuthenticationToken",
    }
)
# This account cannot send now; another account may.
_ACCOUNT = frozenset(
    {
        "AccountSuspendedException",
        "SendingPausedException",
        "MailFromDomainNotVerifiedException",
        "NotFoundException",
    }
)
# "Email address is not verified. The following identities failed the check
# in region US-EAST-1: a@example.com, b@example.com" (SES Developer Guide,
# "Amazon SES email sending errors").
_FAILED_IDENTITIES = re.compile(
    r"failed the check(?: in region [^:]*)?:(.*)$", re.IGNORECASE | re.DOTALL
)
# SES's send rate is per second: come back after one.
_THROTTLE_RETRY_AFTER = 1.0


def _account_of(key: tuple[int, str]) -> int:
    return key[0]


# One client per account and credentials, closed as ``client_for``'s are.
_store: AccountStore[tuple[int, str], BaseClient] = AccountStore(
    BaseClient.close, pk_of=_account_of
)
_clients = _store.entries
_clients_lock = _store.lock


class AmazonSesAdapter(SesEventsMixin, AnymailAdapter):
    code = "amazon_ses"
    display_name = "Amazon SES"
    backend_path = "anymail.backends.amazon_ses.EmailBackend"
    counts_own_attempts = True  # boto3 does not send through the client session
    # {"test": ..., "live": ...}: "" is boto3's regional endpoint. Tests point
    # them at 127.0.0.1.
    endpoint_urls: ClassVar[Mapping[str, str]] = {"test": "", "live": ""}
    credential_fields = (
        ConfigField("access_key_id", "Access key ID"),
        ConfigField(
            "secret_access_key",
            "Secret access key",
            help_text="An IAM user allowed ses:SendEmail and ses:GetAccount.",
        ),
    )
    settings_fields = (
        ConfigField("region", "AWS region", default="us-east-1"),
        ConfigField(
            "configuration_set",
            "Configuration set",
            required=False,
            help_text="The set whose event destination publishes to SNS.",
        ),
        *SesEventsMixin.sns_settings_fields,
        SENDING_DOMAINS_FIELD,
    )

    def backend_options(self) -> dict[str, Any]:
        return {
            # The client is ours (``ses_client``); these only stop anymail
            # reading AMAZON_SES_* from Django settings.
            "session_params": {},
            "client_params": {},
            "configuration_set_name": self.setting("configuration_set") or None,
            "message_tag_name": None,
        }

    def build_backend(self) -> AnymailBaseBackend:
        backend = build_anymail_backend(self.backend_path, self.backend_options())
        # Set before send_messages: its open() then keeps (never closes) it.
        backend.client = self.ses_client()
        return backend

    def ses_client(self) -> BaseClient:
        """The account's boto3 SESv2 client, built once per process and
        credentials (boto3 clients are thread-safe; sessions are not)."""
        access_key = self.credential("access_key_id")
        secret_key = self.credential("secret_access_key")
        config = client_for(self.account).config
        region = str(self.setting("region"))
        endpoint = self.endpoint_urls["live" if self.account.mode == "live" else "test"]
        parts = (access_key, secret_key, region, endpoint, repr(config))
        fingerprint = hashlib.sha256("\0".join(parts).encode()).hexdigest()
        key = (self.account.pk, fingerprint)
        with _clients_lock:
            client = _clients.get(key)
            if client is not None:
                _store.used(key)
                return client
        client = boto3.session.Session(
            aws_access_key_id=access_key,
            aws_secret_access_key=secret_key,
            region_name=region,
        ).client(
            "sesv2",
            endpoint_url=endpoint or None,
            config=Config(
                connect_timeout=config.connect_timeout,
                read_timeout=config.read_timeout,
                # The ProviderClient decides about retries.
                retries={"total_max_attempts": 1, "mode": "standard"},
            ),
        )
        with _clients_lock:
            found = _clients.get(key)
            if found is not None:  # another thread built it meanwhile
                _store.used(key)
                replaced = [client]
                client = found
            else:
                # A rotated credential replaces (and closes) the old client.
                replaced = _store.put(key, client)
        _store.close(replaced)
        return client

    def send_error(self, exc: Exception) -> ProviderError | None:
        # Raised past anymail, which wraps only boto's own error classes.
        if isinstance(exc, ResponseParserError):
            return Unknown(
                "Amazon SES sent an unreadable answer", code="malformed_response"
            )
        return None

    def provider_error(self, exc: AnymailError) -> ProviderError | None:
        cause = exc.__cause__
        if isinstance(cause, boto.ClientError):
            # An unverified sender of ours: the base alerts staff.
            return ses_client_error(cause, **_parties(exc.email_message))
        if isinstance(cause, boto.BotoCoreError):
            return boto_transport_error(cause)
        return None

    def health_check(self) -> HealthResult:
        def attempt(ctx: CallContext) -> dict[str, Any]:
            ctx.attempts += 1
            try:
                answer = self.ses_client().get_account()
            except boto.ClientError as exc:
                raise ses_client_error(exc) from None
            except boto.BotoCoreError as exc:
                raise boto_transport_error(exc) from None
            ctx.http_status = 200
            return answer

        account = self.email_call("health_check", attempt, idempotent=True)
        if not account.get("SendingEnabled", False):
            return HealthResult(ok=False, detail="sending is paused for this account")
        quota = account.get("SendQuota") or {}
        return HealthResult(
            ok=True,
            detail="Amazon SES account can send",
            extra={"max_send_rate": quota.get("MaxSendRate")},
        )


def ses_client_error(
    exc: boto.ClientError,
    *,
    senders: frozenset[str] = frozenset(),
    recipients: frozenset[str] = frozenset(),
) -> ProviderError:
    """Our error for an SES API error, by its error code; ``senders`` and
    ``recipients`` (``_identity`` forms) tell whose address SES found not
    verified."""
    error = exc.response.get("Error") or {}
    code = str(error.get("Code", ""))
    status = (exc.response.get("ResponseMetadata") or {}).get("HTTPStatusCode")
    text = str(error.get("Message", "")).lower()
    if code in _THROTTLED or status == 429:
        return NotProcessed(
            "Amazon SES is rate-limiting this account",
            code="too_many_requests",
            http_status=429,
            retry_after=_THROTTLE_RETRY_AFTER,
            provider_code=code,
        )
    if code in _AUTH:
        return NotProcessed(
            "Amazon SES refused the credentials",
            code="authentication_failed",
            http_status=status or 403,
            provider_code=code,
        )
    if code in _ACCOUNT:
        return NotProcessed(
            "this Amazon SES account cannot send now",
            code="account_unable_to_send",
            http_status=status,
            provider_code=code,
        )
    if isinstance(status, int) and status >= 500:
        return NotProcessed(
            "Amazon SES failed", code="server_error", http_status=status
        )
    if code == "MessageRejected" and "not verified" in text:
        message = str(error.get("Message", ""))
        return _not_verified(message, code, status, senders, recipients)
    if code in ("MessageRejected", "BadRequestException") and "address" in text:
        # "Email address is not verified", "Illegal address", ...
        return refused_recipient(
            "Amazon SES refused the recipient address",
            provider_code=code,
            http_status=status,
        )
    return Rejected(
        "Amazon SES refused the message",
        code="message_rejected" if code == "MessageRejected" else "bad_request",
        http_status=status,
        provider_code=code,
    )


def _not_verified(
    message: str,
    code: str,
    status: int | None,
    senders: frozenset[str],
    recipients: frozenset[str],
) -> ProviderError:
    """A recipient refusal only when every identity SES names is a recipient
    (the sandbox); one of ours, or one we cannot place, is our configuration."""
    found = _FAILED_IDENTITIES.search(message)
    named = _identities([found.group(1)] if found else [])
    sender_domains = {s.rpartition("@")[2] for s in senders}
    if named and named <= recipients and not named & (senders | sender_domains):
        return refused_recipient(
            "Amazon SES refused the recipient address (not verified: the "
            "account is in the SES sandbox)",
            provider_code=code,
            http_status=status,
        )
    return sender_not_verified(
        "Amazon SES refused the sender as not verified in this account's region",
        provider_code=code,
        http_status=status,
    )


def _identity(value: str) -> str:
    # An address or a domain as SES names one: lower case, ASCII domain.
    return idn_address(value.strip()).lower()


def _identities(values: Iterable[str | None]) -> frozenset[str]:
    """The addresses (or bare domains) in header-style ``values``."""
    pairs = getaddresses([v for v in values if v])
    return frozenset(_identity(address) for _, address in pairs if address)


def _parties(message: Any) -> dict[str, frozenset[str]]:
    """The sending identities SES checks (From, Sender, Return-Path) and the
    recipients of the anymail message an error came with."""
    if message is None:
        return {}
    headers = getattr(message, "extra_headers", None) or {}
    senders = [
        getattr(message, "from_email", None),
        getattr(message, "envelope_sender", None),
        *(v for k, v in headers.items() if k.lower() in ("sender", "return-path")),
    ]
    recipients = [*(getattr(message, "to", None) or [])]
    return {"senders": _identities(senders), "recipients": _identities(recipients)}


def boto_transport_error(exc: boto.BotoCoreError) -> ProviderError:
    """Our error for a botocore transport failure (checked in this order:
    a read timeout is an HTTPClientError, a connect timeout a ConnectionError)."""
    if isinstance(exc, boto.ReadTimeoutError):
        return Unknown("Amazon SES did not answer in time", code="read_timeout")
    if isinstance(exc, boto.ConnectTimeoutError):
        return NotProcessed(
            "connecting to Amazon SES timed out", code="connect_timeout"
        )
    if isinstance(exc, boto.SSLError):
        return NotProcessed("TLS handshake with Amazon SES failed", code="tls_error")
    if isinstance(exc, boto.EndpointConnectionError | boto.ProxyConnectionError):
        return NotProcessed(
            "Amazon SES refused the connection", code="connection_refused"
        )
    if isinstance(exc, boto.NoCredentialsError | boto.PartialCredentialsError):
        return ConfigurationError(
            "Amazon SES credentials are not set", code="missing_credentials"
        )
    # Closed after sending, or anything else: the message may have gone.
    return Unknown("connection to Amazon SES failed", code="connection_reset")
