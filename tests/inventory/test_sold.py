"""Units sold here that the ERP's figure does not show yet: a sync or a
webhook never gives them back, for an ERP that keeps holds (until our
confirm forward is done) and one that keeps none (until its figure moves),
on the PostgreSQL set-based apply and on the ORM one."""

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from django.db import connection
from django.utils import timezone

from integrations.errors import Unknown
from inventory import services
from inventory.models import (
    ForwardOperation,
    ForwardStatus,
    ReservationForward,
    SandboxErpLevel,
    StockLevel,
)
from inventory.providers import sandbox
from inventory.providers.base import StockLevelRecord
from inventory.services import LineRequest
from tests.factories import ProviderAccountFactory
from tests.inventory.contract import harness_netsuite
from tests.inventory.factories import LocationFactory, StockLevelFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def main_location():
    """The warehouse the ERPs name, set up by staff (an unknown one would be
    created inactive and its stock not sellable)."""
    return LocationFactory(code="MAIN")


@pytest.fixture(params=["set_based", "orm"])
def apply_path(request, monkeypatch):
    """Both apply paths: PostgreSQL's raw upsert, and the ORM's (what SQLite
    runs), forced here on PostgreSQL too."""
    if request.param == "orm":
        monkeypatch.setattr(
            "inventory.services.apply.connection", SimpleNamespace(vendor="orm")
        )
    elif connection.vendor != "postgresql":
        pytest.skip("the set-based path is PostgreSQL's")
    return request.param


def _level(sku: str = "A") -> StockLevel:
    return StockLevel.objects.get(sku=sku)


def _sell(quantity: int, capture) -> object:
    """Reserve and confirm; the forwards stay queued (not run)."""
    with capture(execute=False):
        sold = services.reservation_create(
            order_id="o1", lines=[LineRequest("A", quantity)]
        )
        services.reservation_confirm(reservation=sold)
    return sold


def _run_forward(reservation, operation: str) -> None:
    forward = ReservationForward.objects.get(
        reservation=reservation, operation=operation
    )
    services.hold_forward_run(forward_id=forward.pk)
    forward.refresh_from_db()
    assert forward.status == ForwardStatus.DONE


def test_an_erp_with_holds_shows_the_sale_once_the_confirm_is_done(
    apply_path, django_capture_on_commit_callbacks
):
    erp = ProviderAccountFactory(kind="inventory", slug="erp")
    SandboxErpLevel.objects.create(
        account=erp,
        sku="A",
        location_code="MAIN",
        on_hand=10,
        modified_at=timezone.now() - timedelta(hours=1),
    )
    services.inventory_sync(account=erp, full=True)
    sold = _sell(10, django_capture_on_commit_callbacks)
    assert (_level().on_hand, _level().sold_unsent) == (0, 10)

    # The confirm forward is queued (or retrying) while the ERP receives 5.
    SandboxErpLevel.objects.update(on_hand=15, modified_at=timezone.now())
    services.inventory_sync(account=erp, full=True)
    assert _level().on_hand == 5

    before_the_ack = timezone.now()
    _run_forward(sold, ForwardOperation.RESERVE)
    _run_forward(sold, ForwardOperation.CONFIRM)
    assert SandboxErpLevel.objects.get().on_hand == 5  # the ERP took the 10 off
    assert (_level().on_hand, _level().sold_unsent) == (5, 0)

    # A page read before the ERP acknowledged, applied after: not applied.
    result = services.stock_levels_apply(
        account=erp,
        records=[StockLevelRecord("A", "MAIN", 15, _level().erp_modified_at)],
        now=timezone.now(),
        as_of=before_the_ack,
    )
    assert (result.ignored, _level().on_hand) == (1, 5)

    # Read from now on, the ERP's figure shows the sale: nothing twice.
    services.inventory_sync(account=erp, full=True)
    assert _level().on_hand == 5
    SandboxErpLevel.objects.update(on_hand=25, modified_at=timezone.now())
    services.inventory_sync(account=erp)
    assert _level().on_hand == 25


