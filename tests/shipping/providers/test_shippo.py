"""The Shippo adapter against ``responses`` fixtures built from the examples
in Shippo's OpenAPI file (tests/fixtures/shippo/README.md): what is sent,
the asynchronous transaction states, reconciliation, and the track_updated
and transaction_updated webhooks through the real intake with the secret
token in the URL."""

import json
import logging
from dataclasses import replace
from datetime import timedelta

import pytest
import requests
import responses
from django.test import Client
from django.utils import timezone
from responses import matchers

from integrations.errors import Rejected, Unknown
from integrations.models import Event, ProviderCall, WebhookEvent
from integrations.webhooks.services import webhook_event_process
from shipping import codec, services
from shipping.models import RateQuote, Shipment, ShipmentParcel, ShipmentStatus
from shipping.providers.base import (
    InvalidShippingRequest,
    LabelFormat,
    LabelLookup,
    LabelStatus,
    LabelUpdate,
    VoidRequest,
)
from shipping.providers.shippo import ShippoAdapter
from shipping.providers.tracking_types import TrackingStatus, TrackRequest
from shipping.selectors import parcel_label, shipment_label
from shipping.services.errors import InvalidState
from shipping.webhooks import tracking_webhook_handle
from tests.factories import ProviderAccountFactory
from tests.shipping.contract import requests as shared
from tests.shipping.providers.wire import FIXTURES, body_of, load, sent, unknown_fields

pytestmark = pytest.mark.django_db

BASE = "https://api.goshippo.com"
TOKEN = "shippo_test_3a47d23c032ca626fce863c48d0f93d63a394396"
HOOK_TOKEN = "whk-0a1b2c3d4e5f60718293a4b5c6d7e8f9"
RATE_ID = "ec9f0d3adc9441449c85d315f0997fd5"
TRANSACTION = "915d94940ea54c3a80cbfa328722f5a1"
TX_URL = f"{BASE}/transactions/{TRANSACTION}"
LABEL_URL = f"https://deliver.goshippo.com/{TRANSACTION}.pdf"
NUMBER = "9205590164917312751089"
PDF = (FIXTURES / "shippo" / "label.pdf").read_bytes()


def fx(name: str) -> dict:
    return load("shippo", name)


@pytest.fixture
def account():
    return ProviderAccountFactory(
        kind="shipping",
        provider="shippo",
        slug="shippo-main",
        settings={"max_attempts": 1, "breaker_consecutive_failures": 50},
        credentials={"api_token": TOKEN, "webhook_token": HOOK_TOKEN},
    )


@pytest.fixture
def adapter(account) -> ShippoAdapter:
    return ShippoAdapter(account)


@pytest.fixture
def mocked():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield rsps


def label_request(**changes):
    return shared.label_request("usps_priority", carrier_rate_id=RATE_ID, **changes)


def listed_by_rate(mocked, *transactions) -> None:
    """``GET /transactions?rate=``: the transactions one rate bought (a
    multi-piece shipment's labels, one per parcel)."""
    query = {"rate": RATE_ID, "results": "100", "page": "1"}
    page = {**fx("transactions_list.json"), "results": list(transactions)}
    mocked.get(
        f"{BASE}/transactions", json=page, match=[matchers.query_param_matcher(query)]
    )


def recent_transactions(mocked, page: dict) -> None:
    """``GET /transactions``: the account's recent ones, searched by metadata."""
    query = {"results": "100"}
    mocked.get(
        f"{BASE}/transactions", json=page, match=[matchers.query_param_matcher(query)]
    )


# --- Rates ------------------------------------------------------------------------


def test_rates_from_every_carrier_behind_the_account(adapter, mocked):
    mocked.post(f"{BASE}/shipments", status=201, json=fx("shipment_rates.json"))

    rates = adapter.rates(shared.international_rate_request())

    assert [(r.carrier, r.service_code, r.amount) for r in rates] == [
        ("USPS", "usps_priority", 790),
        ("USPS", "usps_ground_advantage", 543),
        ("UPS", "ups_ground", 1127),
    ]
    assert rates[0].carrier_rate_id == RATE_ID
    assert rates[0].service_name == "USPS Priority Mail"
    assert rates[0].transit_days == 2
    (call,) = sent(mocked, "POST", f"{BASE}/shipments")
    assert call.headers["Authorization"] == f"ShippoToken {TOKEN}"
    assert call.headers["SHIPPO-API-VERSION"] == "2018-02-08"
    body = body_of(call)
    assert unknown_fields(body, fx("spec_shipment_request.json")) == []
    assert body["async"] is False
    assert body["parcels"] == [
        {
            "weight": "2.5",
            "mass_unit": "lb",
            "distance_unit": "in",
            "length": "12",
            "width": "9",
            "height": "4",
        }
    ]
    (item,) = body["customs_declaration"]["items"]
    assert (item["value_amount"], item["net_weight"]) == ("30.00", "0.6")


def test_a_bad_token_is_not_processed_and_never_logged(adapter, mocked):
    mocked.post(f"{BASE}/shipments", status=401, json=fx("error_unauthorized.json"))

    with pytest.raises(Exception) as caught:
        adapter.rates(shared.rate_request())

    assert caught.value.code == "authentication_failed"
    assert TOKEN not in repr(ProviderCall.objects.get().__dict__)


def test_field_errors_are_rejected_naming_the_field(adapter, mocked):
    mocked.post(f"{BASE}/shipments", status=400, json=fx("error_validation.json"))

    with pytest.raises(Rejected) as caught:
        adapter.rates(shared.rate_request())

    assert caught.value.message == "address_to.zip: This field is required."


# --- Labels: QUEUED -> SUCCESS / ERROR ------------------------------------------


def test_a_label_made_at_once_is_downloaded_without_our_token(adapter, mocked):
    mocked.post(f"{BASE}/transactions", status=201, json=fx("transaction_success.json"))
    mocked.get(LABEL_URL, body=PDF)

    label = adapter.create_label(label_request())

    assert label.status is LabelStatus.CREATED
    assert (label.carrier_shipment_id, label.tracking_number) == (TRANSACTION, NUMBER)
    assert label.label_data == PDF
    assert (label.amount, label.currency) == (790, "USD")
    body = body_of(sent(mocked, "POST", f"{BASE}/transactions")[0])
    assert body == {
        "rate": RATE_ID,
        "label_file_type": "PDF_4x6",
        "async": False,
        "metadata": "shp_contract",
    }
    (download,) = sent(mocked, "GET", LABEL_URL)
    assert "Authorization" not in download.headers
    assert not sent(mocked, "GET", f"{BASE}/transactions")  # one parcel, one label


def test_a_bought_label_whose_file_cannot_be_fetched_is_unknown_not_failed(
    adapter, mocked
):
    mocked.post(f"{BASE}/transactions", status=201, json=fx("transaction_success.json"))
    mocked.get(LABEL_URL, status=403, body=b"<Error>AccessDenied</Error>")

    with pytest.raises(Unknown) as caught:
        adapter.create_label(label_request())

    # Bought at Shippo: reconciliation fetches it; the shop must not rebuy.
    assert caught.value.code == "label_fetch_failed"


@pytest.mark.parametrize("billed", ["100000000000000000.00", "-7.90", "7.905"])
def test_a_bought_labels_unusable_billed_amount_is_unknown_the_label_kept(
    account, mocked, billed
):
    # The label is bought at Shippo: an absurd bill must not fail (or, out of
    # range, crash saving) the purchase; the shipment keeps the quote's price.
    answer = fx("transaction_success.json")
    answer["rate"]["amount"] = billed
    mocked.post(f"{BASE}/transactions", status=201, json=answer)
    mocked.get(LABEL_URL, body=PDF)
    quote = RateQuote.objects.create(
        fingerprint="s" * 64,
        account=account,
        carrier="USPS",
        service_code="usps_priority",
        service_name="USPS Priority Mail",
        carrier_rate_id=RATE_ID,
        amount=790,
        currency="USD",
        request=codec.request_to_json(shared.rate_request()),
        expires_at=timezone.now() + timedelta(minutes=10),
    )

    label = ShippoAdapter(account).create_label(label_request())
    shipment = services.shipment_buy(quote_id=quote.public_id, idempotency_key="b-1")

    assert (label.tracking_number, label.amount) == (NUMBER, None)
    assert shipment.status == ShipmentStatus.PURCHASED, shipment.failure_message
    assert (shipment.tracking_number, shipment.amount) == (NUMBER, 790)


def test_a_queued_label_is_pending_then_polled_to_success(adapter, mocked):
    mocked.post(f"{BASE}/transactions", status=201, json=fx("transaction_queued.json"))
    mocked.get(TX_URL, json=fx("transaction_queued.json"))
    mocked.get(TX_URL, json=fx("transaction_success.json"))
    mocked.get(LABEL_URL, body=PDF)

    pending = adapter.create_label(label_request(label_format=LabelFormat.PDF))
    lookup = LabelLookup(
        idempotency_key="k",
        reference="shp_contract",
        carrier_shipment_id=pending.carrier_shipment_id,
    )
    still = adapter.retrieve_label(lookup)
    done = adapter.retrieve_label(lookup)

    assert pending.status is LabelStatus.PENDING
    assert pending.carrier_shipment_id == TRANSACTION
    assert still.status is LabelStatus.PENDING
    assert done.status is LabelStatus.CREATED and done.label_data == PDF
    assert done.parcel_labels == ()
    assert not sent(mocked, "GET", LABEL_URL)[1:]
    assert not sent(mocked, "GET", f"{BASE}/transactions")  # a poll lists nothing


