"""A label settled by the carrier's webhook while the buy or reconciliation
is still talking to the carrier: recorded once, never moved backwards; a
look-up that may lag; a double submit; a disabled account's quote."""

import contextlib
import threading
from datetime import timedelta

import pytest
from django.utils import timezone

from integrations.errors import Unknown
from integrations.events import Event
from shipping import services
from shipping.models import Shipment, ShipmentStatus
from shipping.providers.base import LabelUpdate
from shipping.providers.sandbox import SandboxShippingAdapter
from tests.shipping.helpers import carrier
from tests.shipping.test_labels import _quote

pytestmark = pytest.mark.django_db


def _webhook_settles(label, reference):
    """What shipping.webhooks does for Shippo's transaction_created /
    transaction_updated SUCCESS naming our reference (metadata)."""
    shipment = Shipment.objects.get(public_id=reference)
    update = LabelUpdate(label.carrier_shipment_id, reference=reference, label=label)
    return services.shipment_label_update_apply(shipment=shipment, update=update)


def test_label_webhook_before_the_buy_answer_emits_label_created_once(monkeypatch):
    original = SandboxShippingAdapter.carrier_create_label

    def create(self, request):
        label = original(self, request)
        # The carrier's label webhook is processed before its HTTP answer
        # reaches us (the webhook handler finds the shipment by reference).
        assert _webhook_settles(label, request.reference)
        return label

    monkeypatch.setattr(SandboxShippingAdapter, "carrier_create_label", create)
    quote = _quote(carrier("post"))
    shipment = services.shipment_buy(quote_id=quote.public_id, idempotency_key="k")

    assert shipment.status == ShipmentStatus.PURCHASED
    assert Event.objects.filter(name="shipment.label_created").count() == 1


def test_a_lost_answer_after_the_webhook_settled_it_does_not_undo_purchased(
    monkeypatch,
):
    original = SandboxShippingAdapter.carrier_create_label

    def create(self, request):
        label = original(self, request)
        assert _webhook_settles(label, request.reference)
        raise Unknown("read timed out", code="read_timeout")

    monkeypatch.setattr(SandboxShippingAdapter, "carrier_create_label", create)
    quote = _quote(carrier("post"))
    shipment = services.shipment_buy(quote_id=quote.public_id, idempotency_key="k")
    stored = Shipment.objects.get(pk=shipment.pk)

    assert stored.status == ShipmentStatus.PURCHASED
    assert stored.failure_code == ""
    services.shipment_reconcile(shipment=stored)
    assert Event.objects.filter(name="shipment.label_created").count() == 1


def test_reconciliation_finding_nothing_does_not_fail_a_label_the_webhook_recorded(
    monkeypatch,
):
    quote = _quote(carrier("post"), service="SBX_GROUND")
    monkeypatch.setattr(
        SandboxShippingAdapter,
        "carrier_create_label",
        lambda self, request: (_ for _ in ()).throw(
            Unknown("read timed out", code="read_timeout")
        ),
    )
    shipment = services.shipment_buy(quote_id=quote.public_id, idempotency_key="k")
    assert shipment.status == ShipmentStatus.UNKNOWN
    monkeypatch.undo()
    # The label the carrier made (it is made under the same key).
    adapter_label = SandboxShippingAdapter(shipment.account).create_label(
        _label_request(shipment)
    )

    def retrieve(self, lookup):
        # Shippo's recent-transactions list does not show it yet; meanwhile
        # its transaction_updated webhook records the label.
        assert _webhook_settles(adapter_label, shipment.public_id)
        return None

    monkeypatch.setattr(SandboxShippingAdapter, "carrier_retrieve_label", retrieve)
    services.shipment_reconcile(shipment=shipment)

    assert Shipment.objects.get(pk=shipment.pk).status == ShipmentStatus.PURCHASED


def test_a_label_the_carrier_reports_after_a_not_found_is_not_ignored(monkeypatch):
    """Reconciliation's 'none found' came before the carrier finished (a
    look-up by listing, as Shippo's ``_find_transaction``); the carrier's own
    SUCCESS webhook then names our shipment. The label exists and is billed:
    the shipment must not stay 'failed' (the shop would buy a second one)."""
    quote = _quote(carrier("post"))
    monkeypatch.setattr(
        SandboxShippingAdapter,
        "carrier_create_label",
        lambda self, request: (_ for _ in ()).throw(
            Unknown("read timed out", code="read_timeout")
        ),
    )
    shipment = services.shipment_buy(quote_id=quote.public_id, idempotency_key="k")
    monkeypatch.setattr(
        SandboxShippingAdapter, "carrier_retrieve_label", lambda self, lookup: None
    )
    services.shipment_reconcile(shipment=shipment)
    assert Shipment.objects.get(pk=shipment.pk).status == ShipmentStatus.FAILED
    monkeypatch.undo()

    label = SandboxShippingAdapter(shipment.account).create_label(
        _label_request(shipment)
    )
    changed = _webhook_settles(label, shipment.public_id)

    stored = Shipment.objects.get(pk=shipment.pk)
    assert changed
    assert stored.status == ShipmentStatus.PURCHASED