def test_an_erp_without_holds_shows_the_sale_when_its_figure_moves(
    apply_path, django_capture_on_commit_callbacks
):
    netsuite = harness_netsuite.make_account()
    read = timezone.now() - timedelta(hours=1)

    def apply(on_hand, modified_at):
        record = StockLevelRecord("A", "MAIN", on_hand, modified_at)
        services.stock_levels_apply(
            account=netsuite, records=[record], now=timezone.now()
        )
        return _level()

    apply(10, read)
    _sell(4, django_capture_on_commit_callbacks)
    assert not ReservationForward.objects.exists()  # NetSuite is told nothing
    assert (_level().on_hand, _level().sold_unseen) == (6, 4)

    # The same figure again, with its time or (a webhook) without one.
    assert apply(10, read).on_hand == 6
    assert apply(10, None).on_hand == 6
    # The ERP books the sale: its figure moves, and shows it.
    level = apply(6, timezone.now())
    assert (level.on_hand, level.sold_unseen, level.sold_unseen_at) == (6, 0, None)
    assert apply(16, timezone.now()).on_hand == 16


def test_a_level_no_erp_supplies_keeps_no_count(django_capture_on_commit_callbacks):
    StockLevelFactory(sku="A", on_hand=10)
    _sell(3, django_capture_on_commit_callbacks)
    level = _level()
    assert (level.on_hand, level.sold_unsent, level.sold_unseen) == (7, 0, 0)


def test_the_erps_report_of_the_confirm_before_its_answer_is_not_counted_twice(
    apply_path, monkeypatch, django_capture_on_commit_callbacks
):
    """The ERP takes the units off and its inventory.updated webhook is
    applied while our confirm forward still waits for the ERP's answer: the
    figure may already show the sale, so it is not applied as figure less
    the unsent units (they would be taken off twice, and the answer would
    then zero sold_unsent without giving them back)."""
    erp = ProviderAccountFactory(kind="inventory", slug="erp")
    SandboxErpLevel.objects.create(
        account=erp,
        sku="A",
        location_code="MAIN",
        on_hand=15,
        modified_at=timezone.now() - timedelta(hours=1),
    )
    services.inventory_sync(account=erp, full=True)
    sold = _sell(5, django_capture_on_commit_callbacks)
    assert _level().on_hand == 10
    _run_forward(sold, ForwardOperation.RESERVE)

    real_confirm = sandbox.SandboxInventoryAdapter._confirm

    def confirm_then_webhook(self, reference):
        real_confirm(self, reference)
        erp_level = SandboxErpLevel.objects.get()
        services.stock_levels_apply(
            account=erp,
            records=[
                StockLevelRecord("A", "MAIN", erp_level.on_hand, erp_level.modified_at)
            ],
            now=timezone.now(),
        )

    monkeypatch.setattr(
        sandbox.SandboxInventoryAdapter, "_confirm", confirm_then_webhook
    )
    _run_forward(sold, ForwardOperation.CONFIRM)

    assert SandboxErpLevel.objects.get().on_hand == 10
    assert (_level().on_hand, _level().sold_unsent) == (10, 0)


def _erp_at(on_hand: int) -> object:
    erp = ProviderAccountFactory(kind="inventory", slug="erp")
    SandboxErpLevel.objects.create(
        account=erp,
        sku="A",
        location_code="MAIN",
        on_hand=on_hand,
        modified_at=timezone.now() - timedelta(hours=1),
    )
    services.inventory_sync(account=erp, full=True)
    return erp


def _page(erp, on_hand: int, as_of) -> int:
    """A sync page of the level with this figure; returns how many were
    ignored."""
    record = StockLevelRecord(
        "A", "MAIN", on_hand, SandboxErpLevel.objects.get().modified_at
    )
    return services.stock_levels_apply(
        account=erp, records=[record], now=timezone.now(), as_of=as_of
    ).ignored


def _confirm_then(monkeypatch, during) -> None:
    """The ERP books the confirm, then ``during()`` runs before our forward
    reads the answer (it may raise, as a lost answer would)."""
    real_confirm = sandbox.SandboxInventoryAdapter._confirm

    def confirm(self, reference):
        real_confirm(self, reference)
        during()

    monkeypatch.setattr(sandbox.SandboxInventoryAdapter, "_confirm", confirm)


