"""Labels under carrier faults: an answer of the wrong shape, a lost answer, a
retry under a new key, a look-up that breaks the sweep; every one has an end
and none buys a second label."""

from datetime import timedelta

import pytest
import requests as rq
import responses
from django.utils import timezone

from shipping import codec, services
from shipping.models import RateQuote, Shipment, ShipmentAttempt
from tests.shipping.contract import requests
from tests.shipping.helpers import api_client, fedex_account
from tests.shipping.providers.wire import load

pytestmark = pytest.mark.django_db

FEDEX = "https://apis-sandbox.fedex.com"
SHIPMENTS = "/api/v1/shipping/shipments/"


def _api():
    return api_client("shipping:read", "shipping:write", raise_request_exception=False)


def _quote(account, carrier, service, **values) -> RateQuote:
    defaults = {
        "fingerprint": "f" * 64,
        "account": account,
        "carrier": carrier,
        "service_code": service,
        "service_name": service.title(),
        "amount": 840,
        "currency": "USD",
        "request": codec.request_to_json(requests.rate_request()),
        "expires_at": timezone.now() + timedelta(minutes=10),
    }
    return RateQuote.objects.create(**{**defaults, **values})


@pytest.mark.parametrize(
    "body",
    [
        {"output": {"transactionShipments": {"x": 1}}},
        {"output": {"transactionShipments": ["oops"]}},
        {
            "output": {
                "transactionShipments": [
                    {
                        "pieceResponses": [
                            {"packageSequenceNumber": "1", "trackingNumber": "1"},
                            {"packageSequenceNumber": 2, "trackingNumber": "2"},
                        ]
                    }
                ]
            }
        },
    ],
)
def test_a_fedex_label_200_with_a_broken_body_leaves_the_label_unknown(body):
    account = fedex_account()
    quote = _quote(account, "fedex", "FEDEX_GROUND")
    api = _api()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        rsps.post(f"{FEDEX}/oauth/token", json=load("fedex", "oauth_token.json"))
        rsps.post(f"{FEDEX}/ship/v1/shipments", json=body)
        answer = api.post(
            SHIPMENTS,
            {"quote_id": quote.public_id, "order_id": "o1"},
            format="json",
            HTTP_IDEMPOTENCY_KEY="buy-1",
        )
    assert answer.status_code < 500, answer.content
    shipment = Shipment.objects.get()
    # The carrier answered 200: a label may have been billed. Never 'failed'
    # (the shop would buy again), never left 'purchasing'.
    assert shipment.status == "unknown"