def test_a_transaction_that_ends_in_error(adapter, mocked):
    mocked.get(TX_URL, json=fx("transaction_error.json"))
    mocked.post(f"{BASE}/transactions", status=201, json=fx("transaction_error.json"))

    lookup = LabelLookup(
        idempotency_key="k", reference="shp_contract", carrier_shipment_id=TRANSACTION
    )
    assert adapter.retrieve_label(lookup) is None
    with pytest.raises(Rejected) as caught:
        adapter.create_label(label_request())
    assert caught.value.code == "label_failed"
    assert "did not respond" in caught.value.message


def test_a_lost_answer_is_found_by_our_reference(adapter, mocked):
    recent_transactions(mocked, fx("transactions_list.json"))
    mocked.get(LABEL_URL, body=PDF)

    found = adapter.retrieve_label(
        LabelLookup(idempotency_key="k", reference="shp_contract")
    )
    missing = adapter.retrieve_label(
        LabelLookup(idempotency_key="k", reference="shp_never_bought")
    )

    assert found.carrier_shipment_id == TRANSACTION
    assert found.parcel_labels == ()  # the rate bought this one label
    assert missing is None


def test_a_lookup_beyond_one_page_stays_unknown(adapter, mocked):
    page = {**fx("transactions_list.json"), "next": f"{BASE}/transactions?page=2"}
    recent_transactions(mocked, page)

    with pytest.raises(Unknown) as caught:
        adapter.retrieve_label(LabelLookup(idempotency_key="k", reference="shp_old"))

    assert caught.value.code == "lookup_incomplete"


SECOND = "4f6a1c1e0b7d4e2f9a3c5b7d9e1f2a3b"
SECOND_NUMBER = "9205590164917312751096"
SECOND_URL = f"https://deliver.goshippo.com/{SECOND}.pdf"


def second_parcel() -> dict:
    """The other transaction of a two-parcel purchase: same rate, own label."""
    return {
        **fx("transaction_success.json"),
        "object_id": SECOND,
        "tracking_number": SECOND_NUMBER,
        "label_url": SECOND_URL,
    }


def test_a_multi_piece_purchase_keeps_every_parcels_label(adapter, mocked):
    mocked.post(f"{BASE}/transactions", status=201, json=fx("transaction_success.json"))
    # Shippo lists the rate's labels newest first; the one it answered leads.
    listed_by_rate(mocked, second_parcel(), fx("transaction_success.json"))
    mocked.get(LABEL_URL, body=PDF)
    mocked.get(SECOND_URL, body=PDF + b"%second")
    parcels = (shared.PARCEL, replace(shared.PARCEL, weight=shared.PARCEL.weight * 2))

    label = adapter.create_label(label_request(parcels=parcels))

    assert label.carrier_shipment_id == TRANSACTION
    assert label.parcel_tracking_numbers == (NUMBER, SECOND_NUMBER)
    assert [p.label_data for p in label.parcel_labels] == [PDF, PDF + b"%second"]
    (listing,) = sent(mocked, "GET", f"{BASE}/transactions")
    assert listing.params == {"rate": RATE_ID, "results": "100", "page": "1"}
    assert len(sent(mocked, "GET", LABEL_URL)) == 1  # the first file, once


def test_fewer_labels_than_parcels_keeps_those_made_and_says_so(
    adapter, mocked, caplog
):
    mocked.post(f"{BASE}/transactions", status=201, json=fx("transaction_success.json"))
    listed_by_rate(mocked, fx("transaction_success.json"), second_parcel())
    mocked.get(LABEL_URL, body=PDF)
    mocked.get(SECOND_URL, body=PDF)
    parcels = (shared.PARCEL,) * 3

    with caplog.at_level(logging.WARNING, logger="shipping.providers.shippo_parcels"):
        label = adapter.create_label(label_request(parcels=parcels))

    assert label.parcel_tracking_numbers == (NUMBER, SECOND_NUMBER)
    assert "fewer parcel labels than parcels" in caplog.text


def test_three_parcels_keep_the_order_shippo_made_them_in(adapter, mocked):
    first = {**fx("transaction_success.json"), "object_created": "2024-07-24T10:00:01Z"}
    second = {**second_parcel(), "object_created": "2024-07-24T10:00:02Z"}
    third = {
        **second_parcel(),
        "object_id": "c" * 32,
        "tracking_number": "9205590164917312751102",
        "label_url": "https://deliver.goshippo.com/third.pdf",
        "object_created": "2024-07-24T10:00:03Z",
    }
    mocked.post(f"{BASE}/transactions", status=201, json=first)
    listed_by_rate(mocked, third, second, first)  # Shippo lists newest first
    for url in (LABEL_URL, SECOND_URL, third["label_url"]):
        mocked.get(url, body=PDF)

    label = adapter.create_label(label_request(parcels=(shared.PARCEL,) * 3))

    assert label.parcel_tracking_numbers == (
        NUMBER,
        SECOND_NUMBER,
        "9205590164917312751102",
    )


@pytest.mark.parametrize("status", [400, 429])
def test_a_bought_multi_piece_label_whose_list_fails_is_unknown(
    adapter, mocked, status
):
    mocked.post(f"{BASE}/transactions", status=201, json=fx("transaction_success.json"))
    mocked.get(LABEL_URL, body=PDF)
    mocked.get(f"{BASE}/transactions", status=status, json={"detail": "no"})

    with pytest.raises(Unknown) as caught:
        adapter.create_label(label_request(parcels=(shared.PARCEL,) * 2))

    assert caught.value.code == "label_fetch_failed"


def test_buying_without_a_quoted_rate_is_refused_before_any_call(adapter, mocked):
    with pytest.raises(InvalidShippingRequest) as caught:
        adapter.create_label(shared.label_request("usps_priority"))
    assert caught.value.param == "carrier_rate_id"
    assert not mocked.calls


@pytest.mark.parametrize(
    ("fixture", "voided"), [("refund_queued.json", True), ("refund_error.json", False)]
)
def test_void_is_a_refund(adapter, mocked, fixture, voided):
    mocked.post(f"{BASE}/refunds", status=201, json=fx(fixture))
    transaction_says(mocked, TRANSACTION, "SUCCESS")  # read after a refusal

    result = adapter.void_label(
        VoidRequest(
            carrier_shipment_id=TRANSACTION,
            tracking_number=NUMBER,
            idempotency_key="void-1",
        )
    )

    assert result.voided is voided
    body = body_of(sent(mocked, "POST", f"{BASE}/refunds")[0])
    assert body == {"transaction": TRANSACTION, "async": False}


THIRD = "c" * 32


def transaction_says(mocked, transaction: str, status: str) -> None:
    mocked.get(
        f"{BASE}/transactions/{transaction}",
        json={
            **fx("transaction_success.json"),
            "object_id": transaction,
            "status": status,
        },
    )


def _void(adapter, *others):
    return adapter.void_label(
        VoidRequest(
            carrier_shipment_id=TRANSACTION,
            tracking_number=NUMBER,
            idempotency_key="void-1",
            parcel_references=others,
        )
    )


def _refunded_transactions(mocked) -> list[str]:
    return [
        body_of(call)["transaction"] for call in sent(mocked, "POST", f"{BASE}/refunds")
    ]


def test_a_multi_piece_void_refunds_every_parcels_label_the_shipments_last(
    adapter, mocked
):
    # Shippo refunds one label per request; each parcel is a transaction.
    mocked.post(f"{BASE}/refunds", status=201, json=fx("refund_queued.json"))

    result = _void(adapter, SECOND, THIRD)

    assert result.voided is True
    assert _refunded_transactions(mocked) == [SECOND, THIRD, TRANSACTION]


def test_a_refused_parcel_refund_keeps_the_shipments_own_label(adapter, mocked):
    mocked.post(
        f"{BASE}/refunds",
        status=201,
        json=fx("refund_queued.json"),
        match=[matchers.json_params_matcher({"transaction": SECOND, "async": False})],
    )
    mocked.post(f"{BASE}/refunds", status=201, json=fx("refund_error.json"))
    transaction_says(mocked, THIRD, "SUCCESS")

    result = _void(adapter, SECOND, THIRD)

    assert result.voided is False
    assert result.detail == (
        f"1 of 2 other parcel labels refunded; parcel label {THIRD}: refund error"
    )
    assert result.voided_parcels == (SECOND,)
    assert _refunded_transactions(mocked) == [SECOND, THIRD]  # never the shipment's


def test_a_refused_refund_of_the_shipments_own_label_says_what_was_refunded(
    adapter, mocked
):
    mocked.post(
        f"{BASE}/refunds",
        status=201,
        json=fx("refund_error.json"),
        match=[
            matchers.json_params_matcher({"transaction": TRANSACTION, "async": False})
        ],
    )
    mocked.post(f"{BASE}/refunds", status=201, json=fx("refund_queued.json"))
    transaction_says(mocked, TRANSACTION, "SUCCESS")

    result = _void(adapter, SECOND, THIRD)

    assert (result.voided, result.voided_parcels) == (False, (SECOND, THIRD))
    assert result.detail == (
        "2 of 2 other parcel labels refunded; the shipment's own label: refund error"
    )


