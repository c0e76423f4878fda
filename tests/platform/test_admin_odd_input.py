"""Staff pages answer a malformed id or a NUL (a tampered form, a pasted
URL) with a 4xx or a message, never a 500."""

import logging
from collections.abc import Iterator

import pytest
from django.apps import apps
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.db import models
from django.test import RequestFactory
from django.urls import reverse

from tests.platform.rows_once_suite43a import (
    client_on,
    rows_for_the_module,
    session_of,
)

pytestmark = pytest.mark.django_db


def _admin() -> str:
    user = get_user_model().objects.create_superuser("admin", "admin@example.com", "pw")
    return session_of(user)


@pytest.fixture(scope="module")
def admin_session(django_db_setup, django_db_blocker) -> Iterator[str]:
    # pytest-django's admin_client made and logged in a superuser per test.
    with rows_for_the_module(django_db_blocker, _admin) as session_key:
        yield session_key


@pytest.fixture
def admin_client(db, admin_session):
    """pytest-django's fixture of the name, on the module's superuser login;
    it records no template context (these tests read status and HTML)."""
    return client_on(admin_session, context=False)


@pytest.fixture
def admin_context_client(db, admin_session):
    """The same login, recording the context of the pages it GETs."""
    return client_on(admin_session)


@pytest.mark.parametrize("quote_id", ["\x00", "qte_\x00"])
def test_buy_label_with_a_nul_in_the_quote_id(admin_client, quote_id):
    response = admin_client.post(
        "/admin/shipping/shipment/buy/",
        {"quote_id": quote_id, "key": "k1"},
        follow=True,
    )
    assert response.status_code == 200
    assert "Could not buy the label: no such quote" in response.content.decode()


def test_buy_label_with_a_nul_in_the_key(admin_client):
    response = admin_client.post(
        "/admin/shipping/shipment/buy/",
        {"quote_id": "qte_x", "key": "\x00"},
        follow=True,
    )
    assert response.status_code == 200
    assert "the idempotency key is not valid" in response.content.decode()


@pytest.mark.parametrize("account", ["abc", "1.5", "\x00", "\u00b2", "9" * 5000])
def test_sync_now_with_a_malformed_account_id(admin_client, account):
    response = admin_client.post(
        "/admin/inventory/syncrun/sync-now/", {"account": account}, follow=True
    )
    assert response.status_code == 200
    assert "Choose an inventory account." in response.content.decode()


@pytest.mark.parametrize("ids", ["1" * 5000, "\u00b2", "x,\u00b2"])
def test_schedule_pickup_with_ids_that_name_nothing(admin_client, ids):
    response = admin_client.get(
        "/admin/shipping/shipment/schedule-pickup/", {"ids": ids}, follow=True
    )
    assert response.status_code == 200
    assert "Select at least one shipment." in response.content.decode()


@pytest.mark.parametrize("days", ["3" * 5000, "\u00b2", "-7"])
def test_email_analytics_with_a_days_value_it_does_not_offer(
    admin_context_client, days
):
    response = admin_context_client.get(
        "/admin/notifications/emailmessage/analytics/", {"days": days}
    )
    assert response.status_code == 200
    assert response.context["days"] == 30  # the default


# Every registered ModelAdmin, ours and Django's and django_q's: the guard
# lives on the site (config.admin_site), so each of them must have it.
REGISTERED = sorted(
    (m for m in apps.get_models() if admin.site.is_registered(m)),
    key=lambda m: m._meta.label,
)


def _changelist(model) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")


def _odd_lookups(model) -> list[dict[str, str]]:
    """Lookups Django builds but no database runs: a range of one value or of
    characters, text for bytea or inet columns; and some it refuses itself."""
    params = [{"pk__range": "1"}, {"pk__in": "x"}, {"o": "1.-999.x"}, {"p": "-1"}]
    for field in model._meta.concrete_fields:
        if not field.is_relation:
            params += [{f"{field.name}__range": "a,b"}, {field.name: "x"}]
    return params


@pytest.mark.parametrize("model", REGISTERED, ids=lambda m: m._meta.label)
def test_a_changelist_lookup_the_database_cannot_run_is_never_a_500(
    admin_client, model
):
    url = _changelist(model)
    failed = [
        params
        for params in _odd_lookups(model)
        if admin_client.get(url, params).status_code >= 500
    ]
    assert not failed


