"""A staff member who may view provider accounts but not change them gets a
read-only page that says which credentials are set and never shows one."""

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client

from tests.factories import ProviderAccountFactory

pytestmark = pytest.mark.django_db

SECRETS = {
    "api_key": "sbx_SECRET_api_value",
    "webhook_secret": "whsec_U0VDUkVUX3doc2VjX3ZhbHVl",
}


def _staff(*codenames: str) -> Client:
    user = User.objects.create_user("staff-" + "-".join(codenames), is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    client = Client()
    client.force_login(user)
    return client


def test_a_view_only_staff_member_can_open_a_provider_account_page():
    account = ProviderAccountFactory(credentials=SECRETS)
    staff = _staff("view_provideraccount")
    staff.raise_request_exception = False
    response = staff.get(f"/admin/integrations/provideraccount/{account.pk}/change/")
    assert response.status_code == 200
    body = response.content.decode()
    assert account.display_name in body
    # Which credentials are set, by label; no input to type one into.
    assert "API key: set" in body
    assert 'type="password"' not in body
    assert 'name="_save"' not in body


@pytest.mark.parametrize("perm", ["view_provideraccount", "change_provideraccount"])
def test_a_provider_account_page_never_shows_a_stored_secret(perm):
    account = ProviderAccountFactory(credentials=SECRETS)
    staff = _staff(perm)
    for url in (
        f"/admin/integrations/provideraccount/{account.pk}/change/",
        f"/admin/integrations/provideraccount/{account.pk}/history/",
        "/admin/integrations/provideraccount/",
        "/admin/integrations/dashboard/",
    ):
        response = staff.get(url)
        assert response.status_code == 200, url
        body = response.content.decode()
        assert "SECRET" not in body and "U0VDUkVU" not in body, url


def test_a_view_only_staff_member_cannot_change_an_account_by_posting():
    account = ProviderAccountFactory(credentials=SECRETS)
    staff = _staff("view_provideraccount")
    response = staff.post(
        f"/admin/integrations/provideraccount/{account.pk}/change/",
        {"display_name": "taken over", "credential__api_key": "sbx_mine"},
    )
    assert response.status_code == 403
    account.refresh_from_db()
    assert account.display_name != "taken over"
    assert account.get_credentials() == SECRETS
