"""Selling while the ERP is slow, rate-limiting or down: the storefront's
reservation, confirm and release are answered from the last known level with
no ERP call in the request (the forward is a task enqueued on commit); the
ERP catches up afterwards through that task, retried past a Retry-After and
a refused connection, one hold made however often it is run."""

import time
import uuid
from datetime import timedelta

import pytest
import requests
import responses
from django.utils import timezone
from django_q.signals import post_execute_in_worker
from rest_framework.test import APIClient
from urllib3.exceptions import MaxRetryError, NewConnectionError

from inventory import services, tasks
from inventory.models import ForwardStatus, ReservationForward, StockLevel
from tests.factories import ApiKeyFactory
from tests.inventory.contract import harness_http_stock as hs
from tests.inventory.factories import LocationFactory, StockLevelFactory

RESERVE_URL = f"{hs.BASE}/reservations"
URL = "/api/v1/inventory/reservations/"


def _refused() -> requests.ConnectionError:
    refused = NewConnectionError(None, "[Errno 111] Connection refused")
    return requests.ConnectionError(MaxRetryError(None, RESERVE_URL, reason=refused))


def _api() -> APIClient:
    key = ApiKeyFactory(scopes=["inventory:read", "inventory:write"])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key.raw_key}")
    return client


def _post(api: APIClient, url: str, data: dict | None = None):
    return api.post(
        url, data or {}, format="json", HTTP_IDEMPOTENCY_KEY=uuid.uuid4().hex
    )


@pytest.fixture(autouse=True)
def queued(monkeypatch):
    # As deployed: a task is enqueued for a worker, not run in the caller
    # (the test settings' Q_SYNC would run it inside the request).
    monkeypatch.setattr("django_q.conf.Conf.SYNC", False)
    yield
    # Sent as a worker sends them at a task's end, while Conf.SYNC is still
    # off: else the outbox's thread sends the last event (the release's)
    # after it is back on, run inline in whichever test comes next (stall48).
    post_execute_in_worker.send(sender="django_q", func=None, task={})


@pytest.fixture
def erp():
    account = hs.make_account()
    account.settings = {"max_attempts": 1, "backoff_base_seconds": 0.001}
    account.save()
    StockLevelFactory(
        sku="WIDGET-RED",
        location=LocationFactory(code="main"),
        on_hand=5,
        source=account,
    )
    return account


# An ERP that would hold a request for this long: far beyond what four API
# calls take on a loaded machine, so one wait on it cannot pass unseen.
ERP_HOLD = 30
erp_asked: list[str] = []


def _slow_erp(request):
    erp_asked.append(request.url)  # at once: a call still waiting counts too
    time.sleep(ERP_HOLD)
    raise requests.ReadTimeout("read timed out")


@pytest.mark.django_db(transaction=True)
def test_the_storefront_sells_from_the_last_level_without_waiting_for_the_erp(erp):
    api = _api()
    erp_asked.clear()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        rsps.add_callback("POST", RESERVE_URL, callback=_slow_erp)
        rsps.add_callback("POST", f"{RESERVE_URL}/", callback=_slow_erp)
        started = time.monotonic()
        made = _post(
            api,
            URL,
            {"order_id": "o-1", "lines": [{"sku": "WIDGET-RED", "quantity": 2}]},
        )
        other = _post(
            api,
            URL,
            {"order_id": "o-2", "lines": [{"sku": "WIDGET-RED", "quantity": 3}]},
        )
        confirmed = _post(api, f"{URL}{made.json()['id']}/confirm/")
        released = _post(api, f"{URL}{other.json()['id']}/release/")
        took = time.monotonic() - started
        sent = len(rsps.calls)

    assert (made.status_code, other.status_code) == (201, 201)
    assert (confirmed.status_code, released.status_code) == (200, 200)
    assert sent == 0 and erp_asked == [] and took < ERP_HOLD, took
    level = StockLevel.objects.get(sku="WIDGET-RED")
    assert (level.on_hand, level.reserved) == (3, 0)


@pytest.mark.django_db(transaction=True)
def test_the_erp_catches_up_past_a_rate_limit_and_an_outage_once(erp):
    api = _api()
    made = _post(
        api, URL, {"order_id": "o-1", "lines": [{"sku": "WIDGET-RED", "quantity": 2}]}
    )
    assert made.status_code == 201
    forward = ReservationForward.objects.get(operation="reserve")

    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        rsps.post(RESERVE_URL, status=429, headers={"Retry-After": "120"})
        tasks.forward_hold(forward.pk)
        forward.refresh_from_db()
        assert forward.status == ForwardStatus.FAILED
        assert forward.next_attempt_at >= timezone.now() + timedelta(seconds=110)
        # Not due: the sweep leaves it alone however often it runs.
        assert services.hold_forwards_sweep() == 0

        rsps.replace("POST", RESERVE_URL, body=_refused())
        later = timezone.now() + timedelta(minutes=5)
        assert services.hold_forwards_sweep(now=later) == 1
        tasks.forward_hold(forward.pk)
        forward.refresh_from_db()
        assert forward.status == ForwardStatus.FAILED

        rsps.replace("POST", RESERVE_URL, status=201, json=hs.load("reservation.json"))
        services.hold_forwards_sweep(now=later + timedelta(hours=1))
        tasks.forward_hold(forward.pk)
        tasks.forward_hold(forward.pk)
        forward.refresh_from_db()
        assert forward.status == ForwardStatus.DONE
        keys = [c.request.headers["Idempotency-Key"] for c in rsps.calls]

    # Three sends of one hold, each under the same key: one hold at the ERP.
    assert len(keys) == 3 and len(set(keys)) == 1
