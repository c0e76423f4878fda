"""Voiding a label: two voids racing call the carrier once and emit one
event; a refused void can be tried again; a claim whose process died is
taken over."""

import contextlib
import threading
from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from integrations.api import idempotency
from integrations.errors import Unknown
from integrations.events import Event
from integrations.models import IdempotencyRecord
from shipping import services
from shipping.models import SandboxLabel, Shipment, ShipmentAttempt, ShipmentStatus
from shipping.providers.base import LabelUpdate, VoidResult
from shipping.providers.sandbox import SandboxShippingAdapter
from shipping.services import claims, voids
from tests.factories import ApiKeyFactory
from tests.pg import on_a_lock_wait
from tests.shipping.helpers import carrier
from tests.shipping.test_labels import _quote

SHIPMENTS = "/api/v1/shipping/shipments/"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_concurrent_voids_void_once_and_emit_one_event(monkeypatch):
    """Two void requests racing (two storefront workers, or the admin button
    and the API) must give one carrier void and one ``shipment.voided``."""
    quote = _quote(carrier("post"))
    shipment = services.shipment_buy(quote_id=quote.public_id, idempotency_key="b1")
    assert shipment.status == ShipmentStatus.PURCHASED

    calls = []
    original = SandboxShippingAdapter.carrier_void_label
    barrier = threading.Barrier(2)

    def slow_void(self, request):
        calls.append(request.carrier_shipment_id)
        with contextlib.suppress(threading.BrokenBarrierError):
            barrier.wait(timeout=5)  # both requests are at the carrier at once
        return original(self, request)

    monkeypatch.setattr(SandboxShippingAdapter, "carrier_void_label", slow_void)
    key = ApiKeyFactory(scopes=["shipping:read", "shipping:write"])
    statuses = []

    def void(n: int) -> None:
        try:
            client = APIClient()
            client.credentials(HTTP_AUTHORIZATION=f"Bearer {key.raw_key}")
            answer = client.post(
                f"{SHIPMENTS}{shipment.public_id}/void/",
                HTTP_IDEMPOTENCY_KEY=f"void-{n}",
            )
            statuses.append(answer.status_code)
        finally:
            barrier.abort()  # ended: it will not reach the carrier now
            connection.close()

    threads = [threading.Thread(target=void, args=(n,)) for n in range(2)]
    with on_a_lock_wait(barrier.abort):  # one waits on the other's lock
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)

    assert Shipment.objects.get().status == ShipmentStatus.VOIDED
    voided_events = Event.objects.filter(name="shipment.voided").count()
    assert (len(calls), voided_events) == (1, 1)
    assert sorted(statuses) == [200, 409]


@pytest.mark.django_db
def test_a_refused_void_can_be_tried_again(monkeypatch):
    quote = _quote(carrier("post"))
    shipment = services.shipment_buy(quote_id=quote.public_id, idempotency_key="r1")
    original = SandboxShippingAdapter.carrier_void_label
    monkeypatch.setattr(
        SandboxShippingAdapter,
        "carrier_void_label",
        lambda self, request: VoidResult(voided=False, detail="not yet"),
    )

    with pytest.raises(services.InvalidState) as refused:
        services.shipment_void(shipment=shipment)
    monkeypatch.setattr(SandboxShippingAdapter, "carrier_void_label", original)
    services.shipment_void(shipment=Shipment.objects.get(pk=shipment.pk))

    assert refused.value.code == "void_refused"
    stored = Shipment.objects.get(pk=shipment.pk)
    assert (stored.status, stored.void_started_at) == (ShipmentStatus.VOIDED, None)


@pytest.mark.django_db
def test_a_void_under_way_is_refused_and_a_dead_ones_claim_taken_over():
    quote = _quote(carrier("post"))
    shipment = services.shipment_buy(quote_id=quote.public_id, idempotency_key="r2")
    Shipment.objects.filter(pk=shipment.pk).update(void_started_at=timezone.now())

    with pytest.raises(services.InvalidState) as busy:
        services.shipment_void(shipment=Shipment.objects.get(pk=shipment.pk))
    Shipment.objects.filter(pk=shipment.pk).update(
        void_started_at=timezone.now() - timedelta(minutes=11)
    )
    services.shipment_void(shipment=Shipment.objects.get(pk=shipment.pk))

    assert busy.value.code == "void_in_progress"
    assert Shipment.objects.get(pk=shipment.pk).status == ShipmentStatus.VOIDED
    assert Event.objects.filter(name="shipment.voided").count() == 1


