"""Holds forwarded to an ERP that keeps its own (the generic HTTP stock
service, answers from tests/fixtures/http_stock/ as its spec in
docs/providers/inventory.md shapes them; the sandbox ERP): after the local
reservation is made, released, expired or confirmed, on commit, through the
keyed-attempt recorder, retried with backoff, never blocking or undoing the
local answer, one hold per reservation at the ERP."""

import json
from datetime import timedelta

import pytest
import requests
import responses
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient
from urllib3.exceptions import MaxRetryError, NewConnectionError

from inventory import services, tasks
from inventory.models import (
    ForwardStatus,
    Reservation,
    ReservationForward,
    ReservationForwardAttempt,
    ReservationStatus,
    SandboxErpHold,
    SandboxErpLevel,
)
from inventory.providers.sandbox import sandbox_erp_total_held
from inventory.services import LineRequest
from tests.factories import ApiKeyFactory, ProviderAccountFactory
from tests.inventory.contract import harness_http_stock as hs
from tests.inventory.contract import harness_netsuite
from tests.inventory.factories import LocationFactory, StockLevelFactory

pytestmark = pytest.mark.django_db

RESERVE_URL = f"{hs.BASE}/reservations"
# One HTTP request per forward attempt, so the counts below are the ERP's.
ONE_TRY = {"max_attempts": 1, "backoff_base_seconds": 0.001}


def _url(reservation: Reservation, action: str) -> str:
    return f"{RESERVE_URL}/{reservation.public_id}/{action}"


@pytest.fixture
def rsps():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def erp():
    account = hs.make_account()
    account.settings = dict(ONE_TRY)
    account.save()
    StockLevelFactory(
        sku="WIDGET-RED",
        location=LocationFactory(code="main"),
        on_hand=10,
        source=account,
    )
    return account


def _reserve(capture, quantity: int = 2, execute: bool = True) -> Reservation:
    with capture(execute=execute):
        return services.reservation_create(
            order_id="order-1001", lines=[LineRequest("WIDGET-RED", quantity)]
        )


def _forward(reservation: Reservation, operation: str = "reserve"):
    return ReservationForward.objects.get(reservation=reservation, operation=operation)


def _sweep_later(capture, minutes: int = 120) -> int:
    with capture(execute=True):
        return services.hold_forwards_sweep(
            now=timezone.now() + timedelta(minutes=minutes)
        )


def _refused(url: str) -> requests.ConnectionError:
    refused = NewConnectionError(None, "[Errno 111] Connection refused")
    return requests.ConnectionError(MaxRetryError(None, url, reason=refused))


def test_a_reservation_is_forwarded_once_by_its_public_id(
    erp, rsps, django_capture_on_commit_callbacks
):
    rsps.post(RESERVE_URL, status=201, json=hs.load("reservation.json"))

    reservation = _reserve(django_capture_on_commit_callbacks)

    (call,) = rsps.calls
    body = json.loads(call.request.body)
    key = f"{reservation.public_id}-a{erp.pk}-reserve"
    assert call.request.headers["Idempotency-Key"] == key
    assert body["reference"] == reservation.public_id
    assert body["lines"] == [{"sku": "WIDGET-RED", "location": "main", "quantity": 2}]
    assert body["expires_at"] == reservation.expires_at.isoformat()
    forward = _forward(reservation)
    assert (forward.status, forward.external_reference) == ("done", "res_9f2c1ab4")
    (attempt,) = ReservationForwardAttempt.objects.filter(forward=forward)
    assert (attempt.outcome, attempt.idempotency_key) == ("succeeded", key)
    assert attempt.provider_reference == "res_9f2c1ab4"

    # A duplicate task for the same forward sends nothing more.
    assert tasks.forward_hold(forward.pk) is None
    assert len(rsps.calls) == 1


def test_nothing_is_sent_before_the_reservation_commits(
    erp, rsps, django_capture_on_commit_callbacks
):
    rsps.post(RESERVE_URL, status=201, json=hs.load("reservation.json"))

    reservation = _reserve(django_capture_on_commit_callbacks, execute=False)

    assert len(rsps.calls) == 0
    assert _forward(reservation).status == "pending"


def _timeout(url: str) -> dict:
    return {"body": requests.ReadTimeout("read timed out")}