def test_a_refusal_stands_when_the_transaction_cannot_be_read(adapter, mocked):
    mocked.post(f"{BASE}/refunds", status=400, json={"detail": "Label already used"})
    mocked.get(f"{BASE}/transactions/{TRANSACTION}", status=400, json={"detail": "no"})

    result = _void(adapter)

    assert (result.voided, result.detail) == (False, "Label already used")


def test_a_refusal_stands_when_the_check_answers_another_transaction(adapter, mocked):
    mocked.post(f"{BASE}/refunds", status=400, json={"detail": "Label already used"})
    mocked.get(
        f"{BASE}/transactions/{TRANSACTION}",
        json={
            **fx("transaction_success.json"),
            "object_id": SECOND,
            "status": "REFUNDED",
        },
    )

    result = _void(adapter)

    assert (result.voided, result.detail) == (False, "Label already used")


def test_a_refund_answered_with_error_counts_if_one_was_made_before(adapter, mocked):
    mocked.post(f"{BASE}/refunds", status=201, json=fx("refund_error.json"))
    transaction_says(mocked, TRANSACTION, "REFUNDPENDING")

    assert _void(adapter).voided is True


@pytest.mark.parametrize(
    ("status", "voided"),
    [("REFUNDED", True), ("REFUNDPENDING", True), ("SUCCESS", False)],
)
def test_a_refund_shippo_refuses_counts_if_one_was_made_before(
    adapter, mocked, status, voided
):
    # A retry after a lost answer: the transaction says what became of it.
    mocked.post(f"{BASE}/refunds", status=400, json=fx("error_validation.json"))
    transaction_says(mocked, TRANSACTION, status)

    result = _void(adapter)

    assert result.voided is voided
    assert len(sent(mocked, "GET", f"{BASE}/transactions/{TRANSACTION}")) == 1


def test_a_void_resent_after_a_dead_claim_settles_on_already_refunded(account, mocked):
    # The first void's process died after Shippo took the refund: the resend
    # is refused, and the transaction says REFUNDED.
    mocked.post(f"{BASE}/refunds", status=400, json=fx("error_validation.json"))
    transaction_says(mocked, TRANSACTION, "REFUNDED")
    shipment = _queued(
        account,
        status=ShipmentStatus.PURCHASED,
        tracking_number=NUMBER,
        void_started_at=timezone.now() - timedelta(minutes=11),
    )

    services.shipment_void(shipment=shipment)

    stored = Shipment.objects.get(pk=shipment.pk)
    assert (stored.status, stored.void_started_at) == (ShipmentStatus.VOIDED, None)
    assert Event.objects.filter(name="shipment.voided").count() == 1


def test_a_multi_piece_purchase_keeps_each_parcels_transaction(adapter, mocked):
    mocked.post(f"{BASE}/transactions", status=201, json=fx("transaction_success.json"))
    listed_by_rate(mocked, second_parcel(), fx("transaction_success.json"))
    mocked.get(LABEL_URL, body=PDF)
    mocked.get(SECOND_URL, body=PDF)

    label = adapter.create_label(label_request(parcels=(shared.PARCEL,) * 2))

    assert [p.carrier_reference for p in label.parcel_labels] == [TRANSACTION, SECOND]


def test_voiding_a_bought_multi_piece_shipment_refunds_every_parcel(account, mocked):
    from shipping import services
    from shipping.models import ShipmentParcel

    shipment = _queued(account, status=ShipmentStatus.PURCHASED, tracking_number=NUMBER)
    for sequence, (number, reference) in enumerate(
        [
            (NUMBER, TRANSACTION),
            (SECOND_NUMBER, SECOND),
            ("9205590164917312751102", ""),
        ],
        start=1,
    ):
        ShipmentParcel.objects.create(
            shipment=shipment,
            sequence=sequence,
            tracking_number=number,
            carrier_reference=reference,
        )
    mocked.post(f"{BASE}/refunds", status=201, json=fx("refund_queued.json"))

    services.shipment_void(shipment=shipment)

    shipment.refresh_from_db()
    assert shipment.status == ShipmentStatus.VOIDED
    assert _refunded_transactions(mocked) == [SECOND, TRANSACTION]


def test_a_part_way_void_keeps_what_was_refunded_and_a_retry_sends_the_rest(
    account, mocked
):
    from shipping import services
    from shipping.models import ShipmentParcel
    from shipping.selectors import parcel_label
    from shipping.services.errors import InvalidState

    shipment = _queued(account, status=ShipmentStatus.PURCHASED, tracking_number=NUMBER)
    for sequence, reference in enumerate((TRANSACTION, SECOND, THIRD), start=1):
        ShipmentParcel.objects.create(
            shipment=shipment,
            sequence=sequence,
            tracking_number=f"92055901649173127510{sequence}",
            label_data=PDF,
            carrier_reference=reference,
        )
    refused = mocked.post(
        f"{BASE}/refunds",
        status=201,
        json=fx("refund_error.json"),
        match=[matchers.json_params_matcher({"transaction": THIRD, "async": False})],
    )
    mocked.post(f"{BASE}/refunds", status=201, json=fx("refund_queued.json"))
    transaction_says(mocked, THIRD, "SUCCESS")

    with pytest.raises(InvalidState) as caught:
        services.shipment_void(shipment=shipment)

    assert "1 of 2 other parcel labels refunded" in caught.value.message
    shipment.refresh_from_db()
    assert shipment.status == ShipmentStatus.PURCHASED
    assert parcel_label(shipment, "2") is None  # refunded: no longer served
    assert parcel_label(shipment, "3") == PDF
    mocked.remove(refused)  # every POST /refunds: THIRD's refund goes through now
    mocked.post(f"{BASE}/refunds", status=201, json=fx("refund_queued.json"))
    before = len(_refunded_transactions(mocked))

    services.shipment_void(shipment=shipment)

    assert _refunded_transactions(mocked)[before:] == [THIRD, TRANSACTION]
    shipment.refresh_from_db()
    assert shipment.status == ShipmentStatus.VOIDED


# --- Tracking ---------------------------------------------------------------------


def test_tracking_history_oldest_first(adapter, mocked):
    mocked.get(f"{BASE}/tracks/usps/{NUMBER}", json=fx("track.json"))

    info = adapter.track(
        TrackRequest(tracking_number=NUMBER, service_code="usps_priority")
    )

    assert [e.status for e in info.events] == [
        TrackingStatus.PRE_TRANSIT,
        TrackingStatus.IN_TRANSIT,
        TrackingStatus.OUT_FOR_DELIVERY,
        TrackingStatus.DELIVERED,
    ]
    assert info.status is TrackingStatus.DELIVERED
    assert info.events[0].location == "Las Vegas, NV, US"


def test_an_unknown_number_is_not_found(adapter, mocked):
    number = "9999999999999999999999"
    mocked.get(f"{BASE}/tracks/usps/{number}", json=fx("track_unknown.json"))

    with pytest.raises(Rejected) as caught:
        adapter.track(
            TrackRequest(tracking_number=number, service_code="usps_priority")
        )

    assert caught.value.code == "not_found"
    assert ProviderCall.objects.get().outcome == "rejected"


def test_tracking_needs_the_carrier_before_any_call(adapter, mocked):
    with pytest.raises(InvalidShippingRequest) as caught:
        adapter.track(TrackRequest(tracking_number=NUMBER))
    assert caught.value.param == "service_code"
    assert not mocked.calls


def test_address_validation(adapter, mocked):
    mocked.post(f"{BASE}/addresses", status=201, json=fx("address_valid.json"))

    result = adapter.validate_address(shared.RECIPIENT)

    assert result.valid and result.residential is True
    assert result.address.postal_code == "62704-1234"
    assert body_of(sent(mocked, "POST", f"{BASE}/addresses")[0])["validate"] is True


# --- The track_updated webhook through the intake --------------------------------


def _post(query: str, callbacks=None):
    body = (FIXTURES / "shippo" / "webhook_track_updated.json").read_bytes()
    client = Client()
    if callbacks is None:
        return client.post(
            f"/webhooks/shippo-main/{query}", data=body, content_type="application/json"
        )
    with callbacks(execute=True):
        return client.post(
            f"/webhooks/shippo-main/{query}", data=body, content_type="application/json"
        )


def test_a_webhook_with_the_token_moves_the_shipment(
    account, django_capture_on_commit_callbacks
):
    shipment = Shipment.objects.create(
        account=account,
        from_address={},
        to_address={},
        parcels=[],
        carrier="USPS",
        service_code="usps_priority",
        amount=790,
        currency="USD",
        idempotency_key="hook-1",
        status=ShipmentStatus.PURCHASED,
        tracking_status="pre_transit",
        tracking_number=NUMBER,
        carrier_shipment_id=TRANSACTION,
    )

    response = _post(f"?token={HOOK_TOKEN}", django_capture_on_commit_callbacks)
    again = _post(f"?token={HOOK_TOKEN}", django_capture_on_commit_callbacks)

    assert (response.status_code, again.status_code) == (200, 200)
    event = WebhookEvent.objects.get(account=account)
    assert event.event_type == "track_updated"
    shipment.refresh_from_db()
    assert shipment.tracking_status == "delivered"
    assert shipment.tracking_events.count() == 4


