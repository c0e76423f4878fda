"""The NetSuite account form takes one complete credential set, token-based
authentication (four fields) or OAuth 2.0 M2M (three): a half-filled set is a
form error naming what is missing, not a ``missing_credentials`` failure at
the first call."""

import pytest
from django.urls import reverse

from integrations.models import ProviderAccount

pytestmark = pytest.mark.django_db

TBA = {
    "credential__consumer_key": "ck",
    "credential__consumer_secret": "cs",
    "credential__token_id": "ti",
    "credential__token_secret": "ts",
}


@pytest.fixture
def staff_client(client, django_user_model):
    user = django_user_model.objects.create_superuser("staff", "s@example.com", "pw")
    client.force_login(user)
    return client


def _post(client, credentials: dict[str, str], account: ProviderAccount | None = None):
    data = {
        "kind": "inventory",
        "provider": "netsuite",
        "slug": "erp-ns",
        "display_name": "NetSuite",
        "priority": "10",
        "enabled": "on",
        "mode": "test",
        "setting__account_id": "1234567_SB1",
        **credentials,
    }
    if account is None:
        url = reverse("admin:integrations_provideraccount_add")
    else:
        url = reverse("admin:integrations_provideraccount_change", args=[account.pk])
    return client.post(url, data)


def _errors(response) -> dict[str, list[str]]:
    form = response.context["adminform"].form
    return {name: list(errors) for name, errors in form.errors.items()}


def test_a_complete_tba_set_is_saved(staff_client):
    response = _post(staff_client, TBA)

    assert response.status_code == 302
    account = ProviderAccount.objects.get(slug="erp-ns")
    assert account.get_credentials() == {
        "consumer_key": "ck",
        "consumer_secret": "cs",
        "token_id": "ti",
        "token_secret": "ts",
    }


def test_a_half_filled_set_names_what_is_missing(staff_client):
    half = {
        "credential__client_id": "cid",
        "credential__certificate_id": "cert",
    }
    response = _post(staff_client, half)

    assert response.status_code == 200
    assert not ProviderAccount.objects.exists()
    assert _errors(response) == {
        "credential__private_key": [
            "Needed for OAuth 2.0 M2M: fill in all of its fields."
        ]
    }


def test_no_credentials_at_all_names_the_tba_fields(staff_client):
    response = _post(staff_client, {})

    assert response.status_code == 200
    errors = _errors(response)
    assert sorted(errors) == sorted(TBA)
    assert errors["credential__token_id"] == [
        "Needed for token-based authentication (or the three OAuth 2.0 M2M "
        "ones): fill in all of its fields."
    ]


def test_a_stray_field_of_the_set_not_in_use_is_ignored(staff_client):
    # The adapter signs with TBA until a certificate is given, as it would.
    response = _post(staff_client, {**TBA, "credential__client_id": "cid"})

    assert response.status_code == 302


def test_stored_credentials_count_when_the_form_leaves_them_blank(staff_client):
    assert _post(staff_client, TBA).status_code == 302
    account = ProviderAccount.objects.get(slug="erp-ns")

    # Secrets are write-only: blank keeps the stored ones, which complete the
    # set; a new token secret alone is fine.
    response = _post(staff_client, {"credential__token_secret": "ts2"}, account)

    assert response.status_code == 302
    account.refresh_from_db()
    assert account.get_credentials()["token_secret"] == "ts2"


M2M = {
    "credential__client_id": "cid",
    "credential__certificate_id": "cert",
    "credential__private_key": "-----BEGIN PRIVATE KEY-----\nx\n-----END",
}


def test_clearing_the_m2m_set_switches_the_account_back_to_tba(staff_client):
    assert _post(staff_client, {**TBA, **M2M}).status_code == 302
    account = ProviderAccount.objects.get(slug="erp-ns")
    page = staff_client.get(
        reverse("admin:integrations_provideraccount_change", args=[account.pk])
    ).content.decode()
    assert 'name="credential_clear__certificate_id"' in page

    clear = {f"credential_clear__{name}": "on" for name in M2M_NAMES}
    response = _post(staff_client, clear, account)

    assert response.status_code == 302
    account.refresh_from_db()
    stored = account.get_credentials()
    assert not set(M2M_NAMES) & set(stored)
    assert stored["token_secret"] == "ts"  # the TBA set untouched


def test_clearing_half_a_set_in_use_names_what_is_missing(staff_client):
    assert _post(staff_client, M2M).status_code == 302
    account = ProviderAccount.objects.get(slug="erp-ns")

    response = _post(staff_client, {"credential_clear__private_key": "on"}, account)

    assert response.status_code == 200
    assert list(_errors(response)) == ["credential__private_key"]
    account.refresh_from_db()
    assert account.get_credentials()["private_key"].startswith("-----BEGIN")


def test_a_new_value_and_its_clearing_together_are_refused(staff_client):
    assert _post(staff_client, {**TBA, **M2M}).status_code == 302
    account = ProviderAccount.objects.get(slug="erp-ns")

    response = _post(
        staff_client,
        {"credential__client_id": "cid2", "credential_clear__client_id": "on"},
        account,
    )

    assert response.status_code == 200
    assert _errors(response)["credential_clear__client_id"] == [
        "Give a new value or clear it, not both."
    ]


M2M_NAMES = ("client_id", "certificate_id", "private_key")