FAILURES = {
    "timeout": (_timeout, "unknown"),
    "429": (
        lambda url: {"status": 429, "headers": {"Retry-After": "600"}},
        "not_processed",
    ),
    "500": (lambda url: {"status": 500, "body": "Internal Server Error"}, "unknown"),
    "refused": (lambda url: {"body": _refused(url)}, "not_processed"),
}


@pytest.mark.parametrize("fault", sorted(FAILURES))
def test_a_failed_forward_keeps_the_reservation_and_is_retried_with_the_same_key(
    fault, erp, rsps, django_capture_on_commit_callbacks
):
    answer, outcome = FAILURES[fault]
    rsps.post(RESERVE_URL, **answer(RESERVE_URL))

    reservation = _reserve(django_capture_on_commit_callbacks)

    # The local answer stands: the units are held here whatever the ERP did.
    reservation.refresh_from_db()
    assert reservation.status == ReservationStatus.ACTIVE
    forward = _forward(reservation)
    assert forward.status == ForwardStatus.FAILED
    assert forward.last_error.startswith(outcome)
    assert forward.next_attempt_at > timezone.now()
    if fault == "429":
        # Retry-After is honoured over the shorter backoff.
        assert forward.next_attempt_at >= timezone.now() + timedelta(seconds=590)
    assert [a.outcome for a in forward.calls.all()] == [outcome]

    # Not due yet: the sweep leaves it.
    with django_capture_on_commit_callbacks(execute=True):
        assert services.hold_forwards_sweep() == 0

    rsps.replace("POST", RESERVE_URL, status=201, json=hs.load("reservation.json"))
    assert _sweep_later(django_capture_on_commit_callbacks) == 1

    forward.refresh_from_db()
    assert (forward.status, forward.last_error) == ("done", "")
    keys = {c.request.headers["Idempotency-Key"] for c in rsps.calls}
    references = {json.loads(c.request.body)["reference"] for c in rsps.calls}
    assert (len(rsps.calls), keys, references) == (
        2,
        {f"{reservation.public_id}-a{erp.pk}-reserve"},
        {reservation.public_id},
    )
    assert [a.outcome for a in forward.calls.all()] == [outcome, "succeeded"]


def test_a_refusal_is_not_retried_and_shows_on_the_reservation(
    erp, rsps, admin_client, django_capture_on_commit_callbacks
):
    rsps.post(RESERVE_URL, status=409, json=hs.load("error_insufficient_stock.json"))

    reservation = _reserve(django_capture_on_commit_callbacks)

    forward = _forward(reservation)
    assert forward.status == ForwardStatus.DEAD
    assert "insufficient_stock" in forward.last_error
    assert _sweep_later(django_capture_on_commit_callbacks) == 0
    assert len(rsps.calls) == 1
    changelist = reverse("admin:inventory_reservation_changelist")
    failing = admin_client.get(changelist, {"erp": "failing"})
    assert [r.pk for r in failing.context["cl"].result_list] == [reservation.pk]
    assert "reserve: dead" in failing.content.decode()
    page = admin_client.get(
        reverse("admin:inventory_reservation_change", args=[reservation.pk])
    ).content.decode()
    assert "Forwarded to the ERP" in page and "insufficient_stock" in page


def test_staff_send_a_failed_forward_again(
    erp, rsps, admin_client, django_capture_on_commit_callbacks
):
    rsps.post(RESERVE_URL, status=500)
    reservation = _reserve(django_capture_on_commit_callbacks)
    rsps.replace("POST", RESERVE_URL, status=201, json=hs.load("reservation.json"))

    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(
            reverse("admin:inventory_reservation_changelist"),
            {"action": "retry_forwards", "_selected_action": [reservation.pk]},
            follow=True,
        )

    assert _forward(reservation).status == ForwardStatus.DONE
    assert len(rsps.calls) == 2


def test_gives_up_after_the_maximum_attempts(
    erp, rsps, settings, django_capture_on_commit_callbacks
):
    settings.INVENTORY_FORWARD_MAX_ATTEMPTS = 2
    rsps.post(RESERVE_URL, body=_refused(RESERVE_URL))

    reservation = _reserve(django_capture_on_commit_callbacks)
    _sweep_later(django_capture_on_commit_callbacks)

    forward = _forward(reservation)
    assert (forward.status, forward.attempts) == (ForwardStatus.DEAD, 2)
    assert _sweep_later(django_capture_on_commit_callbacks, minutes=600) == 0
    assert len(rsps.calls) == 2