@pytest.mark.parametrize(
    "query", ["", "?token=", "?token=whk-wrong", f"?token={HOOK_TOKEN}x"]
)
def test_a_webhook_without_the_right_token_is_refused(account, query):
    response = _post(query)

    assert response.status_code == 401
    assert not WebhookEvent.objects.exists()


def test_a_webhook_to_an_account_without_a_token_is_an_error_not_a_pass(account):
    account.set_credentials({"api_token": TOKEN})
    account.save()

    response = _post("?token=anything")

    assert response.status_code == 503
    assert not WebhookEvent.objects.exists()


# --- The transaction_updated webhook: a queued label settled at once ---------------


def _queued(account, **changes) -> Shipment:
    fields = {
        "account": account,
        "from_address": {},
        "to_address": {},
        "parcels": [],
        "carrier": "USPS",
        "service_code": "usps_priority",
        "amount": 790,
        "currency": "USD",
        "idempotency_key": "queued-1",
        "status": ShipmentStatus.UNKNOWN,
        "carrier_shipment_id": TRANSACTION,
        **changes,
    }
    return Shipment.objects.create(**fields)


def _post_fixture(name: str, callbacks):
    body = (FIXTURES / "shippo" / name).read_bytes()
    with callbacks(execute=True):
        return Client().post(
            f"/webhooks/shippo-main/?token={HOOK_TOKEN}",
            data=body,
            content_type="application/json",
        )


def test_transaction_updated_buys_a_queued_label_without_a_poll(
    account, mocked, django_capture_on_commit_callbacks
):
    mocked.get(LABEL_URL, body=PDF)
    shipment = _queued(account)

    first = _post_fixture(
        "webhook_transaction_updated.json", django_capture_on_commit_callbacks
    )
    again = _post_fixture(
        "webhook_transaction_updated.json", django_capture_on_commit_callbacks
    )

    assert (first.status_code, again.status_code) == (200, 200)
    shipment.refresh_from_db()
    assert shipment.status == ShipmentStatus.PURCHASED
    assert shipment.tracking_number == NUMBER
    assert bytes(shipment.label_data) == PDF
    assert Event.objects.filter(name="shipment.label_created").count() == 1
    # Applied from the webhook: no transaction poll or listing was made.
    assert not sent(mocked, "GET", TX_URL)
    assert not sent(mocked, "GET", f"{BASE}/transactions")
    assert WebhookEvent.objects.get(account=account).status == "processed"


def test_a_replayed_transaction_webhook_changes_nothing(
    account, mocked, django_capture_on_commit_callbacks
):
    mocked.get(LABEL_URL, body=PDF)
    shipment = _queued(account)
    _post_fixture(
        "webhook_transaction_updated.json", django_capture_on_commit_callbacks
    )
    event = WebhookEvent.objects.get(account=account)

    with django_capture_on_commit_callbacks(execute=True):
        tracking_webhook_handle(event)
    # The scheduled poll (it loads the row by id) finds it settled: no call.
    services.shipment_reconcile(shipment=Shipment.objects.get(pk=shipment.pk))

    shipment.refresh_from_db()
    assert shipment.status == ShipmentStatus.PURCHASED
    assert Event.objects.filter(name="shipment.label_created").count() == 1
    assert not sent(mocked, "GET", TX_URL)


def test_transaction_error_fails_the_shipment_with_shippos_reason(
    account, django_capture_on_commit_callbacks
):
    shipment = _queued(account)

    _post_fixture("webhook_transaction_error.json", django_capture_on_commit_callbacks)

    shipment.refresh_from_db()
    assert shipment.status == ShipmentStatus.FAILED
    assert shipment.failure_code == "label_failed"
    assert "did not respond" in shipment.failure_message
    assert not Event.objects.filter(name="shipment.label_created").exists()


def test_a_still_queued_transaction_changes_nothing(
    account, django_capture_on_commit_callbacks
):
    shipment = _queued(account)

    response = _post_fixture(
        "webhook_transaction_queued.json", django_capture_on_commit_callbacks
    )

    assert response.status_code == 200
    shipment.refresh_from_db()
    assert shipment.status == ShipmentStatus.UNKNOWN
    assert WebhookEvent.objects.get(account=account).status == "processed"


def test_a_lost_answer_is_settled_by_our_reference_in_the_metadata(
    account, mocked, django_capture_on_commit_callbacks
):
    mocked.get(LABEL_URL, body=PDF)
    # The buy timed out: we never learnt the transaction id.
    shipment = _queued(account, carrier_shipment_id="", public_id="shp_contract")

    _post_fixture(
        "webhook_transaction_updated.json", django_capture_on_commit_callbacks
    )

    shipment.refresh_from_db()
    assert shipment.status == ShipmentStatus.PURCHASED
    assert shipment.carrier_shipment_id == TRANSACTION


def test_a_transaction_webhook_never_touches_a_bought_or_voided_label(
    account, mocked, django_capture_on_commit_callbacks
):
    voided = _queued(account, status=ShipmentStatus.VOIDED, tracking_number="V1")

    _post_fixture("webhook_transaction_error.json", django_capture_on_commit_callbacks)

    voided.refresh_from_db()
    assert (voided.status, voided.tracking_number) == (ShipmentStatus.VOIDED, "V1")
    assert not sent(mocked, "GET", LABEL_URL)


# --- A queued multi-piece label settled later: every parcel's label kept ----------


def _two_parcels() -> list[dict]:
    from shipping import codec

    return [codec.parcel_to_json(shared.PARCEL)] * 2


def _parcel_rows(shipment: Shipment) -> list[tuple[str, str, bytes]]:
    return [
        (p.tracking_number, p.carrier_reference, bytes(p.label_data))
        for p in shipment.parcel_labels.order_by("sequence")
    ]


def test_a_polled_multi_piece_label_keeps_every_parcel_and_voids_them_all(
    account, mocked
):
    mocked.get(TX_URL, json=fx("transaction_success.json"))
    listed_by_rate(mocked, second_parcel(), fx("transaction_success.json"))
    mocked.get(LABEL_URL, body=PDF)
    mocked.get(SECOND_URL, body=PDF + b"%second")
    shipment = _queued(account, parcels=_two_parcels())

    services.shipment_reconcile(shipment=shipment)

    shipment.refresh_from_db()
    assert shipment.status == ShipmentStatus.PURCHASED
    assert _parcel_rows(shipment) == [
        (NUMBER, TRANSACTION, PDF),
        (SECOND_NUMBER, SECOND, PDF + b"%second"),
    ]
    mocked.post(f"{BASE}/refunds", status=201, json=fx("refund_queued.json"))
    services.shipment_void(shipment=shipment)
    assert _refunded_transactions(mocked) == [SECOND, TRANSACTION]


def test_a_multi_piece_label_settled_by_webhook_keeps_every_parcel(
    account, mocked, django_capture_on_commit_callbacks
):
    listed_by_rate(mocked, second_parcel(), fx("transaction_success.json"))
    mocked.get(LABEL_URL, body=PDF)
    mocked.get(SECOND_URL, body=PDF + b"%second")
    shipment = _queued(account, parcels=_two_parcels())

    _post_fixture(
        "webhook_transaction_updated.json", django_capture_on_commit_callbacks
    )

    shipment.refresh_from_db()
    assert shipment.status == ShipmentStatus.PURCHASED
    assert [row[:2] for row in _parcel_rows(shipment)] == [
        (NUMBER, TRANSACTION),
        (SECOND_NUMBER, SECOND),
    ]
    (listing,) = sent(mocked, "GET", f"{BASE}/transactions")
    assert listing.params["rate"] == RATE_ID


def test_another_parcels_transaction_webhook_leaves_the_shipment_to_its_own(
    account, mocked, django_capture_on_commit_callbacks
):
    # The shipment knows its own transaction; this one is a sibling parcel's.
    mocked.get(LABEL_URL, body=PDF)
    shipment = _queued(
        account,
        parcels=_two_parcels(),
        carrier_shipment_id=SECOND,
        public_id="shp_contract",
    )

    response = _post_fixture(
        "webhook_transaction_updated.json", django_capture_on_commit_callbacks
    )

    assert response.status_code == 200
    shipment.refresh_from_db()
    assert (shipment.status, shipment.carrier_shipment_id) == (
        ShipmentStatus.UNKNOWN,
        SECOND,
    )
    assert not shipment.parcel_labels.exists()
    assert not sent(mocked, "GET", f"{BASE}/transactions")  # nothing listed
    # Ignored, not failed: it is not retried.
    assert WebhookEvent.objects.get(account=account).status == "processed"


def test_a_sibling_parcels_webhook_is_ignored_before_any_call(
    account, django_capture_on_commit_callbacks
):
    # Strict: any outgoing call (the sibling's label file, a listing) fails.
    shipment = _queued(
        account,
        parcels=_two_parcels(),
        carrier_shipment_id=SECOND,
        public_id="shp_contract",
    )

    with responses.RequestsMock(assert_all_requests_are_fired=True) as strict:
        response = _post_fixture(
            "webhook_transaction_updated.json", django_capture_on_commit_callbacks
        )

        assert len(strict.calls) == 0
    assert response.status_code == 200
    shipment.refresh_from_db()
    assert shipment.status == ShipmentStatus.UNKNOWN
    assert not ProviderCall.objects.filter(operation="shippo_label_file").exists()
    assert WebhookEvent.objects.get(account=account).status == "processed"