def _awaited() -> tuple:
    level = _level()
    return level.confirms_awaited, level.erp_confirm_sent_at


def test_a_sync_page_asked_while_the_confirm_awaits_its_answer_is_not_applied(
    apply_path, monkeypatch, django_capture_on_commit_callbacks
):
    erp = _erp_at(15)
    asked_before_the_send = timezone.now()
    sold = _sell(5, django_capture_on_commit_callbacks)
    _run_forward(sold, ForwardOperation.RESERVE)
    seen = {}

    def sync_pages():
        seen["awaited"] = _awaited()
        # Asked before the send, applied now: it cannot show the sale.
        seen["before"] = _page(erp, 17, asked_before_the_send)
        seen["on_hand"] = _level().on_hand
        # Asked now: it may show the sale, or not yet.
        seen["during"] = _page(erp, 10, timezone.now())

    _confirm_then(monkeypatch, sync_pages)
    _run_forward(sold, ForwardOperation.CONFIRM)

    assert seen["awaited"][0] == 1 and seen["awaited"][1] is not None
    assert (seen["before"], seen["on_hand"], seen["during"]) == (0, 12, 1)
    assert (_level().on_hand, _level().sold_unsent) == (12, 0)
    assert _awaited() == (0, None)
    services.inventory_sync(account=erp, full=True)  # asked after the answer
    assert _level().on_hand == 10


def test_a_sync_page_asked_before_the_send_but_computed_after_it_is_not_applied(
    apply_path, monkeypatch, django_capture_on_commit_callbacks
):
    """The sync asks for its page; while the ERP computes it, our confirm is
    sent and booked (its answer lost, so it awaits a retry). Asked before the
    send, the page still shows the sale: applied as figure less the unsent
    units, the 5 sold would be off twice."""
    erp = _erp_at(15)
    sold = _sell(5, django_capture_on_commit_callbacks)
    _run_forward(sold, ForwardOperation.RESERVE)

    def lost_answer():
        raise Unknown("read timeout", code="timeout")

    _confirm_then(monkeypatch, lost_answer)
    real_levels = sandbox.SandboxInventoryAdapter.levels
    forward = ReservationForward.objects.get(operation=ForwardOperation.CONFIRM)

    def confirmed_while_computing(self, query):
        # The request is on its way (asked); the ERP books the confirm, then
        # answers with the figure after it.
        services.hold_forward_run(forward_id=forward.pk)
        return real_levels(self, query)

    monkeypatch.setattr(
        sandbox.SandboxInventoryAdapter, "levels", confirmed_while_computing
    )
    run = services.inventory_sync(account=erp, full=True)

    assert run.status == "succeeded"
    assert SandboxErpLevel.objects.get().on_hand == 10
    assert _awaited()[0] == 1  # the answer is still awaited
    assert (_level().on_hand, _level().sold_unsent) == (10, 5)

    monkeypatch.undo()
    _run_forward(sold, ForwardOperation.CONFIRM)
    services.inventory_sync(account=erp, full=True)
    assert (_level().on_hand, _level().sold_unsent) == (10, 0)


def test_a_confirm_answered_on_a_later_try_is_counted_once(
    apply_path, monkeypatch, django_capture_on_commit_callbacks
):
    """The first call's answer is lost after the ERP booked the sale; its
    webhook comes; the retry (same key) is acknowledged."""
    erp = _erp_at(15)
    sold = _sell(5, django_capture_on_commit_callbacks)
    _run_forward(sold, ForwardOperation.RESERVE)

    def webhook_then_timeout():
        erp_level = SandboxErpLevel.objects.get()
        record = StockLevelRecord("A", "MAIN", erp_level.on_hand, erp_level.modified_at)
        services.stock_levels_apply(account=erp, records=[record], now=timezone.now())
        raise Unknown("read timeout", code="timeout")

    _confirm_then(monkeypatch, webhook_then_timeout)
    forward = ReservationForward.objects.get(operation=ForwardOperation.CONFIRM)
    assert services.hold_forward_run(forward_id=forward.pk) == ForwardStatus.FAILED
    assert (_level().on_hand, _level().sold_unsent) == (10, 5)
    assert _awaited()[0] == 1  # still awaited between tries
    # Retried while the ERP's figure shows the sale: still not applied.
    assert _page(erp, 10, timezone.now()) == 1

    monkeypatch.undo()
    _run_forward(sold, ForwardOperation.CONFIRM)
    assert SandboxErpLevel.objects.get().on_hand == 10
    assert (_level().on_hand, _level().sold_unsent, _awaited()) == (10, 0, (0, None))


