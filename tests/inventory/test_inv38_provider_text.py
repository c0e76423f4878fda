"""inv38: an ERP's error text that quotes our secrets. A canary is planted
in every secret credential of each inventory account (NetSuite's token-based
auth keys, TradeGecko's token and app secret, the stock service's key and
webhook secret) and every answer of the fake ERP echoes them all. Through
sync_inventory, a TradeGecko webhook's read-back and create_purchase_orders
--send, no canary reaches the command's output, a stored row (sync runs,
provider calls, webhook events, purchase orders) or a log line; what staff
keep of the ERP's text is masked. (All held when checked: a guard.)"""

import io
import json
import logging
import re
import time
import uuid

import pytest
import responses
from django.core.management import CommandError, call_command
from django.forms.models import model_to_dict
from django.test import Client

from integrations.logging import SecretRedactionFilter
from integrations.models import ProviderCall, WebhookEvent
from integrations.secrets_registry import MASK, forget
from integrations.webhooks.services import webhook_event_process
from inventory.models import PurchaseOrder, SyncRun
from tests.factories import ProviderAccountFactory
from tests.inventory.contract import harness_http_stock as hs
from tests.inventory.contract import harness_netsuite as ns
from tests.inventory.contract import harness_tradegecko as tg
from tests.inventory.factories import StockLevelFactory
from tests.inventory.purchase_orders import purchase_order

pytestmark = pytest.mark.django_db

CANARY = "inv38CANARYz4q9"
ACCOUNTS = {
    "netsuite": (
        ns.BASE,
        {"account_id": "1234567_SB1"},
        ("consumer_key", "consumer_secret", "token_id", "token_secret"),
    ),
    "tradegecko": (tg.BASE, {}, ("access_token", "app_secret")),
    "http_stock": (hs.BASE, {}, ("api_key", "webhook_secret")),
}


@pytest.fixture(autouse=True)
def fresh_secrets(settings):
    # The secrets registry read afresh: each test plants its own.
    settings.SECRET_REDACTION_CHECK_SECONDS = 0
    settings.PROVIDER_MAX_ATTEMPTS = 1
    forget()
    yield
    forget()


@pytest.fixture
def console() -> io.StringIO:
    """The configured console handler's output (with its filters)."""
    handler = next(
        h
        for h in logging.getLogger().handlers
        if any(isinstance(f, SecretRedactionFilter) for f in h.filters)
    )
    stream = io.StringIO()
    previous = handler.setStream(stream)
    yield stream
    handler.setStream(previous)


def _account(provider: str):
    base, settings, names = ACCOUNTS[provider]
    credentials = {name: f"{CANARY}-{name}" for name in names}
    if provider == "http_stock":
        credentials["base_url"] = base
    return ProviderAccountFactory(
        kind="inventory",
        provider=provider,
        slug="erp",
        settings={**settings, "backoff_base_seconds": 0.001, "max_attempts": 1},
        credentials=credentials,
    )


def _echoing(rsps, account, status: int) -> None:
    """Every call to the account's ERP answered ``status`` with a body that
    quotes each of its secrets, in the shapes the three ERPs use."""
    base, _settings, names = ACCOUNTS[account.provider]
    echo = " ".join(f"{CANARY}-{name}" for name in names)
    body = json.dumps(
        {
            "error": {"code": "denied", "message": f"bad key {echo}"},
            "errors": {"base": [f"bad key {echo}"]},
            "o:errorDetails": [{"detail": f"bad key {echo}"}],
            "message": f"bad key {echo}",
        }
    )
    for method in ("GET", "POST", "PUT", "PATCH"):
        rsps.add(
            method,
            re.compile(re.escape(base) + ".*"),
            status=status,
            body=body,
            content_type="application/json",
        )


def _nowhere(texts: dict[str, str], caplog, console) -> None:
    texts["console"] = console.getvalue()
    texts["records"] = "\n".join(r.getMessage() for r in caplog.records)
    leaked = [name for name, text in texts.items() if CANARY in text]
    assert not leaked, {name: texts[name] for name in leaked}


def _rows(model) -> str:
    return json.dumps([model_to_dict(r) for r in model.objects.all()], default=str)


@pytest.mark.parametrize("status", [400, 401, 422, 500])
@pytest.mark.parametrize("provider", list(ACCOUNTS))
def test_a_sync_answered_with_our_secrets_keeps_them_nowhere(
    provider, status, caplog, console
):
    account = _account(provider)
    StockLevelFactory(sku="A", on_hand=1)  # the stock service is asked by SKU
    out, err = io.StringIO(), io.StringIO()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        _echoing(rsps, account, status)
        with pytest.raises(CommandError) as raised:
            call_command("sync_inventory", "--account", "erp", stdout=out, stderr=err)

    run = SyncRun.objects.get()
    assert run.status == "failed" and run.errors
    if status in (400, 422):  # a refusal: its text is kept for staff, masked
        assert MASK in run.errors[0]["message"], run.errors
    _nowhere(
        {
            "message": str(raised.value),
            "out": out.getvalue() + err.getvalue(),
            "runs": _rows(SyncRun),
            "calls": _rows(ProviderCall),
        },
        caplog,
        console,
    )


@pytest.mark.parametrize("status", [400, 500])
def test_a_tradegecko_read_back_answered_with_our_secrets(status, caplog, console):
    account = _account("tradegecko")
    body = json.dumps(
        {"object_id": 31, "event": "variant.update", "timestamp": int(time.time())}
    ).encode()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        _echoing(rsps, account, status)
        response = Client().post(
            "/webhooks/erp/",
            data=body,
            content_type="application/json",
            HTTP_X_GECKO_DELIVERY=uuid.uuid4().hex,
            HTTP_X_GECKO_SIGNATURE=tg.signed(body, f"{CANARY}-app_secret"),
        )
        assert response.status_code == 200, response.content
        event = WebhookEvent.objects.get()
        try:
            webhook_event_process(event_id=event.pk)
        except Exception as exc:  # a retried failure may be raised to the worker
            caplog.records.append(logging.makeLogRecord({"msg": str(exc)}))

    event.refresh_from_db()
    assert event.status in ("failed", "dead") and event.last_error
    _nowhere(
        {"events": _rows(WebhookEvent), "calls": _rows(ProviderCall)}, caplog, console
    )


@pytest.mark.parametrize("status", [400, 422, 500])
@pytest.mark.parametrize("provider", ["netsuite", "tradegecko"])
def test_a_purchase_order_send_answered_with_our_secrets(
    provider, status, caplog, console
):
    account = _account(provider)
    order = purchase_order(status="draft")
    out, err = io.StringIO(), io.StringIO()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        _echoing(rsps, account, status)
        with pytest.raises(CommandError):
            call_command("create_purchase_orders", "--send", stdout=out, stderr=err)

    order.refresh_from_db()
    assert order.status != "sent"
    _nowhere(
        {
            "out": out.getvalue() + err.getvalue(),
            "orders": _rows(PurchaseOrder),
            "calls": _rows(ProviderCall),
        },
        caplog,
        console,
    )
    if status in (400, 422):  # a refusal: its text is kept for staff, masked
        assert MASK in order.last_error, order.last_error