def test_a_settled_shipments_label_webhook_fetches_nothing(
    account, django_capture_on_commit_callbacks
):
    shipment = _queued(account, status=ShipmentStatus.PURCHASED, tracking_number="P1")

    with responses.RequestsMock(assert_all_requests_are_fired=True) as strict:
        _post_fixture(
            "webhook_transaction_updated.json", django_capture_on_commit_callbacks
        )

        assert len(strict.calls) == 0
    shipment.refresh_from_db()
    assert (shipment.status, shipment.tracking_number) == (
        ShipmentStatus.PURCHASED,
        "P1",
    )
    assert WebhookEvent.objects.get(account=account).status == "processed"


def test_a_webhook_whose_parcel_list_fails_is_retried_and_nothing_is_lost(
    account, mocked, django_capture_on_commit_callbacks
):
    mocked.get(LABEL_URL, body=PDF)
    mocked.get(f"{BASE}/transactions", status=500, json={"detail": "server error"})
    shipment = _queued(account, parcels=_two_parcels())

    response = _post_fixture(
        "webhook_transaction_updated.json", django_capture_on_commit_callbacks
    )

    assert response.status_code == 200  # stored; processing is retried
    shipment.refresh_from_db()
    assert shipment.status == ShipmentStatus.UNKNOWN
    assert not shipment.parcel_labels.exists()
    event = WebhookEvent.objects.get(account=account)
    assert event.status == "failed" and event.next_attempt_at is not None


def test_a_scan_whose_location_or_substatus_is_not_an_object_is_still_read():
    from shipping.providers.shippo_errors import track_event

    event = track_event(
        {
            "status": "TRANSIT",
            "status_date": "2024-07-24T10:00:00Z",
            "location": "Memphis",
            "substatus": ["package_accepted"],
        }
    )

    assert event.status is TrackingStatus.IN_TRANSIT
    assert (event.location, event.carrier_status_code) == ("", "TRANSIT")


def test_a_void_whose_later_refund_times_out_keeps_the_parcels_refunded(
    account, mocked
):
    from shipping.models import ShipmentParcel
    from shipping.selectors import parcel_label
    from shipping.services.errors import InvalidState

    shipment = _queued(account, status=ShipmentStatus.PURCHASED, tracking_number=NUMBER)
    for sequence, reference in enumerate((TRANSACTION, SECOND, THIRD), start=1):
        ShipmentParcel.objects.create(
            shipment=shipment,
            sequence=sequence,
            tracking_number=f"92055901649173127510{sequence}",
            label_data=PDF,
            carrier_reference=reference,
        )
    mocked.post(
        f"{BASE}/refunds",
        status=201,
        json=fx("refund_queued.json"),
        match=[matchers.json_params_matcher({"transaction": SECOND, "async": False})],
    )
    mocked.post(f"{BASE}/refunds", status=503, json={"detail": "unavailable"})

    with pytest.raises(InvalidState) as caught:
        services.shipment_void(shipment=shipment)

    assert "1 of 2 other parcel labels refunded" in caught.value.message
    shipment.refresh_from_db()
    assert shipment.status == ShipmentStatus.PURCHASED
    assert parcel_label(shipment, "2") is None  # refunded: kept as voided
    assert parcel_label(shipment, "3") == PDF


# --- A refund Shippo accepted, then rejected ---------------------------------------


def _refund_rejected(transaction: str, reference: str, callbacks) -> int:
    """Shippo's transaction_updated saying REFUNDREJECTED (TransactionStatusEnum,
    provider-specs/shippo/public-api.yaml) for ``transaction``."""
    return _transaction_updated(transaction, reference, "REFUNDREJECTED", callbacks)


def _transaction_updated(
    transaction: str, reference: str, status: str, callbacks, updated: str = ""
) -> int:
    body = load("shippo", "webhook_transaction_updated.json")
    body["data"].update(
        status=status, object_id=transaction, metadata=reference, object_updated=updated
    )
    with callbacks(execute=True):
        answer = Client().post(
            f"/webhooks/shippo-main/?token={HOOK_TOKEN}",
            data=body,
            content_type="application/json",
        )
    return answer.status_code


def test_a_refund_shippo_rejects_after_accepting_it_unvoids_the_label(
    account, mocked, django_capture_on_commit_callbacks
):
    """A QUEUED refund counts as voided (shipment.voided goes out); Shippo
    then rejects it: the label is valid and billed, so the shipment is
    bought again, staff and the shop are told (shipment.void_rejected, also on
    its timeline), and a replay of the webhook changes nothing more."""
    mocked.post(f"{BASE}/refunds", status=201, json=fx("refund_queued.json"))
    shipment = _queued(account, status=ShipmentStatus.PURCHASED, tracking_number=NUMBER)
    services.shipment_void(shipment=shipment)
    assert Shipment.objects.get().status == ShipmentStatus.VOIDED
    transaction_says(mocked, TRANSACTION, "REFUNDREJECTED")

    said = _refund_rejected(
        TRANSACTION, shipment.public_id, django_capture_on_commit_callbacks
    )

    assert said == 200
    assert Shipment.objects.get().status == ShipmentStatus.PURCHASED
    assert Event.objects.filter(name="shipment.voided").count() == 1
    flagged = Event.objects.get(name="shipment.void_rejected")
    assert (flagged.subject, flagged.payload["status"]) == (
        shipment.public_id,
        ShipmentStatus.PURCHASED,
    )
    webhook = WebhookEvent.objects.get()
    assert webhook.subject == shipment.public_id
    # The same rejection again (a new delivery) finds nothing to undo.
    changed = services.shipment_void_rejected_apply(
        shipment=shipment,
        update=LabelUpdate(TRANSACTION, refund_rejected=True),
    )
    assert not changed
    assert Event.objects.filter(name="shipment.void_rejected").count() == 1


def test_a_parcel_refund_shippo_rejects_serves_its_label_again(
    account, mocked, django_capture_on_commit_callbacks
):
    from shipping.models import ShipmentParcel
    from shipping.selectors import parcel_label

    shipment = _queued(account, status=ShipmentStatus.PURCHASED, tracking_number=NUMBER)
    ShipmentParcel.objects.create(
        shipment=shipment,
        sequence=2,
        tracking_number="920559016491731275102",
        label_data=PDF,
        carrier_reference=SECOND,
        voided_at=timezone.now(),  # refunded by a part-way void
    )
    transaction_says(mocked, SECOND, "REFUNDREJECTED")

    said = _refund_rejected(
        SECOND, shipment.public_id, django_capture_on_commit_callbacks
    )

    assert said == 200
    assert parcel_label(shipment, "2") == PDF
    assert Shipment.objects.get().status == ShipmentStatus.PURCHASED
    # The shipment was never voided: the shop, told that label was dead
    # (shipment.label_voided), hears it is live again, naming it.
    assert Event.objects.filter(name="shipment.label_void_rejected").count() == 1
    assert not Event.objects.filter(name="shipment.void_rejected").exists()


def test_a_refund_rejected_while_our_void_is_at_shippo_is_applied_after_it(
    account, mocked, django_capture_on_commit_callbacks
):
    """Shippo's REFUNDREJECTED is handled while our POST /refunds still waits
    for its (QUEUED) answer: the rejection is Shippo's later word. The
    webhook is not marked processed but retried once the void has settled,
    and then puts the shipment back to purchased."""

    shipment = _queued(account, status=ShipmentStatus.PURCHASED, tracking_number=NUMBER)
    transaction_says(mocked, TRANSACTION, "REFUNDREJECTED")

    def refund(request):
        said = _refund_rejected(
            TRANSACTION, shipment.public_id, django_capture_on_commit_callbacks
        )
        assert said == 200
        return 201, {}, json.dumps(fx("refund_queued.json"))

    mocked.add_callback("POST", f"{BASE}/refunds", callback=refund)

    services.shipment_void(shipment=shipment)

    webhook = WebhookEvent.objects.get()
    assert webhook.status == "failed"  # retried, not dead-lettered
    assert webhook.next_attempt_at is not None
    assert Shipment.objects.get().status == ShipmentStatus.VOIDED  # for now

    status = webhook_event_process(
        event_id=webhook.pk, now=webhook.next_attempt_at + timedelta(seconds=1)
    )

    assert status == "processed"
    # Shippo rejected the refund: the label is valid and billed.
    assert Shipment.objects.get().status == ShipmentStatus.PURCHASED
    assert Event.objects.filter(name="shipment.void_rejected").count() == 1


