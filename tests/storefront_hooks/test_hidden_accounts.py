"""An endpoint's own ProviderAccount (kind ``webhooks``) is not a provider
account staff configure: it is out of the account list, the integrations
dashboard and ``check_integrations``, read-only on its page, and valid."""

from io import StringIO

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.urls import reverse

from integrations.models import ProviderAccount

pytestmark = pytest.mark.django_db


def _provider_account() -> ProviderAccount:
    account = ProviderAccount(
        kind="payments", provider="sandbox", slug="pay-main", display_name="Pay"
    )
    account.set_credentials({"api_key": "sbx_key"})
    account.save()
    return account


def test_not_in_the_account_list(admin_client, make_endpoint) -> None:
    endpoint, _ = make_endpoint()
    _provider_account()

    page = admin_client.get(reverse("admin:integrations_provideraccount_changelist"))

    assert page.status_code == 200
    assert b"pay-main" in page.content
    assert endpoint.account.slug.encode() not in page.content


def test_its_page_is_read_only_and_names_its_owner(admin_client, make_endpoint):
    endpoint, _ = make_endpoint()
    url = reverse(
        "admin:integrations_provideraccount_change", args=[endpoint.account_id]
    )

    page = admin_client.get(url)

    assert page.status_code == 200
    assert b"belongs to a storefront webhook endpoint" in page.content
    assert b'name="_save"' not in page.content
    posted = admin_client.post(url, {"kind": "payments", "enabled": "on"})
    assert posted.status_code == 403
    delete = reverse(
        "admin:integrations_provideraccount_delete", args=[endpoint.account_id]
    )
    assert admin_client.post(delete, {"post": "yes"}).status_code == 403
    account = ProviderAccount.objects.get(pk=endpoint.account_id)
    assert (account.kind, account.enabled) == ("webhooks", False)


def test_not_on_the_integrations_dashboard(admin_client, make_endpoint) -> None:
    endpoint, _ = make_endpoint()
    _provider_account()

    page = admin_client.get(reverse("integrations-dashboard"))

    assert page.status_code == 200
    assert b"pay-main" in page.content
    assert endpoint.account.slug.encode() not in page.content


def test_not_in_check_integrations(make_endpoint) -> None:
    endpoint, _ = make_endpoint()
    _provider_account()
    out = StringIO()

    call_command("check_integrations", "--cached", stdout=out)

    assert "pay-main" in out.getvalue()
    assert endpoint.account.slug not in out.getvalue()


def test_validation_passes_for_it_and_still_refuses_unknown_kinds(
    make_endpoint,
) -> None:
    endpoint, _ = make_endpoint()

    endpoint.account.full_clean()  # raises if anything is invalid

    stray = ProviderAccount(kind="bogus", provider="x", slug="x", display_name="x")
    with pytest.raises(ValidationError) as raised:
        stray.full_clean()
    assert "kind" in raised.value.message_dict