@pytest.mark.django_db
def test_a_void_whose_claim_was_taken_over_does_not_announce_it_twice(monkeypatch):
    quote = _quote(carrier("post"))
    shipment = services.shipment_buy(quote_id=quote.public_id, idempotency_key="r3")
    original = SandboxShippingAdapter.carrier_void_label

    def slow_then_taken_over(self, request):
        result = original(self, request)
        # Ours ran past the claim's life: another void took it over and
        # finished while this carrier call was still answering.
        Shipment.objects.filter(pk=shipment.pk).update(
            status=ShipmentStatus.VOIDED, void_started_at=None
        )
        return result

    monkeypatch.setattr(
        SandboxShippingAdapter, "carrier_void_label", slow_then_taken_over
    )

    services.shipment_void(shipment=shipment)

    assert shipment.status == ShipmentStatus.VOIDED
    assert not Event.objects.filter(name="shipment.voided").exists()


@pytest.mark.django_db
def test_a_void_resent_after_its_process_died_past_the_carrier_settles_once():
    quote = _quote(carrier("post"))
    shipment = services.shipment_buy(quote_id=quote.public_id, idempotency_key="r4")
    # The first process claimed the void, wrote its attempt and the carrier
    # voided the label; it died before recording it.
    SandboxLabel.objects.filter(tracking_number=shipment.tracking_number).update(
        voided=True
    )
    ShipmentAttempt.objects.create(
        shipment=shipment,
        account=shipment.account,
        operation="void_label",
        idempotency_key=f"{shipment.idempotency_key}-void",
    )
    Shipment.objects.filter(pk=shipment.pk).update(
        void_started_at=timezone.now() - timedelta(minutes=11)
    )

    services.shipment_void(shipment=Shipment.objects.get(pk=shipment.pk))

    stored = Shipment.objects.get(pk=shipment.pk)
    assert (stored.status, stored.void_started_at) == (ShipmentStatus.VOIDED, None)
    assert Event.objects.filter(name="shipment.voided").count() == 1
    keys = ShipmentAttempt.objects.filter(operation="void_label").values_list(
        "idempotency_key", flat=True
    )
    assert set(keys) == {f"{shipment.idempotency_key}-void"}


def _void_client() -> APIClient:
    key = ApiKeyFactory(scopes=["shipping:read", "shipping:write"])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key.raw_key}")
    return client


def _killed(*args, **kwargs):
    raise SystemExit(1)  # gunicorn's worker timeout


def _void_killed_before_its_answer(api: APIClient, url: str, monkeypatch) -> None:
    with monkeypatch.context() as m:
        m.setattr(idempotency, "_complete", _killed)
        with pytest.raises(SystemExit):
            api.post(url, {}, format="json", HTTP_IDEMPOTENCY_KEY="void-1")
    # The client retries once the in-flight record counts as abandoned.
    timeout = settings.IDEMPOTENCY_IN_FLIGHT_TIMEOUT_SECONDS + 1
    IdempotencyRecord.objects.filter(state="in_flight").update(
        created_at=timezone.now() - timedelta(seconds=timeout)
    )


@pytest.mark.django_db(transaction=True)
def test_a_label_void_retried_after_a_death_answers_what_the_first_did(monkeypatch):
    quote = _quote(carrier("post"))
    shipment = services.shipment_buy(quote_id=quote.public_id, idempotency_key="d1")
    api = _void_client()
    url = f"{SHIPMENTS}{shipment.public_id}/void/"
    _void_killed_before_its_answer(api, url, monkeypatch)
    assert Shipment.objects.get().status == ShipmentStatus.VOIDED

    retry = api.post(url, {}, format="json", HTTP_IDEMPOTENCY_KEY="void-1")

    # The first run voided the label and answered 200; one carrier void.
    assert retry.status_code == 200, (retry.status_code, retry.json())
    assert retry.json()["status"] == "voided"
    assert ShipmentAttempt.objects.filter(operation="void_label").count() == 1
    assert Event.objects.filter(name="shipment.voided").count() == 1
    other = api.post(url, {}, format="json", HTTP_IDEMPOTENCY_KEY="void-2")
    # Another key finds the void done too: the voided shipment, nothing sent.
    assert (other.status_code, other.json()["status"]) == (200, "voided")
    assert ShipmentAttempt.objects.filter(operation="void_label").count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_void_retry_after_another_requests_void_answers_it_done(monkeypatch):
    quote = _quote(carrier("post"))
    shipment = services.shipment_buy(quote_id=quote.public_id, idempotency_key="d2")
    api = _void_client()
    url = f"{SHIPMENTS}{shipment.public_id}/void/"
    with monkeypatch.context() as m:
        # The dead request never reached the void: staff voided it meanwhile.
        m.setattr(voids, "_claim", _killed)
        with pytest.raises(SystemExit):
            api.post(url, {}, format="json", HTTP_IDEMPOTENCY_KEY="void-1")
    services.shipment_void(shipment=Shipment.objects.get())

    retry = api.post(url, {}, format="json", HTTP_IDEMPOTENCY_KEY="void-1")

    # Voided by another request: the void done all the same (any key), and
    # this retry sends nothing and announces nothing.
    assert (retry.status_code, retry.json()["status"]) == (200, "voided")
    assert ShipmentAttempt.objects.filter(operation="void_label").count() == 1
    assert Event.objects.filter(name="shipment.voided").count() == 1