def test_a_void_answer_older_than_shippo_rejecting_the_refund_voids_nothing(
    account, mocked, django_capture_on_commit_callbacks
):
    """Our void ran past its claim: another void took over and voided the
    shipment, then Shippo rejected the refund (bought again). Our void's
    QUEUED answer, older than the rejection, does not void it again."""
    shipment = _queued(account, status=ShipmentStatus.PURCHASED, tracking_number=NUMBER)
    transaction_says(mocked, TRANSACTION, "REFUNDREJECTED")

    def refund(request):
        # The void that took over our claim settled meanwhile.
        Shipment.objects.filter(pk=shipment.pk).update(
            status=ShipmentStatus.VOIDED, void_started_at=None
        )
        said = _refund_rejected(
            TRANSACTION, shipment.public_id, django_capture_on_commit_callbacks
        )
        assert said == 200
        assert Shipment.objects.get().status == ShipmentStatus.PURCHASED
        return 201, {}, json.dumps(fx("refund_queued.json"))

    mocked.add_callback("POST", f"{BASE}/refunds", callback=refund)

    with pytest.raises(InvalidState) as refused:
        services.shipment_void(shipment=shipment)

    assert refused.value.code == "void_refused"
    row = Shipment.objects.get()
    assert (row.status, row.void_started_at) == (ShipmentStatus.PURCHASED, None)
    assert not Event.objects.filter(name="shipment.voided").exists()


def _refunds_answer(refused: str):
    """POST /refunds: QUEUED, but an error for ``refused`` (a label whose
    refund was asked for before)."""

    def answer(request):
        sent_for = json.loads(request.body)["transaction"]
        refund = "refund_error.json" if sent_for == refused else "refund_queued.json"
        return 201, {}, json.dumps(fx(refund))

    return answer


def test_a_parcel_refund_shippo_rejects_reopens_the_shipment_to_void_it_again(
    account, mocked, django_capture_on_commit_callbacks
):
    """A two-parcel shipment voided (both refunds QUEUED); Shippo then rejects
    the second parcel's refund: that label is valid, billed and served
    again, so the shipment is purchased again and a new void refunds it (the
    own label, refunded before, counts as done)."""
    shipment = _bought_in_two_parcels(account)
    mocked.post(f"{BASE}/refunds", status=201, json=fx("refund_queued.json"))
    services.shipment_void(shipment=shipment)
    assert Shipment.objects.get().status == ShipmentStatus.VOIDED
    transaction_says(mocked, SECOND, "REFUNDREJECTED")

    said = _refund_rejected(
        SECOND, shipment.public_id, django_capture_on_commit_callbacks
    )

    assert said == 200
    shipment.refresh_from_db()
    assert shipment.status == ShipmentStatus.PURCHASED
    assert parcel_label(shipment, "2") == PDF  # a live, billed label again
    mocked.remove(responses.POST, f"{BASE}/refunds")  # now per transaction
    mocked.add_callback(
        "POST", f"{BASE}/refunds", callback=_refunds_answer(TRANSACTION)
    )
    transaction_says(mocked, TRANSACTION, "REFUNDPENDING")

    services.shipment_void(shipment=shipment)

    assert Shipment.objects.get().status == ShipmentStatus.VOIDED
    assert parcel_label(shipment, "2") is None


def _bought_in_two_parcels(account) -> Shipment:
    shipment = _queued(account, status=ShipmentStatus.PURCHASED, tracking_number=NUMBER)
    for sequence, reference in enumerate((TRANSACTION, SECOND), start=1):
        ShipmentParcel.objects.create(
            shipment=shipment,
            sequence=sequence,
            tracking_number=f"92055901649173127510{sequence}",
            label_data=PDF,
            carrier_reference=reference,
        )
    return shipment


@pytest.mark.parametrize("status", ["REFUNDED", "REFUNDPENDING"])
def test_a_refund_shippo_made_of_a_void_whose_answer_was_lost_voids_the_shipment(
    account, mocked, django_capture_on_commit_callbacks, status
):
    """Our void's answer was lost (502 carrier_unknown, shipment left
    purchased); Shippo did refund it and says so (transaction_updated
    REFUNDED, or REFUNDPENDING: a refund accepted, as our void counts one
    QUEUED): the shipment is voided and shipment.voided goes out, once."""
    shipment = _queued(account, status=ShipmentStatus.PURCHASED, tracking_number=NUMBER)
    mocked.post(f"{BASE}/refunds", body=requests.exceptions.ReadTimeout("lost"))
    with pytest.raises(services.ShippingError):
        services.shipment_void(shipment=shipment)
    assert Shipment.objects.get().status == ShipmentStatus.PURCHASED
    transaction_says(mocked, TRANSACTION, status)

    for updated in ("2026-01-02T10:00:00Z", "2026-01-02T10:05:00Z"):  # and again
        said = _transaction_updated(
            TRANSACTION,
            shipment.public_id,
            status,
            django_capture_on_commit_callbacks,
            updated=updated,
        )
        assert said == 200

    row = Shipment.objects.get()
    assert (row.status, row.void_started_at) == (ShipmentStatus.VOIDED, None)
    assert Event.objects.filter(name="shipment.voided").count() == 1


def test_a_parcel_refund_shippo_made_stops_serving_its_label(
    account, mocked, django_capture_on_commit_callbacks
):
    shipment = _bought_in_two_parcels(account)
    transaction_says(mocked, SECOND, "REFUNDED")

    said = _transaction_updated(
        SECOND, shipment.public_id, "REFUNDED", django_capture_on_commit_callbacks
    )

    assert said == 200
    assert parcel_label(shipment, "2") is None
    assert Shipment.objects.get().status == ShipmentStatus.PURCHASED  # own label
    assert not Event.objects.filter(name="shipment.voided").exists()


@pytest.mark.parametrize(
    ("posted", "says", "before"),
    [
        # Forged, or older than Shippo's last word: what it says now wins.
        ("REFUNDREJECTED", "REFUNDED", ShipmentStatus.VOIDED),
        ("REFUNDREJECTED", "SUCCESS", ShipmentStatus.VOIDED),
        ("REFUNDED", "REFUNDREJECTED", ShipmentStatus.PURCHASED),
        ("REFUNDED", "SUCCESS", ShipmentStatus.PURCHASED),
    ],
)
def test_a_refund_webhook_is_applied_as_shippo_tells_it_when_asked(
    account, mocked, django_capture_on_commit_callbacks, posted, says, before
):
    """Only the URL token authenticates a Shippo webhook: a refund's fate is
    read again from Shippo (GET /transactions/{id}) and that is applied."""
    shipment = _queued(account, status=before, tracking_number=NUMBER)
    transaction_says(mocked, TRANSACTION, says)

    said = _transaction_updated(
        TRANSACTION, shipment.public_id, posted, django_capture_on_commit_callbacks
    )

    assert said == 200
    assert Shipment.objects.get().status == before
    assert not Event.objects.filter(name__startswith="shipment.").exists()
    assert [call.request.method for call in mocked.calls] == ["GET"]


def test_a_refund_webhook_shippo_cannot_confirm_now_is_retried(
    account, mocked, django_capture_on_commit_callbacks
):
    shipment = _queued(account, status=ShipmentStatus.VOIDED, tracking_number=NUMBER)
    mocked.get(TX_URL, status=503, json={})

    said = _refund_rejected(
        TRANSACTION, shipment.public_id, django_capture_on_commit_callbacks
    )

    assert said == 200
    assert WebhookEvent.objects.get().status == "failed"
    assert Shipment.objects.get().status == ShipmentStatus.VOIDED


def test_a_rejection_behind_a_dead_voids_stale_claim_is_applied_not_dead_lettered(
    account, mocked, django_capture_on_commit_callbacks
):
    """A void's process died mid-call (claim older than CLAIM_LIFE, never
    released): a part-way void had refunded parcel 2, Shippo then rejects
    that refund. No void is under way, yet every retry raises VoidUnderWay
    until the webhook is dead: the live, billed label stays unserved."""
    shipment = _bought_in_two_parcels(account)
    ShipmentParcel.objects.filter(carrier_reference=SECOND).update(
        voided_at=timezone.now() - timedelta(hours=2)
    )
    Shipment.objects.filter(pk=shipment.pk).update(
        void_started_at=timezone.now() - timedelta(hours=2)
    )
    transaction_says(mocked, SECOND, "REFUNDREJECTED")

    assert (
        _refund_rejected(SECOND, shipment.public_id, django_capture_on_commit_callbacks)
        == 200
    )
    webhook = WebhookEvent.objects.get()
    now = timezone.now()
    for _ in range(20):  # every retry the intake will make
        webhook.refresh_from_db()
        if webhook.status in ("processed", "dead"):
            break
        now = max(now, webhook.next_attempt_at or now) + timedelta(seconds=1)
        webhook_event_process(event_id=webhook.pk, now=now)

    webhook.refresh_from_db()
    assert webhook.status == "processed", webhook.status
    assert parcel_label(shipment, "2") == PDF


def test_a_parcel_rejection_reopening_the_shipment_leaves_its_own_label_voided(
    account, mocked, django_capture_on_commit_callbacks
):
    """Both labels refunded (void QUEUED), Shippo rejects parcel 2's refund
    only: the shipment goes back to purchased and its own label, which
    Shippo still holds REFUNDED, is served again as a live label."""
    shipment = _bought_in_two_parcels(account)
    Shipment.objects.filter(pk=shipment.pk).update(label_data=PDF)
    mocked.post(f"{BASE}/refunds", status=201, json=fx("refund_queued.json"))
    services.shipment_void(shipment=shipment)
    transaction_says(mocked, SECOND, "REFUNDREJECTED")

    assert (
        _refund_rejected(SECOND, shipment.public_id, django_capture_on_commit_callbacks)
        == 200
    )

    shipment.refresh_from_db()
    assert shipment.status == ShipmentStatus.PURCHASED  # as designed
    # The own label (parcel 1, transaction TRANSACTION) is refunded at Shippo.
    assert parcel_label(shipment, "1") is None
    assert shipment_label(shipment) is None
    assert parcel_label(shipment, "2") == PDF


