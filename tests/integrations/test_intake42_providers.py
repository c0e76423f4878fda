"""intake42: every provider whose webhooks come through the intake can have a
body stored dead as unusable read again from what was stored (the body and
the safe headers: no signature, no URL), to the same events intake reads from
the request. Each contract harness's valid webhook is stored as unusable (as
a parser bug would have stored it), recovered, and compared with what the
adapter verifies from the request; the stored reading calls no provider."""

import importlib
import pkgutil
from pathlib import Path

import pytest
import responses

from integrations.models import WebhookEvent, WebhookStatus
from integrations.registry import get_adapter
from integrations.webhooks import recovery
from integrations.webhooks.unusable import webhook_unusable_store
from integrations.webhooks.verification import UnusableWebhook

pytestmark = pytest.mark.django_db

KINDS = ("payments", "shipping", "inventory", "notifications")
TESTS = Path(__file__).parents[1]


def _harnesses():
    for kind in KINDS:
        directory = TESTS / kind / "contract"
        for module in sorted(pkgutil.iter_modules([str(directory)])):
            if module.name.startswith("harness_"):
                yield f"tests.{kind}.contract.{module.name}"


def _cases():
    for name in _harnesses():
        harness = importlib.import_module(name)
        for scenario in ("webhook_valid", "webhook_batch"):
            skip = getattr(harness, "NOT_APPLICABLE", {}).get(scenario)
            if hasattr(harness, scenario) and not skip:
                yield pytest.param(name, scenario, id=f"{harness.PROVIDER}-{scenario}")


# Providers that take no webhooks (SMTP, NetSuite, the carriers' own APIs)
# have no valid webhook to read.
CASES = list(_cases())


@pytest.fixture(autouse=True)
def single_attempt(settings):
    settings.PROVIDER_MAX_ATTEMPTS = 1


def _stored_unusable(account, hook) -> int:
    """Stored as the intake stores a body a parser bug could not read."""
    row_id, _ = webhook_unusable_store(
        account=account,
        body=hook.body,
        headers=hook.headers,
        error=UnusableWebhook("a parser bug", code="malformed_request"),
    )
    return row_id


def _summary(messages) -> list[tuple]:
    return [(m.event_type, m.dedupe_key, m.payload) for m in messages]


@pytest.mark.parametrize(("name", "scenario"), CASES)
def test_a_valid_webhook_stored_unusable_is_recovered_as_intake_reads_it(
    name, scenario
):
    harness = importlib.import_module(name)
    account = harness.make_account()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        hook = getattr(harness, scenario)(rsps, account)
        read = get_adapter(account).webhook_messages(
            body=hook.body, headers=hook.headers, url=hook.url
        )
        calls = len(rsps.calls)
        row_id = _stored_unusable(account, hook)

        result = recovery.webhook_unusable_recover(event_id=row_id)

        assert len(rsps.calls) == calls  # no provider call, no signature check
    assert result.outcome == recovery.RECOVERED, result.text
    events = WebhookEvent.objects.filter(pk__in=result.stored).order_by("dedupe_key")
    expected = sorted(_summary(read), key=lambda item: item[1])
    assert _summary(events) == expected
    assert WebhookEvent.objects.get(pk=row_id).status == WebhookStatus.PROCESSED


def test_braintree_without_its_keys_now_is_refused_not_a_500():
    # Its notification is read by the SDK, which needs the account's keys.
    from tests.payments.contract import harness_braintree

    account = harness_braintree.make_account()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        hook = harness_braintree.webhook_valid(rsps, account)
    row_id = _stored_unusable(account, hook)
    account.set_credentials({"merchant_id": "m"})
    account.save()

    result = recovery.webhook_unusable_recover(event_id=row_id)

    assert result.outcome == recovery.REFUSED
    assert "Braintree keys cannot be read" in result.text
    row = WebhookEvent.objects.get(pk=row_id)
    assert (row.status, row.event_type) == (WebhookStatus.DEAD, "(unusable body)")
    assert WebhookEvent.objects.count() == 1


def test_a_provider_that_takes_no_webhooks_now_is_refused():
    from tests.notifications.contract import harness_postmark

    account = harness_postmark.make_account()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        hook = harness_postmark.webhook_valid(rsps, account)
    row_id = _stored_unusable(account, hook)
    account.provider = "smtp"
    account.save()
    # Stored before its kind and provider were kept: only the adapter says.
    WebhookEvent.objects.filter(pk=row_id).update(payload={})

    result = recovery.webhook_unusable_recover(event_id=row_id)

    assert result.outcome == recovery.REFUSED
    assert "takes no webhooks" in result.text
