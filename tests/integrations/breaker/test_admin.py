"""The account admin shows the live breaker and saves the staff override."""

import pytest
from django.urls import reverse

from integrations.breaker import breaker_for
from integrations.errors import NotProcessed
from integrations.models import Event, ProviderAccount
from tests.factories import ProviderAccountFactory
from tests.integrations.account_forms import account_change_data

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client, django_user_model):
    user = django_user_model.objects.create_superuser("alice", "a@example.com", "pw")
    client.force_login(user)
    return client


def _change_url(account: ProviderAccount) -> str:
    return reverse("admin:integrations_provideraccount_change", args=[account.pk])


def _trip(account: ProviderAccount) -> None:
    breaker = breaker_for(account)
    for _ in range(5):
        breaker.record_failure(NotProcessed("refused", code="connection_refused"))


def test_change_page_shows_state_and_last_transition(staff_client):
    account = ProviderAccountFactory(slug="pay-a", settings={"latency_ms": 0})
    page = staff_client.get(_change_url(account)).content.decode()
    assert "Circuit breaker" in page
    assert 'name="breaker_mode"' in page
    assert "none yet" in page
    _trip(account)
    page = staff_client.get(_change_url(account)).content.decode()
    assert "open until" in page
    assert "5 consecutive failures (last: connection_refused)" in page


def test_change_list_shows_breaker_state(staff_client):
    healthy = ProviderAccountFactory(slug="healthy")
    failing = ProviderAccountFactory(slug="failing")
    _trip(failing)
    page = staff_client.get(
        reverse("admin:integrations_provideraccount_changelist")
    ).content.decode()
    assert "column-breaker_state" in page
    assert healthy.display_name in page
    assert page.count(">closed<") == 1
    assert page.count(">open until ") == 1


def test_saving_breaker_mode_applies_everywhere(staff_client):
    account = ProviderAccountFactory(slug="pay-a")
    stale = ProviderAccount.objects.get(pk=account.pk)
    response = staff_client.post(
        _change_url(account), account_change_data(account, breaker_mode="forced_open")
    )
    assert response.status_code == 302, response.content
    account.refresh_from_db()
    assert account.breaker_mode == "forced_open"
    # A worker still holding the old row obeys at its next call.
    with pytest.raises(NotProcessed) as info:
        breaker_for(stale).before_call()
    assert info.value.code == "breaker_open"
    assert Event.objects.filter(name="integrations.breaker_mode_changed").count() == 1
    page = staff_client.get(_change_url(account)).content.decode()
    assert "open (forced open)" in page
    assert "mode set to forced_open by alice" in page


def test_form_without_breaker_mode_keeps_the_current_mode(staff_client):
    account = ProviderAccountFactory(slug="pay-a", breaker_mode="forced_closed")
    response = staff_client.post(_change_url(account), account_change_data(account))
    assert response.status_code == 302, response.content
    account.refresh_from_db()
    assert account.breaker_mode == "forced_closed"


def test_unknown_breaker_mode_is_a_form_error(staff_client):
    account = ProviderAccountFactory(slug="pay-a")
    response = staff_client.post(
        _change_url(account), account_change_data(account, breaker_mode="sometimes")
    )
    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
