"""Contract harness for the SMTP relay adapter, over real sockets: a fake
relay on 127.0.0.1 (tests/notifications/smtp_server.py, RFC 5321 replies
chosen by the recipient) and a refusing port. SMTP has no HTTP statuses and
no webhooks; the scenarios map to the relay's replies."""

from functools import cache

from integrations.models import ProviderAccount
from integrations.testing.faultserver import RefusingPort
from notifications.providers.base import OutboundEmail
from tests.factories import ProviderAccountFactory
from tests.notifications.contract.harness import sample_email
from tests.notifications.smtp_server import PASSWORD, USERNAME, FakeSmtpServer

PROVIDER = "smtp"
_NO_WEBHOOKS = "SMTP posts no delivery events; the provider has no webhooks"
NOT_APPLICABLE = {
    "malformed_json": "SMTP replies are status lines, not JSON",
    "webhook_valid": _NO_WEBHOOKS,
    "webhook_forged": _NO_WEBHOOKS,
    "webhook_stale": _NO_WEBHOOKS,
    "webhook_duplicate": _NO_WEBHOOKS,
    "webhook_out_of_order": _NO_WEBHOOKS,
    "webhook_batch": _NO_WEBHOOKS,
}


@cache
def relay() -> FakeSmtpServer:
    # One relay for the session (daemon threads): behaviour is per recipient.
    return FakeSmtpServer(hang_limit=3).start()


@cache
def refusing() -> RefusingPort:
    return RefusingPort()


def make_account() -> ProviderAccount:
    return ProviderAccountFactory(
        kind="email",
        provider=PROVIDER,
        credentials={"username": USERNAME, "password": PASSWORD},
        settings={
            "host": "127.0.0.1",
            "port": relay().port,
            "security": "none",
            "read_timeout": 0.3,
        },
    )


def accepted(rsps, account) -> OutboundEmail:
    return sample_email()


def invalid_recipient(rsps, account) -> OutboundEmail:
    return sample_email(to="invalid@example.com")


def unauthorized_401(rsps, account) -> OutboundEmail:
    account.set_credentials({"username": USERNAME, "password": "wrong"})
    account.save(update_fields=["credentials_encrypted"])
    return sample_email()


def rate_limited_429(rsps, account) -> OutboundEmail:
    return sample_email(to="ratelimited@example.com")


def server_error_500(rsps, account) -> OutboundEmail:
    # 421: the relay is not available; it queued nothing.
    return sample_email(to="unavailable@example.com")


def read_timeout(rsps, account) -> OutboundEmail:
    return sample_email(to="hang@example.com")


def connection_refused(rsps, account) -> OutboundEmail:
    account.settings["port"] = refusing().port
    account.save(update_fields=["settings"])
    return sample_email()