def test_a_confirm_given_up_stops_the_wait_and_is_counted_once_sent_again(
    apply_path, monkeypatch, settings, django_capture_on_commit_callbacks
):
    settings.INVENTORY_FORWARD_MAX_ATTEMPTS = 1
    erp = _erp_at(15)
    sold = _sell(5, django_capture_on_commit_callbacks)
    _run_forward(sold, ForwardOperation.RESERVE)

    def refused():
        raise Unknown("bad gateway", code="http_502")

    monkeypatch.setattr(
        sandbox.SandboxInventoryAdapter, "_confirm", lambda self, ref: refused()
    )
    forward = ReservationForward.objects.get(operation=ForwardOperation.CONFIRM)
    assert services.hold_forward_run(forward_id=forward.pk) == ForwardStatus.DEAD
    forward.refresh_from_db()
    assert forward.awaiting_since is None
    # Given up: the units stay off (the ERP may not have them), and the
    # level takes the ERP's figures again.
    assert (_level().sold_unsent, _awaited()) == (5, (0, None))
    assert _page(erp, 16, timezone.now()) == 0
    assert _level().on_hand == 11

    monkeypatch.undo()
    with django_capture_on_commit_callbacks(execute=False):
        services.hold_forwards_retry(reservations=[sold])
    _run_forward(sold, ForwardOperation.CONFIRM)
    assert (_level().on_hand, _level().sold_unsent, _awaited()) == (11, 0, (0, None))
    SandboxErpLevel.objects.update(on_hand=11, modified_at=timezone.now())
    services.inventory_sync(account=erp, full=True)
    assert _level().on_hand == 11


def test_a_worker_lost_on_its_last_try_stops_the_wait_at_the_sweep(
    django_capture_on_commit_callbacks,
):
    erp = _erp_at(15)
    sold = _sell(5, django_capture_on_commit_callbacks)
    _run_forward(sold, ForwardOperation.RESERVE)
    forward = ReservationForward.objects.get(operation=ForwardOperation.CONFIRM)
    now = timezone.now()
    StockLevel.objects.update(confirms_awaited=1, erp_confirm_sent_at=now)
    # Its worker died mid-call; the lease ran out with no attempt left.
    ReservationForward.objects.filter(pk=forward.pk).update(
        status=ForwardStatus.DEAD, awaiting_since=now
    )
    with django_capture_on_commit_callbacks(execute=False):
        services.hold_forwards_sweep()
    forward.refresh_from_db()
    assert forward.awaiting_since is None
    assert (_level().sold_unsent, _awaited()) == (5, (0, None))
    assert _page(erp, 15, timezone.now()) == 0


def test_overlapping_confirms_keep_the_wait_until_the_last_answer(
    apply_path, monkeypatch, django_capture_on_commit_callbacks
):
    erp = _erp_at(15)
    first = _sell(2, django_capture_on_commit_callbacks)
    second = _sell(3, django_capture_on_commit_callbacks)
    _run_forward(first, ForwardOperation.RESERVE)
    _run_forward(second, ForwardOperation.RESERVE)
    seen = {}

    def second_answered_meanwhile():
        monkeypatch.undo()
        seen["first_sent"] = _level().erp_confirm_sent_at
        _run_forward(second, ForwardOperation.CONFIRM)
        seen["between"] = _awaited()
        seen["ignored"] = _page(erp, 12, timezone.now())

    _confirm_then(monkeypatch, second_answered_meanwhile)
    _run_forward(first, ForwardOperation.CONFIRM)
    assert seen["between"] == (1, seen["first_sent"])
    assert seen["ignored"] == 1
    assert SandboxErpLevel.objects.get().on_hand == 10
    assert (_level().on_hand, _level().sold_unsent, _awaited()) == (10, 0, (0, None))