class _Killed(BaseException):
    """SIGKILL stand-in: raised where the process stops; the handlers a real
    kill never runs are switched off."""


def _void_killed_at(monkeypatch, api, url: str, owner, name: str, claim_kept=True):
    """The void under key void-1 killed where ``owner.name`` runs: its key's
    record is not abandoned, nor (``claim_kept``) its void claim released."""

    def dies(*args, **kwargs):
        raise _Killed

    with monkeypatch.context() as m:
        m.setattr(owner, name, dies)
        if claim_kept:
            m.setattr(voids, "_release", lambda *a, **k: None)  # never runs
        m.setattr(idempotency, "_abandon", lambda *a, **k: None)  # idem
        with pytest.raises(_Killed):
            api.post(url, {}, format="json", HTTP_IDEMPOTENCY_KEY="void-1")


@pytest.mark.django_db(transaction=True)
def test_a_label_void_killed_after_the_carrier_is_answered_on_a_later_retry(
    monkeypatch,
):
    quote = _quote(carrier("post"))
    shipment = services.shipment_buy(quote_id=quote.public_id, idempotency_key="k9")
    api = _void_client()
    url = f"{SHIPMENTS}{shipment.public_id}/void/"

    # Killed right after the carrier call.
    _void_killed_at(monkeypatch, api, url, voids, "_parcels_voided")
    assert SandboxLabel.objects.get(tracking_number=shipment.tracking_number).voided

    # The retry once the in-flight record counts as dead (300 s), while the
    # dead run's void claim (VOID_CLAIM, 10 min) still stands: the re-run
    # takes over the claim its own dead run made.
    timeout = settings.IDEMPOTENCY_IN_FLIGHT_TIMEOUT_SECONDS + 1
    IdempotencyRecord.objects.update(
        created_at=timezone.now() - timedelta(seconds=timeout)
    )
    first = api.post(url, {}, format="json", HTTP_IDEMPOTENCY_KEY="void-1")
    assert (first.status_code, first.json().get("status")) == (200, "voided"), (
        first.json()
    )
    assert Shipment.objects.get().status == ShipmentStatus.VOIDED
    assert Event.objects.filter(name="shipment.voided").count() == 1

    later = api.post(url, {}, format="json", HTTP_IDEMPOTENCY_KEY="void-1")
    assert (later.status_code, later["Idempotent-Replayed"]) == (200, "true")


@pytest.mark.django_db(transaction=True)
def test_a_void_in_progress_is_not_stored_as_the_keys_answer():
    quote = _quote(carrier("post"))
    shipment = services.shipment_buy(quote_id=quote.public_id, idempotency_key="k8")
    api = _void_client()
    url = f"{SHIPMENTS}{shipment.public_id}/void/"
    # Another void (another process) holds the claim.
    Shipment.objects.update(void_started_at=timezone.now())

    busy = api.post(url, {}, format="json", HTTP_IDEMPOTENCY_KEY="void-1")
    assert busy.status_code == 409
    assert busy.json()["error"]["code"] == "void_in_progress"
    assert not IdempotencyRecord.objects.filter(key="void-1").exists()

    # That void died; its claim has run out: the same key now voids.
    Shipment.objects.update(void_started_at=timezone.now() - timedelta(minutes=11))
    later = api.post(url, {}, format="json", HTTP_IDEMPOTENCY_KEY="void-1")
    assert (later.status_code, later.json()["status"]) == (200, "voided")


