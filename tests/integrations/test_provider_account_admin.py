import pytest
from django.urls import reverse

from integrations.models import ProviderAccount
from tests.factories import ProviderAccountFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client, django_user_model):
    user = django_user_model.objects.create_superuser("staff", "s@example.com", "pw")
    client.force_login(user)
    return client


def _post_add(client, **overrides):
    data = {
        "kind": "payments",
        "provider": "sandbox",
        "slug": "sbx-pay",
        "display_name": "Sandbox pay",
        "priority": "10",
        "enabled": "on",
        "mode": "test",
        "credential__api_key": "sbx_abc",
        "credential__webhook_secret": "whsec_1",
        "setting__latency_ms": "0",
        "setting__error_rate": "0",
    }
    data.update(overrides)
    return client.post(reverse("admin:integrations_provideraccount_add"), data)


def test_add_account_encrypts_credentials(staff_client):
    response = _post_add(staff_client)
    assert response.status_code == 302, response.content
    account = ProviderAccount.objects.get(slug="sbx-pay")
    assert account.get_credentials() == {
        "api_key": "sbx_abc",
        "webhook_secret": "whsec_1",
    }
    assert "sbx_abc" not in account.credentials_encrypted
    assert account.settings["latency_ms"] == 0


def test_missing_credential_is_form_error(staff_client):
    response = _post_add(staff_client, **{"credential__api_key": ""})
    assert response.status_code == 200
    assert ProviderAccount.objects.count() == 0
    assert "This field is required" in response.content.decode()


def test_unknown_provider_is_form_error(staff_client):
    response = _post_add(staff_client, provider="acme")
    assert response.status_code == 200
    assert ProviderAccount.objects.count() == 0
    assert "Select a valid choice" in response.content.decode()


def test_secret_is_write_only_and_kept_when_blank(staff_client):
    _post_add(staff_client)
    account = ProviderAccount.objects.get(slug="sbx-pay")
    url = reverse("admin:integrations_provideraccount_change", args=[account.pk])
    page = staff_client.get(url).content.decode()
    assert "sbx_abc" not in page and "whsec_1" not in page
    assert "Currently set" in page
    response = staff_client.post(
        url,
        {
            "kind": "payments",
            "provider": "sandbox",
            "slug": "sbx-pay",
            "display_name": "Sandbox pay",
            "priority": "5",
            "enabled": "on",
            "mode": "test",
            "credential__api_key": "",
            "credential__webhook_secret": "",
            "setting__latency_ms": "0",
            "setting__error_rate": "0",
        },
    )
    assert response.status_code == 302, response.content
    account.refresh_from_db()
    assert account.priority == 5
    assert account.get_credentials()["api_key"] == "sbx_abc"


def test_changelist_edits_priority_and_enabled(staff_client):
    _post_add(staff_client)
    page = staff_client.get(reverse("admin:integrations_provideraccount_changelist"))
    html = page.content.decode()
    assert 'name="form-0-priority"' in html and 'name="form-0-enabled"' in html


def test_a_required_credential_has_no_clear_box(staff_client):
    _post_add(staff_client)
    account = ProviderAccount.objects.get(slug="sbx-pay")
    url = reverse("admin:integrations_provideraccount_change", args=[account.pk])
    page = staff_client.get(url).content.decode()
    assert "credential_clear__api_key" not in page


def test_an_account_whose_credentials_no_key_decrypts_still_opens(admin_client):
    """The operator dropped the old key before rotating (or restored a
    backup): staff must still reach the page to type the credentials again."""
    from cryptography.fernet import Fernet

    account = ProviderAccountFactory(kind="shipping", provider="sandbox", slug="old")
    stranger = Fernet(Fernet.generate_key()).encrypt(b'{"api_key": "x"}').decode()
    ProviderAccount.objects.filter(pk=account.pk).update(credentials_encrypted=stranger)

    listed = admin_client.get("/admin/integrations/provideraccount/")
    page = admin_client.get(f"/admin/integrations/provideraccount/{account.pk}/change/")

    assert listed.status_code == 200
    assert page.status_code == 200
    assert "no configured key decrypts it" in page.content.decode()