def test_a_level_whose_source_changed_before_the_answer_is_not_kept_unsent(
    apply_path, django_capture_on_commit_callbacks
):
    _erp_at(15)
    sold = _sell(5, django_capture_on_commit_callbacks)
    _run_forward(sold, ForwardOperation.RESERVE)
    other = ProviderAccountFactory(kind="inventory", slug="other-erp")
    StockLevel.objects.update(source=other)  # staff moved the SKU to another ERP
    _run_forward(sold, ForwardOperation.CONFIRM)
    assert (_level().on_hand, _level().sold_unsent) == (10, 0)


def test_a_legacy_confirm_whose_level_changed_source_mid_call_ends_its_wait(
    monkeypatch, django_capture_on_commit_callbacks
):
    """A confirm forward written before migration 0006 (sold_units null): the
    levels its wait opens on are kept with it, so a level whose source
    changes while the call is out is still uncounted when it ends, and
    follows its ERP again."""
    erp = _erp_at(15)
    sold = _sell(5, django_capture_on_commit_callbacks)
    _run_forward(sold, ForwardOperation.RESERVE)
    ReservationForward.objects.filter(operation=ForwardOperation.CONFIRM).update(
        sold_units=None
    )
    other = ProviderAccountFactory(kind="inventory", slug="other-erp")
    _confirm_then(monkeypatch, lambda: StockLevel.objects.update(source=other))
    _run_forward(sold, ForwardOperation.CONFIRM)
    assert _awaited() == (0, None)
    # The level follows its ERP again.
    StockLevel.objects.update(source=erp)
    services.inventory_sync(account=erp, full=True)
    assert _level().on_hand == 10


# An ERP's modification times are kept as sent (docs/inventory.md, "Times in
# the future"): a clock running ahead of ours must not give sold units back.
FAST = timedelta(hours=2)


def test_an_unchanged_figure_read_again_from_a_fast_erp_clock_keeps_the_sale(
    apply_path, django_capture_on_commit_callbacks
):
    netsuite = harness_netsuite.make_account()
    stamped = timezone.now() - timedelta(hours=1) + FAST  # the ERP's clock

    def apply(on_hand, modified_at):
        record = StockLevelRecord("A", "MAIN", on_hand, modified_at)
        services.stock_levels_apply(
            account=netsuite, records=[record], now=timezone.now()
        )
        return _level()

    apply(10, stamped)
    _sell(4, django_capture_on_commit_callbacks)
    assert (_level().on_hand, _level().sold_unseen) == (6, 4)
    # The same, unchanged level (same figure, same stamp): the ERP has not
    # booked the sale, so 6 stay sellable, not 10.
    assert apply(10, stamped).on_hand == 6
    # Its figure moves (a later stamp by its own clock): the sale is booked.
    assert (apply(6, stamped + timedelta(minutes=1)).on_hand, _level().sold_unseen) == (
        6,
        0,
    )


def _netsuite_page(rsps, on_hand, lastmodified):
    rsps.post(
        harness_netsuite.SUITEQL,
        json={
            "items": [
                {
                    "sku": "B",
                    "item": "10",
                    "location": "1",
                    "quantityonhand": str(on_hand),
                    "lastmodified": lastmodified,
                }
            ],
            "hasMore": False,
            "count": 1,
            "offset": 0,
            "totalResults": 1,
            "links": [],
        },
    )


def _sync_netsuite(account, on_hand, stamp) -> int:
    import io

    import responses
    from django.core.management import call_command

    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        _netsuite_page(rsps, on_hand, stamp)
        call_command(
            "sync_inventory", "--account", account.slug, "--full", stdout=io.StringIO()
        )
    return StockLevel.objects.get(sku="B").on_hand