@pytest.mark.django_db(transaction=True)
def test_a_dead_voids_retry_is_answered_after_another_key_took_its_claim(
    monkeypatch,
):
    quote = _quote(carrier("post"))
    shipment = services.shipment_buy(quote_id=quote.public_id, idempotency_key="k7")
    api = _void_client()
    url = f"{SHIPMENTS}{shipment.public_id}/void/"

    _void_killed_at(monkeypatch, api, url, SandboxShippingAdapter, "carrier_void_label")
    # Past the claim's life, another request (another key) takes it over.
    long_ago = timezone.now() - claims.CLAIM_LIFE - timedelta(minutes=1)
    Shipment.objects.update(void_started_at=long_ago)
    IdempotencyRecord.objects.update(created_at=long_ago)
    other = api.post(url, {}, format="json", HTTP_IDEMPOTENCY_KEY="void-2")
    assert (other.status_code, other.json().get("status")) == (200, "voided")

    retry = api.post(url, {}, format="json", HTTP_IDEMPOTENCY_KEY="void-1")

    assert (retry.status_code, retry.json().get("status")) == (200, "voided"), (
        retry.json()
    )
    assert Event.objects.filter(name="shipment.voided").count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_dead_voids_retry_leaves_a_claim_another_key_holds_now(monkeypatch):
    quote = _quote(carrier("post"))
    shipment = services.shipment_buy(quote_id=quote.public_id, idempotency_key="k6")
    api = _void_client()
    url = f"{SHIPMENTS}{shipment.public_id}/void/"

    _void_killed_at(monkeypatch, api, url, SandboxShippingAdapter, "carrier_void_label")
    long_ago = timezone.now() - claims.CLAIM_LIFE - timedelta(minutes=1)
    Shipment.objects.update(void_started_at=long_ago)
    IdempotencyRecord.objects.update(created_at=long_ago)
    original = SandboxShippingAdapter.carrier_void_label
    calls, answers = [], []

    def retry_meanwhile(self, request):
        # Another key took the dead void's claim; while it is at the carrier
        # the dead request's retry comes in.
        calls.append(request.carrier_shipment_id)
        if len(calls) == 1:
            answers.append(
                api.post(url, {}, format="json", HTTP_IDEMPOTENCY_KEY="void-1")
            )
        return original(self, request)

    monkeypatch.setattr(SandboxShippingAdapter, "carrier_void_label", retry_meanwhile)
    other = api.post(url, {}, format="json", HTTP_IDEMPOTENCY_KEY="void-2")

    assert (other.status_code, other.json().get("status")) == (200, "voided")
    assert len(calls) == 1
    assert answers[0].status_code == 409, answers[0].json()
    assert answers[0].json()["error"]["code"] == "void_in_progress"
    retry = api.post(url, {}, format="json", HTTP_IDEMPOTENCY_KEY="void-1")
    assert (retry.status_code, retry.json().get("status")) == (200, "voided")
    assert Event.objects.filter(name="shipment.voided").count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_void_retry_whose_dead_run_noted_the_old_intent_is_answered_200(
    monkeypatch,
):
    # Across a deploy: the dead run was a worker of the previous release.
    quote = _quote(carrier("post"))
    shipment = services.shipment_buy(quote_id=quote.public_id, idempotency_key="k1")
    api = _void_client()
    url = f"{SHIPMENTS}{shipment.public_id}/void/"
    with monkeypatch.context() as m:
        # Voided and recorded; the worker dies before storing the response.
        m.setattr(idempotency, "_complete", _killed)
        m.setattr(idempotency, "_abandon", lambda *a, **k: None)  # killed
        with pytest.raises(SystemExit):
            api.post(url, {}, format="json", HTTP_IDEMPOTENCY_KEY="void-1")
    assert Shipment.objects.get().status == ShipmentStatus.VOIDED
    record = IdempotencyRecord.objects.get(key="void-1")
    assert record.done_mark.startswith(f"shipment.void:{shipment.public_id}@")
    # That release noted its intent without the claim's instant.
    timeout = settings.IDEMPOTENCY_IN_FLIGHT_TIMEOUT_SECONDS + 1
    IdempotencyRecord.objects.filter(pk=record.pk).update(
        done_mark=f"shipment.void:{shipment.public_id}",
        created_at=timezone.now() - timedelta(seconds=timeout),
    )

    retry = api.post(url, {}, format="json", HTTP_IDEMPOTENCY_KEY="void-1")

    # As that release answered it: 200 with the voided label, not a 409.
    assert (retry.status_code, retry.json().get("status")) == (200, "voided"), (
        retry.status_code,
        retry.json(),
    )