@pytest.mark.parametrize(
    "url",
    [
        "/admin/integrations/webhookevent/?raw_body=x",
        "/admin/shipping/shipment/?label_data=x",
        "/admin/payments/payment/?ip_address=x",
        "/admin/integrations/apikey/?id__range=1",
        "/admin/shipping/shipment/?order_id__range=a,b",
        "/admin/notifications/emailmessage/?to_email__range=a,b",
    ],
)
def test_an_unrunnable_lookup_gets_djangos_invalid_lookup_redirect(admin_client, url):
    response = admin_client.get(url)
    assert response.status_code == 302
    assert response["Location"] == url.split("?")[0] + "?e=1"


def test_an_unrunnable_lookup_with_the_error_flag_shows_the_error_page(admin_client):
    response = admin_client.get("/admin/integrations/apikey/?id__range=1&e=1")
    assert response.status_code == 200
    assert "Database error" in response.content.decode()


def _actions(model) -> list[str]:
    """The actions a superuser is offered on the model's changelist."""
    request = RequestFactory().get("/admin/")
    request.user = get_user_model()(is_superuser=True, is_active=True)
    return list(admin.site.get_model_admin(model).get_actions(request))


ACTIONS = [(model, name) for model in REGISTERED for name in _actions(model)]


@pytest.mark.parametrize(
    ("model", "action"), ACTIONS, ids=[f"{m._meta.label}.{a}" for m, a in ACTIONS]
)
def test_an_action_on_a_selection_that_names_no_row_selects_nothing(
    admin_client, model, action
):
    url, pk = _changelist(model), model._meta.pk
    for selected in (["x"], ["99999999999999999999999"], ["a\x00b"]):
        for confirm in ({}, {"post": "yes"}):
            data = {"action": action, "index": "0", "_selected_action": selected}
            response = admin_client.post(url, {**data, **confirm}, follow=True)
            assert response.status_code == 200, (selected, confirm)
            # "x" may name a row of a text key (django_q's tasks): none here.
            if selected == ["a\x00b"] or not isinstance(pk, models.CharField):
                assert "Items must be selected" in response.content.decode()


def test_an_unparsable_pk_is_dropped_and_the_rest_is_acted_on(admin_client):
    from payments.models import BlocklistEntry

    entry = BlocklistEntry.objects.create(kind="email", value="bad@example.com")
    response = admin_client.post(
        _changelist(BlocklistEntry),
        {
            "action": "delete_selected",
            "_selected_action": ["x", str(entry.pk)],
            "post": "yes",
        },
        follow=True,
    )
    assert response.status_code == 200
    assert not BlocklistEntry.objects.filter(pk=entry.pk).exists()


@pytest.fixture
def broken_changelist_query(monkeypatch):
    """A real fault in the page's own query (a column a missing migration
    would add, a bug in get_queryset): nothing the staff member typed."""
    from integrations.models import ProviderAccount

    model_admin = admin.site._registry[ProviderAccount]
    original = type(model_admin).get_queryset

    def get_queryset(self, request):
        return original(self, request).extra(where=["no_such_column = 1"])

    monkeypatch.setattr(type(model_admin), "get_queryset", get_queryset)


@pytest.mark.parametrize(
    "query", ["", "?o=2", "?q=ship", "?p=1", "?kind__exact=shipping"]
)
def test_a_server_fault_in_the_changelist_query_stays_a_500_whatever_the_url(
    admin_client, broken_changelist_query, query
):
    admin_client.raise_request_exception = False
    url = reverse("admin:integrations_provideraccount_changelist") + query
    response = admin_client.get(url, follow=True)
    assert response.status_code == 500, response.redirect_chain


def test_a_refused_lookup_is_logged_as_a_warning_with_its_traceback(
    admin_client, caplog
):
    with caplog.at_level(logging.INFO, logger="config.admin_site"):
        response = admin_client.get("/admin/integrations/apikey/?id__range=1")
    assert response.status_code == 302
    (record,) = [r for r in caplog.records if r.name == "config.admin_site"]
    assert record.levelname == "WARNING" and record.exc_info