def test_a_netsuite_clock_ahead_of_ours_keeps_the_sale_off_on_the_next_sync(
    django_capture_on_commit_callbacks,
):
    """NetSuite keeps no holds: units sold here stay off its figure until
    its figure moves. An unchanged row read again by the next sync, stamped
    by a clock 2 h ahead, does not give the 4 sold units back."""
    account = harness_netsuite.make_account()
    LocationFactory(code="1")
    stamp = (timezone.now() - timedelta(minutes=30) + FAST).strftime(
        "%Y-%m-%dT%H:%M:%S"
    )
    assert _sync_netsuite(account, 10, stamp) == 10
    with django_capture_on_commit_callbacks(execute=False):
        sold = services.reservation_create(order_id="o1", lines=[LineRequest("B", 4)])
        services.reservation_confirm(reservation=sold)
    assert StockLevel.objects.get(sku="B").on_hand == 6
    assert _sync_netsuite(account, 10, stamp) == 6  # NetSuite has not booked it


@pytest.mark.parametrize(
    "skew",
    [timedelta(0), timedelta(minutes=3), FAST],
    ids=["same_clock", "clock_ahead_within_skew", "fast_clock"],
)
def test_a_late_webhook_from_before_the_erps_ack_is_not_applied_whatever_its_clock(
    skew, django_capture_on_commit_callbacks
):
    """An ERP keeping holds: an event computed before it acknowledged our
    confirm, delivered after, still counts the 10 units sold here; applied,
    they would be sellable again. Its time is the ERP's, kept as sent (the
    sandbox's clock runs ahead by the skew: its confirm answers its time)."""
    from integrations.models import WebhookEvent
    from integrations.webhooks.services import webhook_event_process
    from tests.inventory.test_webhooks import _post

    erp = ProviderAccountFactory(
        kind="inventory",
        slug="erp-hooks",
        settings={"clock_ahead_seconds": int(skew.total_seconds())},
    )
    SandboxErpLevel.objects.create(
        account=erp,
        sku="A",
        location_code="MAIN",
        on_hand=10,
        modified_at=timezone.now() - timedelta(hours=1) + skew,
    )
    services.inventory_sync(account=erp, full=True)
    sold = _sell(10, django_capture_on_commit_callbacks)
    computed = timezone.now() + skew  # the ERP's figure, before its ack
    _run_forward(sold, ForwardOperation.RESERVE)
    _run_forward(sold, ForwardOperation.CONFIRM)
    assert (_level().on_hand, _level().sold_unsent) == (0, 0)

    response = _post([StockLevelRecord("A", "MAIN", 10, computed)])
    assert response.status_code < 300, response.content
    webhook_event_process(event_id=WebhookEvent.objects.order_by("-pk").first().pk)
    assert _level().on_hand == 0


def test_a_webhook_stamped_ahead_of_our_clock_waits_a_bounded_window_after_the_ack():
    """Its place before or after the acknowledgement cannot be told from a
    clock running ahead: not applied within ACK_CLOCK_WINDOW of it, applied
    after (a sync page asked after the ack is applied meanwhile)."""
    from inventory.services.sold import ACK_CLOCK_WINDOW, figure_stale

    acked = timezone.now()
    ahead = StockLevelRecord("A", "MAIN", 10, acked + FAST)
    assert figure_stale(ahead, None, acked, None, now=acked + timedelta(minutes=1))
    later = acked + ACK_CLOCK_WINDOW + timedelta(seconds=1)
    assert not figure_stale(ahead, None, acked, None, now=later)
    # A sync page asked after the ack: current after it, by our clock.
    page = acked + timedelta(seconds=1)
    assert not figure_stale(ahead, page, acked, None, now=page)
    # Same clock, stamped after the ack by more than the tolerated skew.
    after = StockLevelRecord("A", "MAIN", 10, acked + timedelta(minutes=6))
    assert not figure_stale(after, None, acked, None, now=acked + timedelta(minutes=6))


