"""Staff pages while Redis cannot be reached: the breaker state is shown as
unknown and the mode is the account row's; never a 500."""

import pytest
from django.urls import reverse

from integrations.models import ProviderAccount
from integrations.services import provider_account_get_or_create

pytestmark = pytest.mark.django_db

UNREACHABLE = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": "redis://127.0.0.1:1/0",
    }
}


@pytest.fixture
def account() -> ProviderAccount:
    account, _ = provider_account_get_or_create(
        slug="ship-a",
        kind="shipping",
        provider="sandbox",
        display_name="Ship A",
        priority=1,
        credentials={
            "api_key": "sbx_x",
            "webhook_secret": "whsec_dGVzdHRlc3R0ZXN0dGVzdA==",
        },
    )
    ProviderAccount.objects.filter(pk=account.pk).update(breaker_mode="forced_open")
    account.refresh_from_db()
    return account


@pytest.fixture
def redis_down(settings) -> None:
    settings.CACHES = UNREACHABLE


def test_account_pages_and_the_dashboard_answer_with_the_state_unknown(
    admin_client, account, redis_down
):
    pages = [
        reverse("admin:integrations_provideraccount_changelist"),
        reverse("admin:integrations_provideraccount_change", args=[account.pk]),
        "/admin/integrations/dashboard/",
    ]
    for url in pages:
        response = admin_client.get(url)
        assert response.status_code == 200, url
        assert "unknown (Redis unreachable)" in response.content.decode(), url
    # The mode staff set is the row's, shown next to the unknown state.
    assert "forced open" in admin_client.get(pages[0]).content.decode()


def test_a_breaker_mode_change_is_refused_while_redis_is_unreachable(
    admin_client, account, redis_down
):
    url = reverse("admin:integrations_provideraccount_change", args=[account.pk])
    form = admin_client.get(url).context["adminform"].form
    data = {
        name: form[name].value()
        for name in form.fields
        if form[name].value() is not None
    }
    data["breaker_mode"] = "auto"

    response = admin_client.post(url, data)

    assert response.status_code == 200
    assert "the breaker mode cannot be changed now" in response.content.decode()
    account.refresh_from_db()
    assert account.breaker_mode == "forced_open"


def test_one_failed_read_spares_the_other_rows_their_timeout(
    admin_client, account, redis_down, caplog
):
    # A Redis that never answers costs each read its socket timeout: after
    # one failure the page reads no other row's breaker from it.
    for n in (2, 3):
        provider_account_get_or_create(
            slug=f"ship-{n}",
            kind="shipping",
            provider="sandbox",
            display_name=f"Ship {n}",
            priority=n,
            credentials={
                "api_key": "sbx_x",
                "webhook_secret": "whsec_dGVzdHRlc3R0ZXN0dGVzdA==",
            },
        )
    caplog.set_level("WARNING", logger="integrations.redis_line")
    url = reverse("admin:integrations_provideraccount_changelist")

    page = admin_client.get(url).content.decode()

    assert page.count("unknown (Redis unreachable)") >= 3
    tries = [r for r in caplog.records if r.name == "integrations.redis_line"]
    assert len(tries) == 1
