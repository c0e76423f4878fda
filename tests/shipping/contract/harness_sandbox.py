"""Contract harness for the sandbox carrier (shipping/providers/sandbox.py):
faults from account settings (tests/contract/sandbox.py), outcomes from the
sandbox's test inputs, webhooks signed as its own deliveries are."""

from dataclasses import replace
from datetime import timedelta

from django.utils import timezone

from integrations.models import ProviderAccount
from integrations.providers import sandbox_webhooks
from shipping.providers import sandbox_rules
from shipping.providers.base import LabelRequest, RateRequest
from shipping.providers.tracking_types import TrackRequest
from tests.contract.runner import Webhook
from tests.contract.sandbox import NOT_APPLICABLE as SANDBOX_NOT_APPLICABLE
from tests.contract.sandbox import SandboxHarness
from tests.shipping.contract import requests
from tests.shipping.contract.requests import invalid_request

__all__ = ["invalid_request"]

PROVIDER = "sandbox"
NOT_APPLICABLE = {
    **SANDBOX_NOT_APPLICABLE,
    "token_expired_401": "the sandbox takes a static API key, no OAuth token",
}
_sandbox = SandboxHarness(kind="shipping", event_type="shipment.tracking_updated")

make_account = _sandbox.make_account
webhook_forged = _sandbox.webhook_forged
webhook_stale = _sandbox.webhook_stale


def unauthorized_401(rsps: object, account: ProviderAccount) -> RateRequest:
    _sandbox.unauthorized_401(rsps, account)
    return requests.rate_request()


def connection_refused(rsps: object, account: ProviderAccount) -> RateRequest:
    _sandbox.connection_refused(rsps, account)
    return requests.rate_request()


def server_error_500(rsps: object, account: ProviderAccount) -> LabelRequest:
    _sandbox.server_error_500(rsps, account)
    return requests.label_request("SBX_GROUND")


def read_timeout(rsps: object, account: ProviderAccount) -> LabelRequest:
    _sandbox.read_timeout(rsps, account)
    return requests.label_request("SBX_EXPRESS")


def rates(rsps: object, account: ProviderAccount) -> RateRequest:
    return requests.international_rate_request()


def label(rsps: object, account: ProviderAccount) -> LabelRequest:
    return requests.label_request("SBX_GROUND")


def label_garbled_file(rsps: object, account: ProviderAccount) -> LabelRequest:
    account.settings = {"garble_label_files": True}
    account.save()
    return requests.label_request("SBX_GROUND")


def tracking(rsps: object, account: ProviderAccount) -> TrackRequest:
    # A label bought three steps ago has been scanned four times.
    created = timezone.now() - timedelta(seconds=3 * 600 + 5)
    number = sandbox_rules.tracking_number(
        created_at=created, key="contract", exception=False
    )
    return requests.track_request(number)


def tracking_not_found(rsps: object, account: ProviderAccount) -> TrackRequest:
    return requests.track_request("SBXN0000000000DEADBEE")


def validation_error_400(rsps: object, account: ProviderAccount) -> RateRequest:
    recipient = replace(requests.RECIPIENT, postal_code=sandbox_rules.INVALID_POSTCODE)
    return requests.rate_request(to_address=recipient)


def webhook_valid(rsps: object, account: ProviderAccount) -> Webhook:
    number = tracking(rsps, account).tracking_number
    body = sandbox_webhooks.webhook_body(
        "shipment.tracking_updated", {"tracking_number": number}
    )
    headers = sandbox_webhooks.webhook_headers(
        secret="whsec_dGVzdHNlY3JldA==", webhook_id="msg_contract", body=body
    )
    return Webhook(body=body, headers=headers, event_type="shipment.tracking_updated")