def test_release_and_expiry_are_forwarded(
    erp, rsps, django_capture_on_commit_callbacks
):
    rsps.post(RESERVE_URL, status=201, json=hs.load("reservation.json"))
    released = _reserve(django_capture_on_commit_callbacks)
    expired = _reserve(django_capture_on_commit_callbacks)
    for reservation in (released, expired):
        rsps.post(
            _url(reservation, "release"), json=hs.load("reservation_released.json")
        )

    with django_capture_on_commit_callbacks(execute=True):
        services.reservation_release(reservation=released)
        services.reservations_expire(now=timezone.now() + timedelta(hours=1))

    for reservation in (released, expired):
        assert _forward(reservation, "release").status == ForwardStatus.DONE
        (call,) = [
            c for c in rsps.calls if c.request.url == _url(reservation, "release")
        ]
        key = call.request.headers["Idempotency-Key"]
        assert key == f"{reservation.public_id}-a{erp.pk}-release"


def test_confirm_is_forwarded(erp, rsps, django_capture_on_commit_callbacks):
    rsps.post(RESERVE_URL, status=201, json=hs.load("reservation.json"))
    reservation = _reserve(django_capture_on_commit_callbacks)
    rsps.post(_url(reservation, "confirm"), json=hs.load("reservation_confirmed.json"))

    with django_capture_on_commit_callbacks(execute=True):
        services.reservation_confirm(reservation=reservation)
        # Confirming twice here tells the ERP once.
        services.reservation_confirm(reservation=reservation)

    assert _forward(reservation, "confirm").status == ForwardStatus.DONE
    assert [c.request.url for c in rsps.calls] == [
        RESERVE_URL,
        _url(reservation, "confirm"),
    ]


def test_a_hold_released_before_it_reached_the_erp_is_never_sent(
    erp, rsps, django_capture_on_commit_callbacks
):
    reservation = _reserve(django_capture_on_commit_callbacks, execute=False)

    with django_capture_on_commit_callbacks(execute=True):
        services.reservation_release(reservation=reservation)

    assert len(rsps.calls) == 0
    assert _forward(reservation).status == ForwardStatus.SKIPPED
    assert _forward(reservation, "release").status == ForwardStatus.SKIPPED
    # The lost reserve task arriving late sends nothing either.
    assert tasks.forward_hold(_forward(reservation).pk) is None


def test_a_release_after_an_unknown_reserve_still_reaches_the_erp(
    erp, rsps, django_capture_on_commit_callbacks
):
    rsps.post(RESERVE_URL, body=requests.ReadTimeout("read timed out"))
    reservation = _reserve(django_capture_on_commit_callbacks)
    rsps.post(_url(reservation, "release"), status=404, json={"error": {"code": "x"}})

    with django_capture_on_commit_callbacks(execute=True):
        services.reservation_release(reservation=reservation)

    # The ERP may hold it: release it there (a hold it lacks is no error).
    assert _forward(reservation).status == ForwardStatus.SKIPPED
    assert _forward(reservation, "release").status == ForwardStatus.DONE
    assert _sweep_later(django_capture_on_commit_callbacks) == 0
    assert len(rsps.calls) == 2


def test_a_confirm_waits_for_its_reserve(erp, rsps, django_capture_on_commit_callbacks):
    rsps.post(RESERVE_URL, body=_refused(RESERVE_URL))
    reservation = _reserve(django_capture_on_commit_callbacks)
    confirm_url = _url(reservation, "confirm")
    rsps.post(confirm_url, json=hs.load("reservation_confirmed.json"))

    with django_capture_on_commit_callbacks(execute=True):
        services.reservation_confirm(reservation=reservation)

    waiting = _forward(reservation, "confirm")
    assert (waiting.status, waiting.attempts) == (ForwardStatus.FAILED, 0)
    assert "waiting" in waiting.last_error
    rsps.replace("POST", RESERVE_URL, status=201, json=hs.load("reservation.json"))

    _sweep_later(django_capture_on_commit_callbacks)

    assert _forward(reservation).status == ForwardStatus.DONE
    assert _forward(reservation, "confirm").status == ForwardStatus.DONE
    urls = [c.request.url for c in rsps.calls]
    assert urls == [RESERVE_URL, RESERVE_URL, confirm_url]