def test_the_check_call_a_failed_refund_webhook_made_stays_in_the_call_log(
    account, mocked, django_capture_on_commit_callbacks
):
    """GET /transactions/{id} answered 503: the webhook fails and is retried,
    and the outgoing call it made stays in the call log for staff."""
    shipment = _queued_voided(account)
    mocked.get(f"{BASE}/transactions/{TRANSACTION}", status=503, json={})

    assert (
        _refund_rejected(
            TRANSACTION, shipment.public_id, django_capture_on_commit_callbacks
        )
        == 200
    )

    assert WebhookEvent.objects.get().status == "failed"
    assert len(mocked.calls) == 1
    assert ProviderCall.objects.filter(operation="shippo_refund_check").count() == 1


def _queued_voided(account):
    return _queued(account, status=ShipmentStatus.VOIDED, tracking_number=NUMBER)


def test_a_refund_webhooks_check_call_is_in_the_call_log(
    account, mocked, django_capture_on_commit_callbacks
):
    shipment = _queued_voided(account)
    transaction_says(mocked, TRANSACTION, "REFUNDED")
    assert (
        _refund_rejected(
            TRANSACTION, shipment.public_id, django_capture_on_commit_callbacks
        )
        == 200
    )
    assert ProviderCall.objects.filter(operation="shippo_refund_check").count() == 1


def test_a_late_void_answer_does_not_hide_a_parcel_label_shippo_rejected_since(
    account, mocked, django_capture_on_commit_callbacks
):
    """Our void refunds parcel 2 (QUEUED), then waits on the own label past
    CLAIM_LIFE; a void that took over voided the shipment (parcel 2 too), and
    Shippo then rejected parcel 2's refund (reopened, label served again).
    Our late answer is refused (409 void_refused, nothing voided) yet it
    still marks parcel 2 voided: a live, billed label hidden again."""
    shipment = _bought_in_two_parcels(account)
    transaction_says(mocked, SECOND, "REFUNDREJECTED")

    def refund(request):
        sent_for = json.loads(request.body)["transaction"]
        if sent_for == TRANSACTION:
            # The void that took over settled: both labels voided.
            Shipment.objects.filter(pk=shipment.pk).update(
                status=ShipmentStatus.VOIDED, void_started_at=None
            )
            ShipmentParcel.objects.filter(carrier_reference=SECOND).update(
                voided_at=timezone.now()
            )
            said = _refund_rejected(
                SECOND, shipment.public_id, django_capture_on_commit_callbacks
            )
            assert said == 200
            assert parcel_label(shipment, "2") == PDF  # served again
        return 201, {}, json.dumps(fx("refund_queued.json"))

    mocked.add_callback("POST", f"{BASE}/refunds", callback=refund)

    with pytest.raises(InvalidState) as refused:
        services.shipment_void(shipment=shipment)

    assert refused.value.code == "void_refused"
    assert Shipment.objects.get().status == ShipmentStatus.PURCHASED
    assert parcel_label(shipment, "2") == PDF  # Shippo's later word: live


def test_a_check_answering_another_transaction_is_not_applied(
    account, mocked, django_capture_on_commit_callbacks
):
    """GET /transactions/{id} answers a different object (a proxy, a cache,
    a mix-up): its status is applied to our transaction regardless."""
    shipment = _queued(account, status=ShipmentStatus.PURCHASED, tracking_number=NUMBER)
    mocked.get(
        f"{BASE}/transactions/{TRANSACTION}",
        json={
            **fx("transaction_success.json"),
            "object_id": SECOND,
            "status": "REFUNDED",
        },
    )

    said = _transaction_updated(
        TRANSACTION, shipment.public_id, "REFUNDED", django_capture_on_commit_callbacks
    )

    assert said == 200
    assert Shipment.objects.get().status == ShipmentStatus.PURCHASED
    assert not Event.objects.filter(name="shipment.voided").exists()


def test_a_refund_webhook_for_a_transaction_we_never_bought_calls_nobody(
    account, mocked, django_capture_on_commit_callbacks
):
    """object_id unknown to us, metadata naming one of our shipments: no
    label of ours is concerned, yet Shippo is called (GET on an id the
    poster chose) before that is found out."""
    shipment = _queued(account, status=ShipmentStatus.PURCHASED, tracking_number=NUMBER)
    stranger = "0123456789abcdef0123456789abcdef"
    transaction_says(mocked, stranger, "REFUNDED")

    said = _transaction_updated(
        stranger, shipment.public_id, "REFUNDED", django_capture_on_commit_callbacks
    )

    assert said == 200
    assert len(mocked.calls) == 0


def test_the_own_labels_refund_told_again_after_a_parcel_rejection_voids_nothing(
    account, mocked, django_capture_on_commit_callbacks
):
    """Bought again for parcel 2 (its refund rejected), the own label's
    refund, counted before, is told again (REFUNDED, true at Shippo): the
    shipment stays bought with parcel 2's live label, one shipment.voided."""
    shipment = _bought_in_two_parcels(account)
    mocked.post(f"{BASE}/refunds", status=201, json=fx("refund_queued.json"))
    services.shipment_void(shipment=shipment)
    transaction_says(mocked, SECOND, "REFUNDREJECTED")
    said = _refund_rejected(
        SECOND, shipment.public_id, django_capture_on_commit_callbacks
    )
    assert said == 200
    transaction_says(mocked, TRANSACTION, "REFUNDED")

    said = _transaction_updated(
        TRANSACTION, shipment.public_id, "REFUNDED", django_capture_on_commit_callbacks
    )

    assert said == 200
    assert Shipment.objects.get().status == ShipmentStatus.PURCHASED
    assert parcel_label(shipment, "2") == PDF
    assert Event.objects.filter(name="shipment.voided").count() == 1


def test_the_shipments_own_label_is_served_while_bought_and_not_once_voided(account):
    shipment = _bought_in_two_parcels(account)
    Shipment.objects.filter(pk=shipment.pk).update(label_data=PDF)
    shipment.refresh_from_db()
    assert shipment_label(shipment) == PDF

    shipment.status = ShipmentStatus.VOIDED
    assert shipment_label(shipment) is None


def test_the_api_does_not_serve_an_own_label_refunded_before_a_parcel_reopen(
    account, mocked, django_capture_on_commit_callbacks
):
    """After a parcel-only rejection bought the shipment back, ``/label/``
    with no ``parcel`` is the own label, which Shippo still holds REFUNDED:
    404, as ``?parcel=1`` is; parcel 2's label is served."""
    from rest_framework.test import APIClient

    from tests.factories import ApiKeyFactory

    shipment = _bought_in_two_parcels(account)
    Shipment.objects.filter(pk=shipment.pk).update(label_data=PDF)
    mocked.post(f"{BASE}/refunds", status=201, json=fx("refund_queued.json"))
    services.shipment_void(shipment=shipment)
    transaction_says(mocked, SECOND, "REFUNDREJECTED")
    _refund_rejected(SECOND, shipment.public_id, django_capture_on_commit_callbacks)
    api = APIClient()
    key = ApiKeyFactory(scopes=["shipping:read"])
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {key.raw_key}")
    url = f"/api/v1/shipping/shipments/{shipment.public_id}/label/"

    own = api.get(url)
    assert own.status_code == 404
    assert own.json()["error"]["code"] == "no_label"
    assert api.get(url, {"parcel": "2"}).content == PDF


# --- One label of a multi-parcel shipment refunded --------------------------------


def _events(*names: str) -> list[tuple[str, dict]]:
    found = Event.objects.filter(name__in=names).order_by("pk")
    return [(event.name, event.payload) for event in found]


def test_the_own_labels_refund_with_a_parcel_label_live_voids_that_label_only(
    account, mocked, django_capture_on_commit_callbacks
):
    """Shippo makes one transaction per parcel: the own label's REFUNDED
    leaves parcel 2's label live (usable, billed), so the shipment stays
    bought, its own label is not served, and the shop hears that label is
    dead; once parcel 2's is refunded too, the shipment is voided."""
    shipment = _bought_in_two_parcels(account)
    transaction_says(mocked, TRANSACTION, "REFUNDED")
    transaction_says(mocked, SECOND, "REFUNDED")
    hooks = django_capture_on_commit_callbacks

    assert (
        _transaction_updated(TRANSACTION, shipment.public_id, "REFUNDED", hooks, "t1")
        == 200
    )

    assert Shipment.objects.get().status == ShipmentStatus.PURCHASED
    assert parcel_label(shipment, "1") is None
    assert shipment_label(Shipment.objects.get()) is None  # refunded
    assert parcel_label(shipment, "2") == PDF
    ((name, data),) = _events("shipment.voided", "shipment.label_voided")
    assert name == "shipment.label_voided"
    assert (data["parcel"], data["parcel_tracking_number"]) == (
        1,
        "920559016491731275101",
    )
    assert (data["shipment"], data["status"]) == (shipment.public_id, "purchased")

    assert (
        _transaction_updated(SECOND, shipment.public_id, "REFUNDED", hooks, "t2") == 200
    )

    assert Shipment.objects.get().status == ShipmentStatus.VOIDED
    assert [n for n, _ in _events("shipment.voided", "shipment.label_voided")] == [
        "shipment.label_voided",
        "shipment.voided",
    ]