def test_a_webhook_that_arrived_before_the_erps_ack_is_not_applied_when_processed_late(
    django_capture_on_commit_callbacks,
):
    """Our queue held the event: processed two hours after the ERP's
    acknowledgement, from a clock as far ahead, its time looks later than
    the acknowledgement; it arrived before it, so it cannot show it."""
    from integrations.models import WebhookEvent
    from integrations.webhooks.services import webhook_event_process
    from tests.inventory.test_webhooks import _post

    erp = ProviderAccountFactory(kind="inventory", slug="erp-hooks")
    SandboxErpLevel.objects.create(
        account=erp,
        sku="A",
        location_code="MAIN",
        on_hand=10,
        modified_at=timezone.now() - timedelta(hours=3),
    )
    services.inventory_sync(account=erp, full=True)
    sold = _sell(10, django_capture_on_commit_callbacks)
    _run_forward(sold, ForwardOperation.RESERVE)
    _run_forward(sold, ForwardOperation.CONFIRM)
    acked = timezone.now() - FAST  # the acknowledgement, two hours ago
    StockLevel.objects.filter(sku="A").update(erp_acked_at=acked)
    computed = acked - timedelta(minutes=2) + FAST  # the ERP's clock, before it
    response = _post([StockLevelRecord("A", "MAIN", 10, computed)])
    assert response.status_code < 300, response.content
    event = WebhookEvent.objects.order_by("-pk").first()
    WebhookEvent.objects.filter(pk=event.pk).update(
        received_at=acked - timedelta(minutes=1)
    )
    webhook_event_process(event_id=event.pk)
    assert _level().on_hand == 0


# The generic HTTP stock service's confirm answer may carry its own time of
# the confirm (``confirmed_at``): ERP time is then compared with ERP time.


def _stock_service_sale(capture, rsps, confirmed_at):
    """An HTTP stock service account, its 10 units sold here and the confirm
    acknowledged with ``confirmed_at`` (None: an answer without it)."""
    from tests.inventory.contract import harness_http_stock as hs

    erp = hs.make_account()
    StockLevel.objects.create(
        sku="A", location=LocationFactory(code="EAST"), on_hand=10, source=erp
    )
    sold = _sell(10, capture)
    reserve_url = f"{hs.BASE}/reservations"
    rsps.post(reserve_url, status=201, json=hs.load("reservation.json"))
    answer = hs.load("reservation_confirmed.json")
    if confirmed_at is not None:
        answer["confirmed_at"] = confirmed_at.isoformat()
    rsps.post(f"{reserve_url}/{sold.public_id}/confirm", json=answer)
    _run_forward(sold, ForwardOperation.RESERVE)
    _run_forward(sold, ForwardOperation.CONFIRM)
    assert (_level().on_hand, _level().sold_unsent) == (0, 0)
    return erp


def _stock_service_event(erp, on_hand, modified_at) -> None:
    """An ``inventory.updated`` the service signs and posts, processed."""
    import json
    import time
    import uuid

    from django.test import Client

    from integrations.models import WebhookEvent
    from integrations.webhooks.services import webhook_event_process
    from integrations.webhooks.verification import signed_headers
    from tests.contract.sandbox import SECRET

    level = {"sku": "A", "location": "EAST", "on_hand": on_hand}
    payload = {
        "type": "inventory.updated",
        "timestamp": modified_at.isoformat(),
        "data": {"levels": [{**level, "modified_at": modified_at.isoformat()}]},
    }
    body = json.dumps(payload).encode()
    headers = signed_headers(
        secret=SECRET,
        webhook_id=f"msg_{uuid.uuid4().hex}",
        body=body,
        timestamp=int(time.time()),
    )
    wsgi = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items()}
    response = Client().post(
        f"/webhooks/{erp.slug}/", data=body, content_type="application/json", **wsgi
    )
    assert response.status_code < 300, response.content
    webhook_event_process(event_id=WebhookEvent.objects.order_by("-pk").first().pk)


