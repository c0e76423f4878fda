"""Staff add each email provider's account in the admin: the form is built
from the adapter's declared credentials and settings, secrets are stored
encrypted, and the saved account builds a working adapter."""

import pytest
from django.urls import reverse

from integrations.models import ProviderAccount
from integrations.registry import get_adapter
from notifications.providers.amazon_ses import AmazonSesAdapter
from notifications.providers.mailgun import MailgunAdapter
from notifications.providers.postmark import PostmarkAdapter
from notifications.providers.sendgrid import SendGridAdapter
from notifications.providers.smtp import SmtpAdapter
from tests.notifications.signing_keys import sendgrid_public_key_text

pytestmark = pytest.mark.django_db

CASES = {
    "sendgrid": (
        SendGridAdapter,
        {
            "credential__api_key": "SG.admin-key",
            "credential__webhook_verification_key": sendgrid_public_key_text(),
        },
        {},
    ),
    "mailgun": (
        MailgunAdapter,
        {
            "credential__api_key": "key-admin",
            "credential__webhook_signing_key": "signing-admin",
            "setting__sender_domain": "mg.example.com",
            "setting__region": "eu",
        },
        {"sender_domain": "mg.example.com", "region": "eu"},
    ),
    "postmark": (
        PostmarkAdapter,
        {
            "credential__server_token": "pm-admin",
            "credential__webhook_username": "hooks",
            "credential__webhook_password": "pw-admin",
            "setting__message_stream": "outbound",
            "setting__broadcast_stream": "broadcast",
        },
        {"message_stream": "outbound"},
    ),
    "amazon_ses": (
        AmazonSesAdapter,
        {
            "credential__access_key_id": "AKIAADMIN",
            "credential__secret_access_key": "ses-secret-admin",
            "setting__region": "eu-west-1",
            "setting__configuration_set": "events",
            "setting__sns_topic_arns": (
                "arn:aws:sns:eu-west-1:1:a\narn:aws:sns:eu-west-1:1:b"
            ),
            "setting__sns_tolerance_seconds": "3600",
        },
        {"region": "eu-west-1", "sns_tolerance_seconds": 3600},
    ),
    "smtp": (
        SmtpAdapter,
        {
            "credential__username": "relay",
            "credential__password": "relay-secret",
            "setting__host": "smtp.example.com",
            "setting__port": "587",
            "setting__security": "starttls",
            "setting__helo_hostname": "shop.example.com",
        },
        {"host": "smtp.example.com", "port": 587, "security": "starttls"},
    ),
}


@pytest.fixture
def staff_client(client, django_user_model):
    user = django_user_model.objects.create_superuser("staff", "s@example.com", "pw")
    client.force_login(user)
    return client


@pytest.mark.parametrize("provider", sorted(CASES))
def test_staff_add_an_email_account(staff_client, provider) -> None:
    adapter_class, fields, settings = CASES[provider]
    data = {
        "kind": "email",
        "provider": provider,
        "slug": f"mail-{provider}".replace("_", "-"),
        "display_name": provider,
        "priority": "10",
        "enabled": "on",
        "mode": "test",
        **fields,
    }
    add = reverse("admin:integrations_provideraccount_add")
    response = staff_client.post(add, data)
    assert response.status_code == 302, response.content.decode()[:2000]
    account = ProviderAccount.objects.get(provider=provider)
    secrets = {k.split("__")[1]: v for k, v in fields.items() if "credential__" in k}
    assert account.get_credentials() == secrets
    for value in secrets.values():
        assert value not in account.credentials_encrypted
    assert settings.items() <= account.settings.items()
    assert isinstance(get_adapter(account), adapter_class)


def test_missing_required_setting_is_a_form_error(staff_client) -> None:
    _, fields, _ = CASES["mailgun"]
    data = {
        "kind": "email",
        "provider": "mailgun",
        "slug": "mail-mailgun",
        "display_name": "Mailgun",
        "priority": "10",
        "mode": "test",
        **{k: v for k, v in fields.items() if k != "setting__sender_domain"},
    }
    response = staff_client.post(
        reverse("admin:integrations_provideraccount_add"), data
    )
    assert response.status_code == 200
    assert not ProviderAccount.objects.filter(provider="mailgun").exists()


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("*.Example.com\ni❤.ws", "example.com\nxn--i-7iq.ws"),
        ("", ""),
    ],
)
def test_sending_domains_are_stored_as_domains(staff_client, typed, stored) -> None:
    _, fields, _ = CASES["postmark"]
    data = {
        "kind": "email",
        "provider": "postmark",
        "slug": "mail-postmark",
        "display_name": "Postmark",
        "priority": "10",
        "mode": "test",
        **fields,
        "setting__sending_domains": typed,
    }
    response = staff_client.post(
        reverse("admin:integrations_provideraccount_add"), data
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    account = ProviderAccount.objects.get(provider="postmark")
    assert account.settings["sending_domains"] == stored


@pytest.mark.parametrize(
    "typed", ["shop@example.com", "https://example.com/", "example.com:25"]
)
def test_a_sending_domain_that_is_not_a_domain_is_a_form_error(
    staff_client, typed
) -> None:
    _, fields, _ = CASES["postmark"]
    data = {
        "kind": "email",
        "provider": "postmark",
        "slug": "mail-postmark",
        "display_name": "Postmark",
        "priority": "10",
        "mode": "test",
        **fields,
        "setting__sending_domains": f"example.net\n{typed}",
    }
    response = staff_client.post(
        reverse("admin:integrations_provideraccount_add"), data
    )
    assert response.status_code == 200
    assert "Not a domain name" in response.content.decode()
    assert not ProviderAccount.objects.exists()