def _label_request(shipment):
    from shipping import codec
    from shipping.providers.base import LabelRequest

    request = codec.request_from_json(shipment.quote.request)
    return LabelRequest(
        from_address=request.from_address,
        to_address=request.to_address,
        parcels=request.parcels,
        service_code=shipment.service_code,
        idempotency_key=shipment.idempotency_key,
        reference=shipment.public_id,
    )


def _unknown_shippo_like(monkeypatch, lag: int):
    """A buy whose answer was lost, at a carrier whose look-up lists recent
    labels (as Shippo's does) and misses this one."""
    quote = _quote(carrier("post"))
    monkeypatch.setattr(
        SandboxShippingAdapter,
        "carrier_create_label",
        lambda self, request: (_ for _ in ()).throw(
            Unknown("read timed out", code="read_timeout")
        ),
    )
    shipment = services.shipment_buy(quote_id=quote.public_id, idempotency_key="k")
    monkeypatch.setattr(SandboxShippingAdapter, "lookup_lag_seconds", lag)
    monkeypatch.setattr(
        SandboxShippingAdapter, "carrier_retrieve_label", lambda self, lookup: None
    )
    return shipment


def test_a_miss_by_a_lagging_look_up_leaves_the_label_unknown_and_asks_again(
    monkeypatch, django_capture_on_commit_callbacks
):
    shipment = _unknown_shippo_like(monkeypatch, lag=3600)

    with django_capture_on_commit_callbacks() as scheduled:
        services.shipment_reconcile(shipment=shipment)

    stored = Shipment.objects.get(pk=shipment.pk)
    assert stored.status == ShipmentStatus.UNKNOWN
    assert len(scheduled) == 1  # asked again later


def test_a_miss_after_the_lag_fails_the_label_with_its_own_reason(monkeypatch):
    shipment = _unknown_shippo_like(monkeypatch, lag=3600)
    Shipment.objects.filter(pk=shipment.pk).update(
        created_at=timezone.now() - timedelta(hours=2)
    )
    shipment.refresh_from_db()

    services.shipment_reconcile(shipment=shipment)

    stored = Shipment.objects.get(pk=shipment.pk)
    assert stored.status == ShipmentStatus.FAILED
    assert stored.failure_code == "not_found_at_carrier"  # not the buy's timeout


def test_a_quote_of_a_disabled_account_is_not_bought():
    account = carrier("post")
    quote = _quote(account)
    account.enabled = False
    account.save(update_fields=["enabled"])

    with pytest.raises(services.QuoteExpired) as caught:
        services.shipment_buy(quote_id=quote.public_id, idempotency_key="k")

    assert caught.value.code == "account_disabled"
    assert not Shipment.objects.exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_double_submit_buys_one_label_and_answers_both(monkeypatch):
    from django.db import connection

    quote = _quote(carrier("post"))
    from shipping.services import labels

    original = labels._shipment_create
    barrier = threading.Barrier(2)

    def both_create(*args, **kwargs):
        with contextlib.suppress(threading.BrokenBarrierError):
            barrier.wait(timeout=5)  # both past the look-up for the key
        return original(*args, **kwargs)

    monkeypatch.setattr(labels, "_shipment_create", both_create)
    answers, errors = [], []

    def buy() -> None:
        try:
            answers.append(
                services.shipment_buy(quote_id=quote.public_id, idempotency_key="dbl")
            )
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=buy) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert errors == []
    assert len({a.pk for a in answers}) == 1
    assert Shipment.objects.count() == 1
    assert Event.objects.filter(name="shipment.label_created").count() == 1


def test_a_key_reused_for_another_quote_is_refused_not_answered_with_the_first():
    account = carrier("post")
    first = _quote(account)
    bought = services.shipment_buy(quote_id=first.public_id, idempotency_key="re")
    other = _quote(account, service="SBX_EXPRESS")

    again = services.shipment_buy(quote_id=first.public_id, idempotency_key="re")
    with pytest.raises(services.ShippingError) as caught:
        services.shipment_buy(quote_id=other.public_id, idempotency_key="re")

    assert again.pk == bought.pk
    assert (caught.value.code, caught.value.status_code) == (
        "idempotency_key_reused",
        422,
    )


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_keys_buying_one_quote_at_once_buy_one_label_and_refuse_the_other(
    monkeypatch,
):
    from django.db import connection

    from shipping.models import SandboxLabel
    from shipping.services import labels

    quote = _quote(carrier("post"))
    original = labels._shipment_create
    barrier = threading.Barrier(2)

    def both_create(*args, **kwargs):
        with contextlib.suppress(threading.BrokenBarrierError):
            barrier.wait(timeout=5)  # both past the quote's check
        return original(*args, **kwargs)

    monkeypatch.setattr(labels, "_shipment_create", both_create)
    answers, errors = [], []

    def buy(key: str) -> None:
        try:
            answers.append(
                services.shipment_buy(quote_id=quote.public_id, idempotency_key=key)
            )
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=buy, args=(k,)) for k in ("k-a", "k-b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert len(answers) == 1 and answers[0].status == "purchased"
    assert [(e.code, e.status_code) for e in errors] in (
        [("quote_bought", 409)],
        [("label_in_progress", 409)],
    )
    assert answers[0].public_id in errors[0].message
    assert Shipment.objects.count() == 1
    assert SandboxLabel.objects.count() == 1