@pytest.fixture
def rsps():
    import responses

    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def test_a_fast_clock_event_from_before_the_ack_arriving_hours_later_is_not_applied(
    django_capture_on_commit_callbacks, rsps
):
    """The service's clock runs 2 h ahead and it acknowledged our confirm 2 h
    ago (our clock), at its own time T. An event it computed a minute before
    T, delivered now, still counts the 10 units sold here: by its own clock
    it is older than the acknowledgement (the hour's window no longer says)."""
    acked = timezone.now() - FAST  # our clock
    acked_erp_time = acked + FAST  # the service's clock, 2 h ahead
    _stock_service_sale(django_capture_on_commit_callbacks, rsps, acked_erp_time)
    StockLevel.objects.update(erp_acked_at=acked)

    _stock_service_event(
        StockLevel.objects.get().source, 10, acked_erp_time - timedelta(minutes=1)
    )

    assert _level().on_hand == 0


def test_a_fast_clock_event_after_the_ack_is_applied_at_once(
    django_capture_on_commit_callbacks, rsps
):
    """A webhook-only account, clock 2 h ahead: a goods receipt of 7 the
    service made after its acknowledgement (by its clock) is applied as it
    arrives, not an hour later."""
    acked_erp_time = timezone.now() + FAST
    erp = _stock_service_sale(django_capture_on_commit_callbacks, rsps, acked_erp_time)

    _stock_service_event(erp, 7, acked_erp_time + timedelta(seconds=1))

    assert _level().on_hand == 7


@pytest.mark.parametrize(
    "confirmed_at",
    [None, timezone.now() + timedelta(days=400 * 365)],
    ids=["no_time", "four_centuries_ahead"],
)
def test_an_ack_without_a_credible_erp_time_keeps_the_bounded_window(
    django_capture_on_commit_callbacks, rsps, confirmed_at
):
    """An answer with no time (the service predates ``confirmed_at``), or one
    no clock error explains, is not trusted: an event stamped ahead of its
    arrival waits ``ACK_CLOCK_WINDOW`` after the acknowledgement."""
    erp = _stock_service_sale(django_capture_on_commit_callbacks, rsps, confirmed_at)
    assert _level().erp_acked_modified_at is None

    _stock_service_event(erp, 7, timezone.now() + FAST)

    assert _level().on_hand == 0


def test_a_sandbox_event_stamped_just_after_its_ack_is_applied(
    django_capture_on_commit_callbacks,
):
    """The sandbox answers its confirm's time: a change it stamped a second
    later shows the sale, so it is applied at once (not after CLOCK_SKEW)."""
    from tests.inventory.test_webhooks import _post

    erp = ProviderAccountFactory(kind="inventory", slug="erp-hooks")
    SandboxErpLevel.objects.create(
        account=erp,
        sku="A",
        location_code="MAIN",
        on_hand=10,
        modified_at=timezone.now() - timedelta(hours=1),
    )
    services.inventory_sync(account=erp, full=True)
    sold = _sell(10, django_capture_on_commit_callbacks)
    _run_forward(sold, ForwardOperation.RESERVE)
    _run_forward(sold, ForwardOperation.CONFIRM)
    confirmed = SandboxErpLevel.objects.get().modified_at
    assert _level().erp_acked_modified_at == confirmed

    from integrations.models import WebhookEvent
    from integrations.webhooks.services import webhook_event_process

    response = _post(
        [StockLevelRecord("A", "MAIN", 7, confirmed + timedelta(seconds=1))]
    )
    assert response.status_code < 300, response.content
    webhook_event_process(event_id=WebhookEvent.objects.order_by("-pk").first().pk)
    assert _level().on_hand == 7


def test_an_epoch_confirmed_at_does_not_let_a_stale_event_undo_the_sale(
    django_capture_on_commit_callbacks, rsps
):
    """An answer whose confirmed_at is an unset default (the Unix epoch) is
    no time: trusted, every later figure would be 'modified after the
    acknowledgement'. One the service computed a minute before it took the
    10 units off (its clock right), delivered now, is not applied."""
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    erp = _stock_service_sale(django_capture_on_commit_callbacks, rsps, epoch)
    assert _level().erp_acked_modified_at is None

    _stock_service_event(erp, 10, timezone.now() - timedelta(minutes=1))

    assert _level().on_hand == 0