def test_a_new_key_for_a_quote_whose_label_is_unknown_buys_no_second_label():
    """The shop got 202 'unknown' and retries under a new key (its own retry
    layer, or a re-rendered admin page): the quote's label may exist
    already, so a second purchase is refused (409 label_in_progress, naming
    the shipment) while the first is unsettled, and once it is bought
    (409 quote_bought)."""
    from shipping.models import SandboxLabel
    from tests.shipping.helpers import carrier

    slow = _quote(carrier("slow", lose_label_answers=True), "sandbox", "SBX_GROUND")
    api = _api()
    body = {"quote_id": slow.public_id, "order_id": "o-7"}
    first = api.post(SHIPMENTS, body, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert first.status_code == 202 and first.json()["status"] == "unknown"
    second = api.post(SHIPMENTS, body, format="json", HTTP_IDEMPOTENCY_KEY="k-2")
    assert SandboxLabel.objects.count() == 1, (
        f"second label bought: {second.status_code} {second.json()}"
    )
    assert second.status_code == 409
    error = second.json()["error"]
    assert error["code"] == "label_in_progress"
    assert first.json()["id"] in error["message"]

    services.shipments_reconcile_unknown()  # the sandbox finds its label
    assert Shipment.objects.get().status == "purchased"
    third = api.post(SHIPMENTS, body, format="json", HTTP_IDEMPOTENCY_KEY="k-3")
    assert third.status_code == 409
    assert third.json()["error"]["code"] == "quote_bought"
    assert SandboxLabel.objects.count() == 1
    # The first key still answers its own shipment.
    again = api.post(SHIPMENTS, body, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert again.json()["id"] == first.json()["id"]


def test_a_failed_or_voided_label_lets_its_quote_be_bought_again():
    from tests.shipping.helpers import carrier

    quote = _quote(carrier("post"), "sandbox", "SBX_GROUND")
    bought = services.shipment_buy(quote_id=quote.public_id, idempotency_key="a")
    Shipment.objects.filter(pk=bought.pk).update(status="failed")
    again = services.shipment_buy(quote_id=quote.public_id, idempotency_key="b")
    assert again.status == "purchased" and again.pk != bought.pk


def test_a_late_label_for_a_failed_shipment_whose_quote_was_bought_again_is_kept():
    """The carrier's word wins: a label it made for a shipment we failed is
    recorded even though the quote was bought again meanwhile (two labels
    exist; staff void one); the quote stays with the newer label."""
    from shipping.providers.base import Label, LabelStatus, LabelUpdate
    from tests.shipping.helpers import carrier

    quote = _quote(carrier("post"), "sandbox", "SBX_GROUND")
    lost = services.shipment_buy(quote_id=quote.public_id, idempotency_key="a")
    Shipment.objects.filter(pk=lost.pk).update(status="failed")
    newer = services.shipment_buy(quote_id=quote.public_id, idempotency_key="b")
    lost.refresh_from_db()
    label = Label(LabelStatus.CREATED, "late-1", tracking_number="late-1")
    update = LabelUpdate("late-1", reference=lost.public_id, label=label)

    assert services.shipment_label_update_apply(shipment=lost, update=update)

    lost.refresh_from_db()
    newer.refresh_from_db()
    assert (lost.status, lost.quote_id) == ("purchased", None)
    assert (newer.status, newer.quote_id) == ("purchased", quote.pk)


def test_another_quote_for_the_same_order_may_be_bought():
    """An order may ship in several shipments: only the quote is held."""
    from tests.shipping.helpers import carrier

    account = carrier("post")
    first = _quote(account, "sandbox", "SBX_GROUND")
    second = _quote(account, "sandbox", "SBX_EXPRESS")
    one = services.shipment_buy(
        quote_id=first.public_id, idempotency_key="a", order_id="o-1"
    )
    two = services.shipment_buy(
        quote_id=second.public_id, idempotency_key="b", order_id="o-1"
    )
    assert (one.status, two.status) == ("purchased", "purchased")


def test_a_fedex_buy_whose_answer_breaks_the_parser_ends_unknown():
    """After a 500 the shipment is 'purchasing'; the sweep takes stuck buys
    after 10 minutes 'as unknown' (docs/shipping.md), but FedEx cannot look
    labels up: the row must at least end 'unknown' (the state staff watch),
    not 'purchasing' for ever."""
    account = fedex_account()
    quote = _quote(account, "fedex", "FEDEX_GROUND")
    api = _api()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        rsps.post(f"{FEDEX}/oauth/token", json=load("fedex", "oauth_token.json"))
        rsps.post(f"{FEDEX}/ship/v1/shipments", json={"output": "x"})
        api.post(
            SHIPMENTS,
            {"quote_id": quote.public_id},
            format="json",
            HTTP_IDEMPOTENCY_KEY="buy-1",
        )
        Shipment.objects.update(created_at=timezone.now() - timedelta(minutes=11))
        services.shipments_reconcile_unknown()
        services.shipments_reconcile_unknown()
    shipment = Shipment.objects.get()
    attempts = list(ShipmentAttempt.objects.values_list("operation", "outcome"))
    assert shipment.status == "unknown", (shipment.status, attempts)


def _bought(account, carrier, number, **values):
    quote = _quote(account, carrier, "P")
    request = quote.request
    return Shipment.objects.create(
        from_address=request["from_address"],
        to_address=request["to_address"],
        parcels=request["parcels"],
        account=account,
        carrier=carrier,
        service_code="P",
        service_name="P",
        amount=840,
        currency="USD",
        quote=quote,
        label_format="pdf",
        tracking_number=number,
        carrier_shipment_id=number,
        **{
            "status": "purchased",
            "tracking_status": "pre_transit",
            "idempotency_key": f"key-{number}",
            **values,
        },
    )


def test_one_malformed_lookup_answer_does_not_stop_the_reconcile_sweep():
    """shipping.reconcile (every 5 min) walks every unknown shipment; one
    Shippo transaction whose body has a wrong type (a bare TypeError in the
    parser) is an inconclusive look-up of that shipment only: the others
    (one Shippo made and billed) are still settled, run after run."""
    import tests.shipping.contract.harness_shippo as shippo

    account = shippo.make_account()
    poisoned = _bought(
        account,
        "shippo",
        "",
        status="unknown",
        tracking_status="unknown",
        idempotency_key="kp",
    )
    Shipment.objects.filter(pk=poisoned.pk).update(carrier_shipment_id="tx_bad")
    waiting = _bought(
        account,
        "shippo",
        "",
        status="unknown",
        tracking_status="unknown",
        idempotency_key="kw",
    )
    # Made before the poisoned one (a newest-first sweep met it last).
    Shipment.objects.filter(pk=waiting.pk).update(
        carrier_shipment_id=shippo.TRANSACTION,
        created_at=timezone.now() - timedelta(hours=2),
    )
    good = shippo.load("transaction_success.json")
    bad = {**good, "object_id": "tx_bad", "status": ["SUCCESS"]}
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        rsps.get(f"{shippo.BASE}/transactions/tx_bad", json=bad)
        rsps.get(f"{shippo.BASE}/transactions/{shippo.TRANSACTION}", json=good)
        rsps.get(shippo.LABEL_URL, body=(shippo.FIXTURES / "label.pdf").read_bytes())
        for _ in range(2):
            services.shipments_reconcile_unknown()
    waiting.refresh_from_db()
    assert waiting.status == "purchased", waiting.status
    poisoned.refresh_from_db()
    assert poisoned.status == "unknown"


def test_a_void_answer_of_the_wrong_shape_is_a_void_in_doubt_not_a_500():
    """FedEx answers the cancel 200 with 'output' of the wrong type: the
    label may well be void at FedEx, so the storefront is told what a lost
    void answer tells it (502 carrier_unknown: try the void again), not 500,
    and the label is kept as bought until a void is confirmed."""
    account = fedex_account()
    shipment = _bought(account, "fedex", "794644790138")
    api = _api()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        rsps.post(f"{FEDEX}/oauth/token", json=load("fedex", "oauth_token.json"))
        rsps.put(f"{FEDEX}/ship/v1/shipments/cancel", json={"output": ["cancelled"]})
        answer = api.post(
            f"{SHIPMENTS}{shipment.public_id}/void/",
            {},
            format="json",
            HTTP_IDEMPOTENCY_KEY="v-1",
        )
    assert answer.status_code == 502, answer.content
    assert answer.json()["error"]["code"] == "carrier_unknown"
    assert "output" not in answer.json()["error"]["message"]
    shipment.refresh_from_db()
    assert shipment.status == "purchased"


def test_a_fedex_label_whose_answer_was_lost_has_an_end(admin_client):
    """FedEx took the label (billed) and the answer was lost (read timeout):
    202 'unknown'. FedEx has no look-up, so reconciliation (sweep, one-off,
    the admin's button) can never settle it: the admin says so (a warning,
    not a success), and staff settle it by hand with what FedEx shows."""
    account = fedex_account()
    quote = _quote(account, "fedex", "FEDEX_GROUND")
    api = _api()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        rsps.post(f"{FEDEX}/oauth/token", json=load("fedex", "oauth_token.json"))
        rsps.post(f"{FEDEX}/ship/v1/shipments", body=rq.exceptions.ReadTimeout("lost"))
        first = api.post(
            SHIPMENTS,
            {"quote_id": quote.public_id},
            format="json",
            HTTP_IDEMPOTENCY_KEY="buy-1",
        )
        assert first.status_code == 202 and first.json()["status"] == "unknown"
        shipment = Shipment.objects.get()
        Shipment.objects.update(created_at=timezone.now() - timedelta(days=3))
        for _ in range(3):
            services.shipments_reconcile_unknown()
        page = admin_client.post(
            f"/admin/shipping/shipment/{shipment.pk}/reconcile/", follow=True
        )
        said = [(m.level_tag, str(m)) for m in page.context["messages"]]
        assert said[0][0] == "warning" and "inconclusive" in said[0][1], said
        assert f"/admin/shipping/shipment/{shipment.pk}/settle/" in page.text
        admin_client.post(
            f"/admin/shipping/shipment/{shipment.pk}/settle/",
            {
                "outcome": "bought",
                "tracking_number": "794644790138",
                "label_format": "pdf",
                "note": "FedEx Ship Manager lists it under our reference.",
            },
        )
    shipment.refresh_from_db()
    assert shipment.status != "unknown"
    assert (shipment.status, shipment.tracking_number) == ("purchased", "794644790138")
    replay = api.post(
        SHIPMENTS,
        {"quote_id": quote.public_id},
        format="json",
        HTTP_IDEMPOTENCY_KEY="buy-1",
    )
    assert replay.status_code in (201, 202)  # the API may replay its first answer


def test_a_buy_whose_process_died_ends_unknown_when_the_carrier_cannot_say():
    """A FedEx buy left 'purchasing' (the worker died mid-call): FedEx has no
    look-up, so past the claim life the sweep makes it 'unknown' (the state
    staff watch and settle); a younger one may still be under way."""
    account = fedex_account()
    old = _bought(account, "fedex", "", status="purchasing", idempotency_key="o")
    young = _bought(account, "fedex", "", status="purchasing", idempotency_key="y")
    Shipment.objects.filter(pk=old.pk).update(
        created_at=timezone.now() - timedelta(minutes=11)
    )
    services.shipments_reconcile_unknown()
    old.refresh_from_db()
    young.refresh_from_db()
    assert old.status == "unknown"
    assert old.failure_code == "lookup_not_supported"
    assert young.status == "purchasing"


def test_the_sweep_asks_the_least_recently_asked_first():
    account = fedex_account()
    first = _bought(account, "fedex", "", status="unknown", idempotency_key="a")
    second = _bought(account, "fedex", "", status="unknown", idempotency_key="b")
    services.shipments_reconcile_unknown(limit=1)
    services.shipments_reconcile_unknown(limit=1)
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.reconciled_at is not None and second.reconciled_at is not None


def test_an_unknown_label_past_a_day_is_reported_to_staff_once(caplog):
    account = fedex_account()
    shipment = _bought(account, "fedex", "", status="unknown", idempotency_key="a")
    Shipment.objects.filter(pk=shipment.pk).update(
        created_at=timezone.now() - timedelta(days=1, minutes=1)
    )
    with caplog.at_level("ERROR", logger="shipping.services.labels"):
        for _ in range(3):
            services.shipments_reconcile_unknown()
    said = [r for r in caplog.records if "over a day" in r.getMessage()]
    assert len(said) == 1
    assert said[0].shipment_id == shipment.public_id


def test_a_shipment_that_breaks_the_sweep_is_logged_and_the_rest_are_asked(
    monkeypatch, caplog
):
    """Anything one shipment raises (a bug, a database error) is logged and
    counted; the sweep goes on with the rest."""
    from shipping.services import labels
    from tests.shipping.helpers import carrier

    account = carrier("post")
    broken = _bought(account, "sandbox", "", status="unknown", idempotency_key="b")
    fine = _bought(account, "sandbox", "", status="unknown", idempotency_key="f")
    original = labels.attempt_run

    def attempt_run(model, *, owner, **kwargs):
        if owner["shipment"].pk == broken.pk:
            raise RuntimeError("a bug")
        return original(model, owner=owner, **kwargs)

    monkeypatch.setattr(labels, "attempt_run", attempt_run)
    with caplog.at_level("ERROR", logger="shipping.services.labels"):
        swept = services.shipments_reconcile_unknown()
    assert [s.pk for s in swept] == [fine.pk]
    fine.refresh_from_db()
    assert fine.status == "failed"  # the sandbox has no such label
    said = {r.getMessage() for r in caplog.records}
    assert {
        "label reconciliation failed",
        "label reconciliation sweep had failures",
    } <= said


def test_a_refused_retry_key_may_buy_once_the_first_label_is_found_not_made():
    """409 label_in_progress is not the key's final answer (it is not stored):
    once staff settle the first label as never made, the same retry key
    buys."""
    from shipping.services.settle import shipment_settle_by_hand
    from tests.shipping.helpers import carrier

    account = carrier("slow", lose_label_answers=True)
    quote = _quote(account, "sandbox", "SBX_GROUND")
    api = _api()
    body = {"quote_id": quote.public_id}
    api.post(SHIPMENTS, body, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    refused = api.post(SHIPMENTS, body, format="json", HTTP_IDEMPOTENCY_KEY="k-2")
    assert refused.status_code == 409
    shipment_settle_by_hand(
        shipment=Shipment.objects.get(),
        outcome="not_bought",
        note="support: none",
        actor="staff",
    )
    account.settings = {}
    account.save()
    bought = api.post(SHIPMENTS, body, format="json", HTTP_IDEMPOTENCY_KEY="k-2")
    assert bought.status_code == 201, bought.content


def test_staff_re_clicking_buy_on_a_re_rendered_page_buy_no_second_label(
    admin_client,
):
    from shipping.models import SandboxLabel
    from tests.shipping.helpers import carrier

    quote = _quote(carrier("slow", lose_label_answers=True), "sandbox", "SBX_GROUND")
    for key in ("page-1", "page-2"):  # each render of the page has its own key
        page = admin_client.post(
            "/admin/shipping/shipment/buy/",
            {"quote_id": quote.public_id, "key": key},
            follow=True,
        )
    said = [str(m) for m in page.context["messages"]]
    assert SandboxLabel.objects.count() == 1
    assert Shipment.objects.count() == 1
    assert any(Shipment.objects.get().public_id in text for text in said), said