def test_a_parcel_refund_tells_the_shop_that_label_is_dead_once(
    account, mocked, django_capture_on_commit_callbacks
):
    shipment = _bought_in_two_parcels(account)
    transaction_says(mocked, SECOND, "REFUNDED")

    for updated in ("2026-01-02T10:00:00Z", "2026-01-02T10:05:00Z"):  # and again
        said = _transaction_updated(
            SECOND,
            shipment.public_id,
            "REFUNDED",
            django_capture_on_commit_callbacks,
            updated=updated,
        )
        assert said == 200

    ((name, data),) = _events("shipment.voided", "shipment.label_voided")
    assert name == "shipment.label_voided"
    assert (data["parcel"], data["parcel_tracking_number"]) == (
        2,
        "920559016491731275102",
    )
    assert data["tracking_number"] == NUMBER  # the shipment's (master) number


def test_a_part_way_void_tells_the_shop_which_parcel_labels_are_dead(account, mocked):
    shipment = _bought_in_two_parcels(account)
    mocked.add_callback(
        "POST", f"{BASE}/refunds", callback=_refunds_answer(TRANSACTION)
    )
    transaction_says(mocked, TRANSACTION, "SUCCESS")

    with pytest.raises(InvalidState):
        services.shipment_void(shipment=shipment)

    assert Shipment.objects.get().status == ShipmentStatus.PURCHASED
    ((name, data),) = _events("shipment.voided", "shipment.label_voided")
    assert (name, data["parcel"]) == ("shipment.label_voided", 2)


def test_a_rejected_parcel_refund_tells_the_shop_that_label_is_live_again(
    account, mocked, django_capture_on_commit_callbacks
):
    """The shipment stayed bought throughout: the shop, told parcel 2's label
    was dead, hears it is live again (naming it), not that a void of the
    shipment it never saw voided was undone."""
    shipment = _bought_in_two_parcels(account)
    hooks = django_capture_on_commit_callbacks
    transaction_says(mocked, SECOND, "REFUNDED")
    _transaction_updated(SECOND, shipment.public_id, "REFUNDED", hooks)
    mocked.remove(responses.GET, f"{BASE}/transactions/{SECOND}")
    transaction_says(mocked, SECOND, "REFUNDREJECTED")

    assert _refund_rejected(SECOND, shipment.public_id, hooks) == 200

    assert parcel_label(shipment, "2") == PDF
    names = ("shipment.label_voided", "shipment.label_void_rejected")
    events = _events(*names, "shipment.voided", "shipment.void_rejected")
    assert [name for name, _ in events] == list(names)
    assert events[1][1]["parcel"] == 2


def test_a_void_undone_and_made_again_tells_each_fact_once_in_order(
    account, mocked, django_capture_on_commit_callbacks
):
    """voided, void_rejected, voided: three facts in order. The refunds'
    REFUNDED webhooks (the void's QUEUED answer already counted) and their
    redeliveries add nothing."""
    hooks = django_capture_on_commit_callbacks
    shipment = _queued(account, status=ShipmentStatus.PURCHASED, tracking_number=NUMBER)
    mocked.post(f"{BASE}/refunds", status=201, json=fx("refund_queued.json"))
    services.shipment_void(shipment=shipment)
    transaction_says(mocked, TRANSACTION, "REFUNDED")
    _transaction_updated(TRANSACTION, shipment.public_id, "REFUNDED", hooks, "t1")
    mocked.remove(responses.GET, TX_URL)
    transaction_says(mocked, TRANSACTION, "REFUNDREJECTED")
    _refund_rejected(TRANSACTION, shipment.public_id, hooks)
    shipment.refresh_from_db()
    services.shipment_void(shipment=shipment)
    mocked.remove(responses.GET, TX_URL)
    transaction_says(mocked, TRANSACTION, "REFUNDED")
    for updated in ("t2", "t3"):
        _transaction_updated(
            TRANSACTION, shipment.public_id, "REFUNDED", hooks, updated
        )

    assert Shipment.objects.get().status == ShipmentStatus.VOIDED
    assert [name for name, _ in _events(*_PUBLIC_SHIPMENT_EVENTS)] == [
        "shipment.voided",
        "shipment.void_rejected",
        "shipment.voided",
    ]


_PUBLIC_SHIPMENT_EVENTS = (
    "shipment.voided",
    "shipment.void_rejected",
    "shipment.label_voided",
    "shipment.label_void_rejected",
)


def test_a_shipment_bought_again_names_the_labels_still_refunded(
    account, mocked, django_capture_on_commit_callbacks
):
    """Both labels refunded (void QUEUED), Shippo rejects parcel 2's refund:
    the shop hears the shipment is bought again, then that its own label
    (parcel 1, still refunded at Shippo) is dead; voided again, once."""
    shipment = _bought_in_two_parcels(account)
    mocked.post(f"{BASE}/refunds", status=201, json=fx("refund_queued.json"))
    services.shipment_void(shipment=shipment)
    transaction_says(mocked, SECOND, "REFUNDREJECTED")

    _refund_rejected(SECOND, shipment.public_id, django_capture_on_commit_callbacks)

    events = _events(*_PUBLIC_SHIPMENT_EVENTS)
    assert [name for name, _ in events] == [
        "shipment.voided",
        "shipment.void_rejected",
        "shipment.label_voided",
    ]
    assert (events[2][1]["parcel"], events[2][1]["status"]) == (1, "purchased")
    mocked.remove(responses.POST, f"{BASE}/refunds")
    mocked.add_callback(
        "POST", f"{BASE}/refunds", callback=_refunds_answer(TRANSACTION)
    )
    transaction_says(mocked, TRANSACTION, "REFUNDPENDING")
    shipment.refresh_from_db()

    services.shipment_void(shipment=shipment)

    assert [name for name, _ in _events(*_PUBLIC_SHIPMENT_EVENTS)][3:] == [
        "shipment.voided"
    ]


def test_a_refund_rejected_after_the_quote_was_bought_again_is_applied(
    account, django_capture_on_commit_callbacks
):
    """Through Shippo's webhook: the voided label's refund is rejected after
    the shop bought the same quote again (allowed once voided). The webhook is
    applied (the label is billed and live again; the quote stays with the
    second label), not a 500 Shippo redelivers while the shipment stays
    voided."""
    from tests.shipping.providers.test_shippo_pickups import _bought

    voided = _queued(account, status=ShipmentStatus.VOIDED, tracking_number=NUMBER)
    second = _bought(account)  # the quote's second label, live
    Shipment.objects.filter(pk=second.pk).update(
        carrier_shipment_id="a1b2c3d4e5f60718293a4b5c6d7e8f90",
        tracking_number="9205590164917312750000",
    )
    Shipment.objects.filter(pk=voided.pk).update(quote=second.quote)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        transaction_says(rsps, TRANSACTION, "REFUNDREJECTED")
        said = _refund_rejected(
            TRANSACTION, voided.public_id, django_capture_on_commit_callbacks
        )
    voided.refresh_from_db()
    assert (said, voided.status) == (200, ShipmentStatus.PURCHASED)
    assert voided.quote_id is None


@pytest.mark.parametrize("number", ["9" * 120, "92055901\x0064917312751089"])
def test_a_bought_label_whose_tracking_number_cannot_be_stored_is_left_unknown(
    account, number
):
    """Shippo bought (and bills) the label; its tracking number is longer than
    our column or carries a NUL. Not a 500 leaving the shipment 'purchasing'
    (nor every sweep after it): the shipment is unknown, for staff to settle."""
    answer = fx("transaction_success.json")
    answer["tracking_number"] = number
    quote = RateQuote.objects.create(
        fingerprint="s" * 64,
        account=account,
        carrier="USPS",
        service_code="usps_priority",
        service_name="USPS Priority Mail",
        carrier_rate_id=RATE_ID,
        amount=790,
        currency="USD",
        request=codec.request_to_json(shared.rate_request()),
        expires_at=timezone.now() + timedelta(minutes=10),
    )
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        rsps.post(f"{BASE}/transactions", status=201, json=answer)
        rsps.get(LABEL_URL, body=PDF)
        shipment = services.shipment_buy(
            quote_id=quote.public_id, idempotency_key="b-1"
        )
    assert (shipment.status, shipment.failure_code) == (
        ShipmentStatus.UNKNOWN,
        "malformed_response",
    )
    # Ten minutes on, the sweep asks Shippo, which lists the same transaction:
    Shipment.objects.filter(pk=shipment.pk).update(
        created_at=timezone.now() - timedelta(minutes=30)
    )
    listed = {**answer, "metadata": shipment.public_id}
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        rsps.get(f"{BASE}/transactions", json={"results": [listed], "next": None})
        rsps.get(f"{BASE}/transactions/{listed['object_id']}", json=listed)
        rsps.get(LABEL_URL, body=PDF)
        services.shipments_reconcile_unknown()
    shipment.refresh_from_db()
    assert shipment.status == ShipmentStatus.UNKNOWN
