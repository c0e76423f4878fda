"""One redirect rule in the shared client, per adapter: ``SAME_ORIGIN`` (the
default: followed on the origin, refused off it with an error naming only the
origin it pointed to) or ``FOLLOW`` (past the origin only the plain headers
go). The HTTP stock service, whose key rides in a header of the shop's
choosing, declares ``SAME_ORIGIN``."""

import pytest
import responses

from integrations import registry
from integrations.client import ClientConfig, ProviderClient, client_for
from integrations.client.redirects import SAME_ORIGIN
from integrations.errors import NotProcessed, Unknown
from integrations.models import ProviderCall
from integrations.testing.faultserver import fault_server, respond
from inventory import services
from tests.factories import ProviderAccountFactory
from tests.inventory.contract import harness_http_stock as hs
from tests.inventory.factories import LocationFactory, StockLevelFactory

pytestmark = pytest.mark.django_db

SECRET = "server-token-0123456789abcdef"
USER_SECRET = "hunter2-in-the-url"
QUERY_SECRET = "t0ken-in-the-query"
KEY = "contract-stock-key"


@pytest.fixture
def same_origin_client():
    account = ProviderAccountFactory(settings={"max_attempts": 3})
    config = ClientConfig.for_account(account)
    config = ClientConfig(**{**config.__dict__, "redirects": SAME_ORIGIN})
    client = ProviderClient(account, config=config, sleep=lambda _: None)
    yield client
    client.close()


def test_accounts_get_their_adapters_rule():
    assert ClientConfig.for_account(ProviderAccountFactory()).redirects == SAME_ORIGIN
    stock = hs.make_account()
    assert ClientConfig.for_account(stock).redirects == SAME_ORIGIN
    assert client_for(stock).session.redirects == SAME_ORIGIN


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_same_origin_refuses_a_redirect_off_the_origin(same_origin_client, status):
    with fault_server() as here, fault_server() as elsewhere:
        elsewhere.route("POST", "/collect", respond(200, json={}))
        elsewhere.route("GET", "/collect", respond(200, json={}))
        target = elsewhere.url_for("/collect").replace(
            "http://", f"http://user:{USER_SECRET}@"
        )
        here.route(
            "POST",
            "/email",
            respond(status, headers={"Location": f"{target}?t={QUERY_SECRET}"}),
        )
        # A 301/307/308 asks for the request elsewhere: it was not acted on.
        refused = Unknown if status in (302, 303) else NotProcessed
        with pytest.raises(refused) as caught:
            same_origin_client.request(
                "POST",
                here.url_for("/email"),
                operation="send",
                idempotent=True,
                headers={"X-Api-Key": SECRET},
                json={"To": "ada@example.com"},
            )
        assert elsewhere.requests == []
        assert len(here.requests) == 1  # not retried: a retry cannot fix it
        origin = elsewhere.url
    error = caught.value
    assert error.code == "redirected" and error.http_status == status
    assert f"to {origin}," in str(error)
    for secret in (SECRET, USER_SECRET, QUERY_SECRET, "/collect"):
        assert secret not in str(error)
    row = ProviderCall.objects.get()
    assert (row.error_code, row.attempts) == ("redirected", 1)


def test_same_origin_follows_a_redirect_on_the_origin(same_origin_client):
    with fault_server() as here:
        here.route("POST", "/old", respond(307, headers={"Location": "/new"}))
        here.route("POST", "/new", respond(200, json={"ok": True}))
        response = same_origin_client.request(
            "POST",
            here.url_for("/old"),
            operation="send",
            idempotent=True,
            headers={"X-Api-Key": SECRET},
            json={},
        )
        (arrived,) = here.requests_for("POST", "/new")
    assert response.json() == {"ok": True}
    assert arrived.header("X-Api-Key") == SECRET


def test_same_origin_leaves_a_redirect_to_a_caller_that_follows_none(
    same_origin_client,
):
    with fault_server() as here:
        elsewhere = "http://elsewhere.example/collect"
        here.route("GET", "/old", respond(302, headers={"Location": elsewhere}))
        response = same_origin_client.request(
            "GET",
            here.url_for("/old"),
            operation="get",
            idempotent=True,
            allow_redirects=False,
        )
    assert (response.status_code, response.headers["Location"]) == (302, elsewhere)


# --- The HTTP stock service ---------------------------------------------------


@pytest.fixture
def erp():
    account = hs.make_account()
    account.settings = {"auth_header": "X-Api-Key", "auth_scheme": "none"}
    account.save()
    StockLevelFactory(
        sku="WIDGET", location=LocationFactory(code="main"), on_hand=5, source=account
    )
    return account


@pytest.fixture
def rsps():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def test_stock_service_follows_a_redirect_on_its_own_origin(erp, rsps):
    moved = "https://stock.shop.example/v2/levels"
    rsps.add("GET", hs.LEVELS, status=301, headers={"Location": moved})
    rsps.add("GET", moved, json={"levels": [hs.level("WIDGET", 7)]})
    run = services.inventory_sync(account=erp, full=True)
    assert run.status == "succeeded", run.errors
    (followed,) = [c for c in rsps.calls if c.request.url.startswith(moved)]
    assert followed.request.headers["X-Api-Key"] == KEY


@pytest.mark.parametrize(
    ("location", "named"),
    [
        (
            f"https://ops:{USER_SECRET}@elsewhere.example:8443/c?k={QUERY_SECRET}",
            "https://elsewhere.example:8443",
        ),
        # Same host, but plain http: the key would travel in the clear.
        ("http://stock.shop.example/api/levels", "http://stock.shop.example"),
    ],
)
def test_stock_redirect_off_its_origin_names_the_origin_only(
    erp, rsps, location, named
):
    rsps.add("GET", hs.LEVELS, status=302, headers={"Location": location})
    run = services.inventory_sync(account=erp, full=True)
    assert run.status != "succeeded"
    assert len(rsps.calls) == 1
    errors = str(run.errors)
    assert f"to {named}," in errors
    for secret in (KEY, USER_SECRET, QUERY_SECRET):
        assert secret not in errors


def test_stock_redirect_without_location_is_not_an_answer(erp, rsps):
    rsps.add("POST", f"{hs.BASE}/reservations/r-1/confirm", status=302)
    adapter = registry.get_adapter(erp)
    with pytest.raises(Unknown) as caught:
        adapter.confirm(reference="r-1", idempotency_key="k-1")
    assert caught.value.code == "redirected"
    assert "to ?," in str(caught.value)
