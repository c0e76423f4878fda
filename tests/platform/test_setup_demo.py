import re
from io import StringIO

import pytest
from django.contrib.auth import authenticate
from django.core.management import call_command
from rest_framework.test import APIRequestFactory

from integrations.api.auth import ApiKeyAuthentication
from integrations.api.scopes import SCOPES
from integrations.models import ApiKey, ProviderAccount
from integrations.registry import get_adapter
from integrations.webhooks.verification import signed_headers
from tests.integrations.fanout.conftest import threads_db  # noqa: F401
from tests.shipping.helpers import shop

pytestmark = pytest.mark.django_db


def _run() -> str:
    out = StringIO()
    call_command("setup_demo", stdout=out)
    return out.getvalue()


def test_creates_sandbox_accounts_admin_and_api_key():
    output = _run()

    accounts = list(ProviderAccount.objects.order_by("kind", "priority"))
    assert {a.kind for a in accounts} == {"payments", "shipping", "inventory", "email"}
    assert all(a.provider == "sandbox" and a.enabled for a in accounts)
    payments = [a for a in accounts if a.kind == "payments"]
    assert len(payments) == 2
    assert payments[0].priority < payments[1].priority  # failover target exists
    for account in accounts:
        assert account.get_credentials()["api_key"].startswith("sbx_")
        if account.slug == "sandbox-shipping-outage":
            continue
        # The adapter accepts the credentials it was given.
        assert get_adapter(account).health_check().ok

    password = re.search(r"Created superuser 'admin' with password: (\S+)", output)
    assert password, output
    user = authenticate(username="admin", password=password.group(1))
    assert user is not None and user.is_superuser and user.is_staff

    key = re.search(r"Created API key .* \(all scopes\): (\S+)", output)
    assert key, output
    request = APIRequestFactory().get("/", HTTP_AUTHORIZATION=f"Bearer {key.group(1)}")
    _, api_key = ApiKeyAuthentication().authenticate(request)
    assert set(api_key.scopes) == set(SCOPES)
    # Only the hash is stored.
    assert key.group(1) not in str(list(ApiKey.objects.values()))


def test_second_run_keeps_everything_and_prints_no_secret():
    first = _run()
    password = re.search(r"with password: (\S+)", first).group(1)
    ProviderAccount.objects.filter(slug="sandbox-payments").update(priority=50)
    ProviderAccount.objects.filter(slug="sandbox-shipping-outage").update(
        settings={"outage": False}
    )
    credentials_before = {
        a.slug: a.credentials_encrypted for a in ProviderAccount.objects.all()
    }

    second = _run()

    assert "with password" not in second
    assert "changepassword admin" in second
    assert "(all scopes):" not in second
    assert password not in second
    assert authenticate(username="admin", password=password) is not None
    assert ApiKey.objects.count() == 1
    assert ProviderAccount.objects.count() == 7
    # Staff edits survive a re-run: the admin is the source of truth.
    assert ProviderAccount.objects.get(slug="sandbox-payments").priority == 50
    healed = ProviderAccount.objects.get(slug="sandbox-shipping-outage")
    assert healed.settings == {"outage": False}
    assert credentials_before == {
        a.slug: a.credentials_encrypted for a in ProviderAccount.objects.all()
    }


def test_demo_accounts_accept_webhooks_signed_with_their_secret():
    # Several runs' worth of random secrets: a URL-safe one ("-", "_") used
    # to make every webhook to a demo account fail verification.
    for round_no in range(8):
        ProviderAccount.objects.all().delete()
        _run()
        for account in ProviderAccount.objects.all():
            body = b'{"type": "demo.ping", "data": {}}'
            headers = signed_headers(
                secret=account.get_credentials()["webhook_secret"],
                webhook_id=f"msg_{round_no}",
                body=body,
            )
            message = get_adapter(account).verify_webhook(
                body=body, headers=headers, url=""
            )
            assert message.event_type == "demo.ping"


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("threads_db")
def test_demo_compare_shows_two_priced_carriers_and_one_failing():
    _run()
    shipping = ProviderAccount.objects.filter(kind="shipping").order_by("priority")
    assert [a.slug for a in shipping] == [
        "sandbox-shipping",
        "sandbox-shipping-express",
        "sandbox-shipping-outage",
    ]
    outage = shipping.get(slug="sandbox-shipping-outage")
    assert "outage" in outage.display_name.lower()

    result = shop()

    by_account = {q.account for q in result.quotes}
    assert by_account == {"sandbox-shipping", "sandbox-shipping-express"}
    cheap = {
        q.service_code: q.amount
        for q in result.quotes
        if q.account == "sandbox-shipping"
    }
    dear = {
        q.service_code: q.amount
        for q in result.quotes
        if q.account == "sandbox-shipping-express"
    }
    assert cheap.keys() == dear.keys()
    assert all(dear[code] > cheap[code] for code in cheap)
    [failure] = result.failures
    assert failure.account == "sandbox-shipping-outage"
    assert failure.code == "connection_refused"
