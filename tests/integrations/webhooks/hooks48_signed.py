"""hooks48: a validly signed webhook for every provider that takes them, with
a value of our choosing put into its event (a free-text field, or the
event's id), built and signed the way each provider's own tests build them."""

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import braintree

from integrations.models import ProviderAccount
from integrations.webhooks.verification import signed_headers
from payments.providers.square import sign_webhook
from tests.contract.sandbox import SECRET as SANDBOX_SECRET
from tests.factories import ProviderAccountFactory
from tests.inventory.contract import harness_http_stock as hs
from tests.inventory.contract import harness_tradegecko as tg
from tests.notifications.contract import (
    harness_amazon_ses,
    harness_mailgun,
    harness_postmark,
    harness_sendgrid,
)
from tests.payments.contract import (
    harness_braintree,
    harness_paypal,
    harness_square,
    harness_stripe,
)
from tests.shipping.contract import harness_shippo

Edit = Callable[[dict[str, Any]], None]


@dataclass
class Signed:
    """A signed request as ``Client().post`` keyword arguments."""

    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    query: str = ""


def client_headers(headers: dict[str, str]) -> dict[str, str]:
    return {
        f"HTTP_{k.upper().replace('-', '_')}": v
        for k, v in headers.items()
        if k.lower() != "content-type"
    }


def _stripe(rsps, account: ProviderAccount, edit: Edit) -> Signed:
    event = json.loads(harness_stripe.webhook_valid(rsps, account).body)
    edit(event)
    body = json.dumps(event).encode()
    secret = harness_stripe.WEBHOOK_SECRET
    return Signed(body, harness_stripe._signed(body, secret=secret))


def _square(rsps, account: ProviderAccount, edit: Edit) -> Signed:
    event = json.loads(harness_square.webhook_valid(rsps, account).body)
    edit(event)
    body = json.dumps(event).encode()
    # No notification_url setting: the URL the intake was posted to is signed.
    url = f"http://testserver/webhooks/{account.slug}/"
    key = harness_square.SIGNATURE_KEY
    signature = sign_webhook(key=key, notification_url=url, body=body)
    return Signed(body, {"x-square-hmacsha256-signature": signature})


def _paypal(rsps, account: ProviderAccount, edit: Edit) -> Signed:
    # PayPal's verification call (answered SUCCESS) is what signs it.
    hook = harness_paypal.webhook_valid(rsps, account)
    event = json.loads(hook.body)
    edit(event)
    return Signed(json.dumps(event).encode(), hook.headers)


def _shippo(rsps, account: ProviderAccount, edit: Edit) -> Signed:
    hook = harness_shippo.webhook_valid(rsps, account)
    event = json.loads(hook.body)
    edit(event)
    return Signed(json.dumps(event).encode(), query="?" + hook.url.split("?")[1])


def _mailgun(rsps, account: ProviderAccount, edit: Edit) -> Signed:
    data = harness_mailgun.event("failed_permanent")
    edit(data)
    return Signed(harness_mailgun.signed(data).body)


def _postmark(rsps, account: ProviderAccount, edit: Edit) -> Signed:
    payload = harness_postmark.event("bounce_hard")
    edit(payload)
    hook = harness_postmark.posted(payload)
    return Signed(hook.body, hook.headers)


def _sendgrid(rsps, account: ProviderAccount, edit: Edit) -> Signed:
    event = harness_sendgrid.event("delivered")
    edit(event)
    hook = harness_sendgrid.signed([event])
    return Signed(hook.body, hook.headers)


def _amazon_ses(rsps, account: ProviderAccount, edit: Edit) -> Signed:
    # The SES event travels as JSON text in the signed SNS Message field.
    ses = harness_amazon_ses.event("bounce")
    edit(ses)
    hook = harness_amazon_ses.notification(rsps, ses)
    return Signed(hook.body, hook.headers)


def _tradegecko(rsps, account: ProviderAccount, edit: Edit) -> Signed:
    hook = tg.webhook_valid(rsps, account)
    event = json.loads(hook.body)
    edit(event)
    body = json.dumps(event).encode()
    headers = {**hook.headers, "X-Gecko-Signature": tg.signed(body)}
    return Signed(body, headers)


def _http_stock(rsps, account: ProviderAccount, edit: Edit) -> Signed:
    event = json.loads(hs.webhook_valid(rsps, account).body)
    edit(event)
    body = json.dumps(event).encode()
    stamp = int(time.time())
    headers = signed_headers(
        secret=hs.SECRET, webhook_id="msg_hooks48", body=body, timestamp=stamp
    )
    return Signed(body, headers)


def _sandbox(rsps, account: ProviderAccount, edit: Edit) -> Signed:
    event = {"type": "refund.updated", "data": {}}
    edit(event)
    body = json.dumps(event).encode()
    stamp = int(time.time())
    headers = signed_headers(
        secret=SANDBOX_SECRET, webhook_id="msg_hooks48", body=body, timestamp=stamp
    )
    return Signed(body, headers)


def _sandbox_account() -> ProviderAccount:
    return ProviderAccountFactory(slug="sbx-pay")


# provider: (make the account, sign an event edited by ``edit``, the event's
# id field, or None where the id travels outside the JSON event).
PROVIDERS: dict[str, tuple[Callable[[], ProviderAccount], Callable, str | None]] = {
    "stripe": (harness_stripe.make_account, _stripe, "id"),
    "square": (harness_square.make_account, _square, "event_id"),
    "paypal": (harness_paypal.make_account, _paypal, "id"),
    "shippo": (harness_shippo.make_account, _shippo, None),
    "mailgun": (harness_mailgun.make_account, _mailgun, "id"),
    "postmark": (harness_postmark.make_account, _postmark, "ID"),
    "sendgrid": (harness_sendgrid.make_account, _sendgrid, "sg_event_id"),
    "amazon_ses": (harness_amazon_ses.make_account, _amazon_ses, None),
    "tradegecko": (tg.make_account, _tradegecko, None),
    "http_stock": (hs.make_account, _http_stock, None),
    "sandbox": (_sandbox_account, _sandbox, None),
}


def braintree_form(extra: dict[str, str] | bytes = b"") -> bytes:
    """A Braintree notification signed by the SDK's own ``webhook_testing``
    (the contract harness's keys), with ``extra`` form fields after it."""
    gateway = braintree.BraintreeGateway(
        braintree.Configuration(
            environment=braintree.Environment.Sandbox,
            merchant_id=harness_braintree.MERCHANT,
            public_key=harness_braintree.PUBLIC_KEY,
            private_key=harness_braintree.PRIVATE_KEY,
        )
    )
    sample = gateway.webhook_testing.sample_notification(
        "transaction_settled", harness_braintree.TXN
    )
    body = urlencode(sample).encode()
    if isinstance(extra, dict):
        extra = urlencode(extra).encode()
    return body + b"&" + extra if extra else body