@pytest.mark.django_db(transaction=True)
def test_a_void_killed_between_its_claim_and_its_intent_is_voided_on_retry(
    monkeypatch,
):
    quote = _quote(carrier("post"))
    shipment = services.shipment_buy(quote_id=quote.public_id, idempotency_key="k2")
    api = _void_client()
    url = f"{SHIPMENTS}{shipment.public_id}/void/"

    # Killed right after the claim.
    _void_killed_at(monkeypatch, api, url, voids, "record_intent", claim_kept=False)
    timeout = settings.IDEMPOTENCY_IN_FLIGHT_TIMEOUT_SECONDS + 1
    IdempotencyRecord.objects.filter(state="in_flight").update(
        created_at=timezone.now() - timedelta(seconds=timeout)
    )

    retry = api.post(url, {}, format="json", HTTP_IDEMPOTENCY_KEY="void-1")

    # The claim died with the intent (one commit): no claim without an
    # intent that only CLAIM_LIFE would free (409 void_in_progress).
    assert (retry.status_code, retry.json().get("status")) == (200, "voided"), (
        retry.status_code,
        retry.json(),
    )
    assert Event.objects.filter(name="shipment.voided").count() == 1


@pytest.mark.django_db
def test_a_late_void_success_is_recorded_and_announced_once(monkeypatch):
    """Ours runs past its claim; another void takes it over and its call gets
    no answer (502, claim released). Ours is then confirmed: the carrier
    voided the label, so the shipment is voided, announced once, and our
    caller is answered voided."""
    shipment = services.shipment_buy(
        quote_id=_quote(carrier("post")).public_id, idempotency_key="late-v1"
    )
    real = SandboxShippingAdapter.carrier_void_label
    calls: list[int] = []

    def carrier_void(self, request):
        calls.append(1)
        if len(calls) == 2:
            raise Unknown("read timeout", code="timeout")
        stale = timezone.now() - timedelta(minutes=11)
        Shipment.objects.filter(pk=shipment.pk).update(void_started_at=stale)
        with pytest.raises(services.ShippingError) as other:
            services.shipment_void(shipment=Shipment.objects.get(pk=shipment.pk))
        assert other.value.status_code == 502
        return real(self, request)  # ours: voided, late

    monkeypatch.setattr(SandboxShippingAdapter, "carrier_void_label", carrier_void)

    answered = services.shipment_void(shipment=shipment)

    assert answered.status == ShipmentStatus.VOIDED
    stored = Shipment.objects.get(pk=shipment.pk)
    assert (stored.status, stored.void_started_at) == (ShipmentStatus.VOIDED, None)
    assert Event.objects.filter(name="shipment.voided").count() == 1


CARRIER_WORDS = "Acct 0ABC12 / shipper ref INT-9931: VOID WINDOW CLOSED (190102)"


@pytest.mark.django_db
def test_a_refused_void_keeps_the_carriers_words_for_staff_only(monkeypatch):
    """issue 17, 3: the storefront gets our own message for void_refused; the
    carrier's text is on the void attempt, for staff."""
    shipment = services.shipment_buy(
        quote_id=_quote(carrier("post")).public_id, idempotency_key="refused-v1"
    )
    monkeypatch.setattr(
        SandboxShippingAdapter,
        "carrier_void_label",
        lambda self, request: VoidResult(voided=False, detail=CARRIER_WORDS),
    )
    client = APIClient()
    key = ApiKeyFactory(scopes=["shipping:read", "shipping:write"])
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key.raw_key}")

    answer = client.post(
        f"{SHIPMENTS}{shipment.public_id}/void/", HTTP_IDEMPOTENCY_KEY="refused-1"
    )

    assert answer.status_code == 409
    assert answer.json()["error"]["code"] == "void_refused"
    assert "VOID WINDOW CLOSED" not in answer.content.decode()
    attempt = ShipmentAttempt.objects.get(shipment=shipment, operation="void_label")
    assert (attempt.outcome, attempt.error_code) == ("rejected", "void_refused")
    assert "VOID WINDOW CLOSED" in attempt.error_message
    assert Shipment.objects.get(pk=shipment.pk).status == ShipmentStatus.PURCHASED