def test_erps_without_holds_and_levels_without_a_source_are_not_told(
    rsps, django_capture_on_commit_callbacks
):
    netsuite = harness_netsuite.make_account()
    StockLevelFactory(sku="NS-1", source=netsuite)
    StockLevelFactory(sku="LOCAL-1")

    with django_capture_on_commit_callbacks(execute=True):
        for sku in ("NS-1", "LOCAL-1"):
            reservation = services.reservation_create(
                order_id="o", lines=[LineRequest(sku, 1)]
            )
            services.reservation_release(reservation=reservation)

    assert not ReservationForward.objects.exists()
    assert len(rsps.calls) == 0
    assert services.holding_accounts([netsuite.pk]) == []


def test_the_sandbox_erp_holds_and_confirms(django_capture_on_commit_callbacks):
    account = ProviderAccountFactory(kind="inventory", provider="sandbox")
    location = LocationFactory(code="main")
    SandboxErpLevel.objects.create(
        account=account, sku="SBX-1", location_code="main", on_hand=10
    )
    StockLevelFactory(sku="SBX-1", location=location, on_hand=10, source=account)

    with django_capture_on_commit_callbacks(execute=True):
        kept = services.reservation_create(
            order_id="o1", lines=[LineRequest("SBX-1", 3)]
        )
        dropped = services.reservation_create(
            order_id="o2", lines=[LineRequest("SBX-1", 2)]
        )
    assert sandbox_erp_total_held(account=account) == 5
    held = {h.reference: h.released for h in SandboxErpHold.objects.all()}
    assert held == {kept.public_id: False, dropped.public_id: False}

    with django_capture_on_commit_callbacks(execute=True):
        services.reservation_confirm(reservation=kept)
        services.reservation_release(reservation=dropped)

    held = {h.reference: h.released for h in SandboxErpHold.objects.all()}
    assert held == {kept.public_id: True, dropped.public_id: True}
    assert SandboxErpLevel.objects.get(account=account).on_hand == 7


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("quantity", [2, 9], ids=["one_statement", "state_moves"])
def test_through_the_api_the_erp_is_told_after_the_commit(erp, rsps, quantity):
    seen = []

    def answer(request):
        # The ERP call runs outside any transaction: the reservation is
        # committed, visible to everyone, before the ERP hears of it.
        seen.append(connection.in_atomic_block)
        seen.append(Reservation.objects.filter(status="active").count())
        return 201, {}, json.dumps(hs.load("reservation.json"))

    rsps.add_callback("POST", RESERVE_URL, callback=answer)
    key = ApiKeyFactory(scopes=["inventory:write"])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key.raw_key}")

    response = client.post(
        "/api/v1/inventory/reservations/",
        {
            "order_id": "order-1001",
            "lines": [{"sku": "WIDGET-RED", "quantity": quantity}],
        },
        format="json",
        HTTP_IDEMPOTENCY_KEY="checkout-1",
    )

    assert response.status_code == 201
    assert seen == [False, 1]
    forward = ReservationForward.objects.get()
    assert forward.reservation.public_id == response.json()["id"]
    assert forward.status == ForwardStatus.DONE


@pytest.mark.postgres
def test_on_postgresql_the_hold_and_its_forward_are_one_statement(
    erp, rsps, django_capture_on_commit_callbacks
):
    rsps.post(RESERVE_URL, status=201, json=hs.load("reservation.json"))

    with CaptureQueriesContext(connection) as captured:
        reservation = _reserve(django_capture_on_commit_callbacks, execute=False)

    writes = [
        q["sql"]
        for q in captured.captured_queries
        if "inventory_reservationforward" in q["sql"]
    ]
    # The forward is written by the reservation's own statement, so a crash
    # cannot keep the hold and lose the forward.
    assert len(writes) == 1 and "took AS (UPDATE inventory_stocklevel" in writes[0]
    assert _forward(reservation).status == "pending"
    assert len(rsps.calls) == 0  # not before the commit