@pytest.mark.django_db
def test_a_void_without_an_answer_keeps_the_carriers_words_for_staff(monkeypatch):
    shipment = services.shipment_buy(
        quote_id=_quote(carrier("post")).public_id, idempotency_key="lost-v1"
    )

    def lost(self, request):
        raise Unknown(CARRIER_WORDS, code="timeout")

    monkeypatch.setattr(SandboxShippingAdapter, "carrier_void_label", lost)

    with pytest.raises(services.ShippingError) as caught:
        services.shipment_void(shipment=shipment)

    assert (caught.value.code, caught.value.status_code) == ("carrier_unknown", 502)
    assert "VOID WINDOW CLOSED" not in caught.value.message
    assert "VOID WINDOW CLOSED" in caught.value.staff_detail


@pytest.mark.django_db
def test_a_refund_rejected_during_a_void_is_retried_until_the_void_settles():
    """A rejection applied while a void is at the carrier would be overwritten
    by the void's answer: it fails (``VoidUnderWay``) and the webhook intake
    retries it, with retries lasting far longer than a void may hold its claim
    (never dead-lettered while the void can still answer)."""
    from shipping.providers.base import LabelUpdate

    quote = _quote(carrier("post"))
    shipment = services.shipment_buy(quote_id=quote.public_id, idempotency_key="r1")
    Shipment.objects.filter(pk=shipment.pk).update(void_started_at=timezone.now())
    rejected = LabelUpdate(shipment.carrier_shipment_id, refund_rejected=True)

    with pytest.raises(voids.VoidUnderWay):
        services.shipment_void_rejected_apply(shipment=shipment, update=rejected)

    base, cap = settings.WEBHOOK_RETRY_BASE_SECONDS, settings.WEBHOOK_RETRY_MAX_SECONDS
    retried_for = sum(
        min(base * 2 ** (attempt - 1), cap)
        for attempt in range(1, settings.WEBHOOK_MAX_ATTEMPTS)
    )
    assert timedelta(seconds=retried_for) > 3 * claims.CLAIM_LIFE


@pytest.mark.django_db
def test_staff_see_the_carriers_words_when_a_void_from_the_admin_is_refused(
    monkeypatch, admin_client
):
    # The storefront gets our message only; the admin's message adds what the
    # carrier said (masked), as the pickup actions do.
    shipment = services.shipment_buy(
        quote_id=_quote(carrier("post")).public_id, idempotency_key="refused-admin"
    )
    monkeypatch.setattr(
        SandboxShippingAdapter,
        "carrier_void_label",
        lambda self, request: VoidResult(voided=False, detail=CARRIER_WORDS),
    )

    page = admin_client.post(
        f"/admin/shipping/shipment/{shipment.pk}/void/", follow=True
    )

    said = [str(m) for m in page.context["messages"]]
    assert any("VOID WINDOW CLOSED" in text for text in said), said
    assert Shipment.objects.get(pk=shipment.pk).status == ShipmentStatus.PURCHASED


@pytest.mark.django_db
def test_a_rejected_refund_reopens_a_voided_label_whose_quote_was_bought_again(
    caplog,
):
    """A voided label lets its quote be bought again; the carrier then rejects
    the first label's refund. Its word wins (purchased again, the shop told
    shipment.void_rejected) and the quote stays with the second label (one
    live label per quote), not an IntegrityError redelivered for ever."""
    quote = _quote(carrier("post"))
    first = services.shipment_buy(quote_id=quote.public_id, idempotency_key="a1")
    services.shipment_void(shipment=first)
    first.refresh_from_db()
    assert first.status == ShipmentStatus.VOIDED
    second = services.shipment_buy(quote_id=quote.public_id, idempotency_key="a2")
    assert second.status == ShipmentStatus.PURCHASED

    services.shipment_void_rejected_apply(
        shipment=first,
        update=LabelUpdate(first.carrier_shipment_id, refund_rejected=True),
    )

    first.refresh_from_db()
    second.refresh_from_db()
    assert first.status == ShipmentStatus.PURCHASED  # the carrier's word
    assert (first.quote_id, second.quote_id) == (None, quote.pk)
    assert Event.objects.filter(name="shipment.void_rejected").count() == 1
    alerts = [r for r in caplog.records if "quote was bought again" in r.message]
    assert len(alerts) == 1
