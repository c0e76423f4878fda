"""Concurrent refunds on PostgreSQL never refund more than was captured;
concurrent captures under fresh keys make one gateway call; a capture and a
void at once make one; a dead request's retry never rides on another's."""

import contextlib
import threading
import uuid

import pytest
from django.contrib.admin.models import LogEntry
from django.db import connection
from django.test import Client
from django.urls import reverse

from payments import services, tasks
from payments.models import Payment, Refund, RefundStatus, SandboxCharge
from payments.providers.sandbox import SandboxPaymentsAdapter
from payments.services import followups
from tests.payments.test_rerun_followups import _unknown_then_killed
from tests.pg import on_a_lock_wait

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_concurrent_refunds_never_exceed_captured(primary):
    payment = services.payment_create(
        order_id="race",
        amount=1000,
        currency="EUR",
        source_token="tok_success",
        capture=True,
        idempotency_key=uuid.uuid4().hex,
    )
    barrier = threading.Barrier(8)
    outcomes: list[str] = []

    def refund() -> None:
        try:
            barrier.wait()
            result = services.payment_refund(
                payment=Payment.objects.get(pk=payment.pk), amount=300
            )
            outcomes.append(result.status)
        except services.AmountExceedsRefundable:
            outcomes.append("refused")
        finally:
            connection.close()

    threads = [threading.Thread(target=refund) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    payment.refresh_from_db()
    assert outcomes.count(RefundStatus.SUCCEEDED) == 3
    assert outcomes.count("refused") == 5
    assert payment.amount_refunded == 900
    assert Refund.objects.filter(status=RefundStatus.SUCCEEDED).count() == 3
    charge = SandboxCharge.objects.get(kind="payment")
    assert charge.amount_refunded == 900


def test_two_fresh_keys_capturing_at_once_get_one_capture_and_one_refusal(
    primary, api, monkeypatch
):
    # Both requests read "no capture under way" before either noted its
    # attempt: without a lock both would ride on one gateway key, each
    # answered with a call only one of them made.
    created = api.post(
        "/api/v1/payments/",
        {
            "order_id": "race",
            "amount": 1000,
            "currency": "EUR",
            "source_token": "tok_success",
            "capture": False,
        },
        format="json",
        HTTP_IDEMPOTENCY_KEY=uuid.uuid4().hex,
    )
    url = f"/api/v1/payments/{created.json()['id']}/capture/"
    barrier = threading.Barrier(2, timeout=2)
    real_check = followups._under_way

    def checked_together(*args, **kwargs):
        under_way = real_check(*args, **kwargs)
        # The other request checks too, if it can (not while it waits on a lock).
        with contextlib.suppress(threading.BrokenBarrierError):
            barrier.wait()
        return under_way

    real_capture = SandboxPaymentsAdapter.capture
    calls: list[str] = []

    def counted(self, *args, **kwargs):
        calls.append("capture")
        return real_capture(self, *args, **kwargs)

    monkeypatch.setattr(followups, "_under_way", checked_together)
    monkeypatch.setattr(SandboxPaymentsAdapter, "capture", counted)
    answers: list[tuple[int, str]] = []

    def capture(key: str) -> None:
        try:
            response = api.post(url, {}, format="json", HTTP_IDEMPOTENCY_KEY=key)
            code = response.json().get("error", {}).get("code", "")
            answers.append((response.status_code, code))
        finally:
            connection.close()

    threads = [threading.Thread(target=capture, args=(k,)) for k in ("c-1", "c-2")]
    with on_a_lock_wait(barrier.abort):  # the other waits on a lock: no use waiting
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
    assert sorted(answers)[0] == (200, ""), answers
    assert sorted(answers)[1][0] == 409, answers
    assert sorted(answers)[1][1] in ("capture_in_progress", "invalid_state"), answers
    assert calls == ["capture"]
    assert SandboxCharge.objects.get(kind="payment").amount_captured == 1000


def _authorized(api) -> str:
    created = api.post(
        "/api/v1/payments/",
        {
            "order_id": "race",
            "amount": 1000,
            "currency": "EUR",
            "source_token": "tok_success",
            "capture": False,
        },
        format="json",
        HTTP_IDEMPOTENCY_KEY=uuid.uuid4().hex,
    )
    return created.json()["id"]


@pytest.mark.parametrize("first", ["capture", "void"])
def test_a_capture_and_a_void_at_once_make_one_call_and_one_409(
    primary, api, monkeypatch, first
):
    # Under fresh keys: the second finds the first's attempt at the gateway
    # and is refused without a call, not sent to be refused as a card error.
    pid = _authorized(api)
    other = "void" if first == "capture" else "capture"
    calls: list[str] = []
    answered = threading.Event()
    real = getattr(SandboxPaymentsAdapter, first)

    def held(self, *args, **kwargs):
        calls.append(first)
        answered.wait(10)  # the other request runs meanwhile
        return real(self, *args, **kwargs)

    monkeypatch.setattr(SandboxPaymentsAdapter, first, held)
    _counted_on(monkeypatch, other, calls)
    answers: dict[str, tuple[int, str]] = {}

    def post(operation: str) -> None:
        try:
            response = api.post(
                f"/api/v1/payments/{pid}/{operation}/",
                {},
                format="json",
                HTTP_IDEMPOTENCY_KEY=f"{operation}-1",
            )
            code = response.json().get("error", {}).get("code", "")
            answers[operation] = (response.status_code, code)
        finally:
            connection.close()

    thread = threading.Thread(target=post, args=(first,))
    thread.start()
    while not calls:  # the first request's attempt is at the gateway
        thread.join(0.01)
    try:
        post(other)
    finally:
        answered.set()
        thread.join(30)
    assert answers == {first: (200, ""), other: (409, f"{first}_in_progress")}
    assert calls == [first]
    status = "captured" if first == "capture" else "voided"
    assert Payment.objects.get(public_id=pid).status == status
    assert SandboxCharge.objects.get(kind="payment").status == status


def _counted_on(monkeypatch, operation: str, calls: list[str]) -> None:
    real = getattr(SandboxPaymentsAdapter, operation)

    def counted(self, *args, **kwargs):
        calls.append(operation)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(SandboxPaymentsAdapter, operation, counted)


def test_a_rerun_is_not_answered_from_a_fresh_keys_capture_in_flight(
    primary, api, monkeypatch
):
    # The dead request's capture of 600 never landed (reconciliation found
    # the payment authorized); a fresh key's capture of 1000 is at the
    # gateway under the payment's one capture key when the dead request's
    # retry comes: re-sending that key would answer it with the 1000.
    pid, url = _unknown_then_killed(
        api, monkeypatch, "capture", {"amount": 600}, performed=False
    )
    payment = Payment.objects.get(public_id=pid)
    assert tasks.reconcile_payment(payment.pk) == "authorized"
    real = SandboxPaymentsAdapter.capture
    landed, answered = threading.Event(), threading.Event()
    calls: list[int] = []

    def slow(self, request):
        calls.append(request.amount)
        result = real(self, request)
        landed.set()
        answered.wait(10)
        return result

    monkeypatch.setattr(SandboxPaymentsAdapter, "capture", slow)
    fresh: list[int] = []

    def capture() -> None:
        try:
            response = api.post(
                url, {"amount": 1000}, format="json", HTTP_IDEMPOTENCY_KEY="fresh-1"
            )
            fresh.append(response.status_code)
        finally:
            connection.close()

    thread = threading.Thread(target=capture)
    thread.start()
    assert landed.wait(10)
    try:
        retry = api.post(
            url, {"amount": 600}, format="json", HTTP_IDEMPOTENCY_KEY="op-1"
        )
    finally:
        answered.set()
        thread.join(30)
    assert (retry.status_code, retry.json()["error"]["code"]) == (
        409,
        "capture_in_progress",
    )
    assert (fresh, calls) == ([200], [1000])
    # Not stored: once the 1000 is recorded the retry is refused for good.
    again = api.post(url, {"amount": 600}, format="json", HTTP_IDEMPOTENCY_KEY="op-1")
    assert (again.status_code, again.json()["error"]["code"]) == (409, "invalid_state")
    assert SandboxCharge.objects.get(kind="payment").amount_captured == 1000


# --- staff captures and voids (the admin) ------------------------------------


def _staff(django_user_model, name: str) -> Client:
    user = django_user_model.objects.create_superuser(name, f"{name}@example.com")
    client = Client()
    client.force_login(user)
    return client


def _staff_post(client: Client, operation: str, pid: str) -> list[str]:
    """A staff click on the payment page's button: the messages it shows."""
    pk = Payment.objects.get(public_id=pid).pk
    url = reverse(f"admin:payments_payment_{operation}", args=[pk])
    response = client.post(url, follow=True)
    assert response.status_code == 200
    return [str(m) for m in response.context["messages"]]


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("api-void", "staff-capture"),
        ("api-capture", "staff-void"),
        ("staff-capture", "staff-capture"),  # a second click
        ("staff-void", "staff-capture"),  # two staff at once
        ("staff-capture", "api-void"),
    ],
)
def test_a_staff_capture_or_void_while_another_is_at_the_gateway_is_refused(
    primary, api, monkeypatch, django_user_model, first, second
):
    # Staff go through the API's locked path: the second finds the first's
    # attempt at the gateway, is refused without a call, and staff see why.
    pid = _authorized(api)
    first_by, first_op = first.split("-")
    second_by, second_op = second.split("-")
    calls: list[str] = []
    answered = threading.Event()
    real = getattr(SandboxPaymentsAdapter, first_op)

    def held(self, *args, **kwargs):
        calls.append(first_op)
        answered.wait(10)  # the second request runs meanwhile
        return real(self, *args, **kwargs)

    monkeypatch.setattr(SandboxPaymentsAdapter, first_op, held)
    if second_op != first_op:
        _counted_on(monkeypatch, second_op, calls)
    staff = [_staff(django_user_model, name) for name in ("ada", "bob")]

    def run_first() -> None:
        try:
            if first_by == "api":
                url = f"/api/v1/payments/{pid}/{first_op}/"
                api.post(url, {}, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
            else:
                _staff_post(staff[0], first_op, pid)
        finally:
            connection.close()

    thread = threading.Thread(target=run_first)
    thread.start()
    while not calls:  # the first one's attempt is at the gateway
        thread.join(0.01)
    try:
        if second_by == "api":
            response = api.post(
                f"/api/v1/payments/{pid}/{second_op}/",
                {},
                format="json",
                HTTP_IDEMPOTENCY_KEY="k-2",
            )
            said = [response.json()["error"]["code"]]
            assert response.status_code == 409
        else:
            said = _staff_post(staff[1], second_op, pid)
    finally:
        answered.set()
        thread.join(30)
    assert calls == [first_op]
    if second_by == "api":
        assert said == [f"{first_op}_in_progress"]
    else:
        assert said == [
            f"{pid}: could not {second_op}: A {first_op} of this payment is "
            "already under way; retry later."
        ]
    status = "captured" if first_op == "capture" else "voided"
    payment = Payment.objects.get(public_id=pid)
    assert payment.status == status
    assert SandboxCharge.objects.get(kind="payment").status == status
    # The admin's audit: who did what, and nothing for the refused click.
    done = "Captured €10.00." if first_op == "capture" else "Voided."
    audit = LogEntry.objects.filter(object_id=str(payment.pk))
    assert list(audit.values_list("user__username", "change_message")) == (
        [("ada", done)] if first_by == "staff" else []
    )


def test_two_staff_capturing_at_once_make_one_gateway_call(
    primary, api, monkeypatch, django_user_model
):
    # Both read the payment authorized before either stored its attempt:
    # without the row lock both would be sent to the gateway.
    pid = _authorized(api)
    barrier = threading.Barrier(2, timeout=2)
    real_follow_up = followups.follow_up

    def read_together(*args, **kwargs):
        # The other one gets here too, if it can (not while it waits on a lock).
        with contextlib.suppress(threading.BrokenBarrierError):
            barrier.wait()
        return real_follow_up(*args, **kwargs)

    calls: list[str] = []
    monkeypatch.setattr(followups, "follow_up", read_together)
    _counted_on(monkeypatch, "capture", calls)

    def click(client: Client) -> None:
        try:
            _staff_post(client, "capture", pid)
        finally:
            connection.close()

    staff = [_staff(django_user_model, name) for name in ("ada", "bob")]
    threads = [threading.Thread(target=click, args=(c,)) for c in staff]
    with on_a_lock_wait(barrier.abort):  # the other waits on a lock: no use waiting
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
    assert calls == ["capture"]
    # One staff audit entry: the capture made (the test client's messages
    # are not per thread, so the refusal is read from the audit's absence).
    payment = Payment.objects.get(public_id=pid)
    audit = LogEntry.objects.filter(object_id=str(payment.pk))
    assert list(audit.values_list("change_message", flat=True)) == ["Captured €10.00."]
    assert SandboxCharge.objects.get(kind="payment").amount_captured == 1000


def test_a_review_approve_racing_a_staff_capture_leaves_no_stuck_hold(
    primary, api, monkeypatch, settings
):
    # A fraud hold: one of staff captures it from the payment page while
    # another approves it in the review queue (the storefront's capture is
    # refused while it is held). The approve is refused (capture_in_progress);
    # once the capture is done, approving it acknowledges the capture: the
    # hold leaves the queue, approved, after one gateway capture.
    settings.FRAUD_AMOUNT_THRESHOLDS = {"EUR": 1000}
    pid = api.post(
        "/api/v1/payments/",
        {
            "order_id": "o-h",
            "amount": 2000,
            "currency": "EUR",
            "source_token": "tok_success",
            "capture": True,
        },
        format="json",
        HTTP_IDEMPOTENCY_KEY="create-h",
    ).json()["id"]
    assert Payment.objects.get(public_id=pid).review_state == "pending"
    at_gateway, answer = threading.Event(), threading.Event()
    calls: list[str] = []
    real = SandboxPaymentsAdapter.capture

    def held(self, *args, **kwargs):
        calls.append("capture")
        at_gateway.set()
        answer.wait(10)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(SandboxPaymentsAdapter, "capture", held)

    def payment_page() -> None:
        try:
            services.payment_capture(
                payment=Payment.objects.get(public_id=pid), actor="bob"
            )
        finally:
            connection.close()

    thread = threading.Thread(target=payment_page)
    thread.start()
    assert at_gateway.wait(10)
    codes = []
    try:
        services.payment_review_approve(
            payment=Payment.objects.get(public_id=pid), actor="ada"
        )
    except services.PaymentError as exc:
        codes.append(exc.code)
    finally:
        answer.set()
        thread.join(30)
    assert codes == ["capture_in_progress"]
    payment = services.payment_review_approve(
        payment=Payment.objects.get(public_id=pid), actor="ada"
    )
    assert (payment.status, payment.review_state) == ("captured", "approved")
    assert calls == ["capture"]


def test_approving_an_authorize_only_hold_waits_for_the_storefronts_void(
    primary, api, monkeypatch, settings
):
    # An authorize-only hold: the storefront voids it while staff approve it
    # (no capture is owed, so the approve makes no gateway call of its own).
    # The approve is refused while the void is at the gateway; once voided,
    # the hold is closed as resolved and there is nothing left to approve.
    settings.FRAUD_AMOUNT_THRESHOLDS = {"EUR": 1000}
    pid = api.post(
        "/api/v1/payments/",
        {
            "order_id": "o-a",
            "amount": 2000,
            "currency": "EUR",
            "source_token": "tok_success",
            "capture": False,
        },
        format="json",
        HTTP_IDEMPOTENCY_KEY="create-a",
    ).json()["id"]
    assert Payment.objects.get(public_id=pid).review_state == "pending"
    at_gateway, answer = threading.Event(), threading.Event()
    real = SandboxPaymentsAdapter.void

    def held(self, *args, **kwargs):
        at_gateway.set()
        answer.wait(10)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(SandboxPaymentsAdapter, "void", held)
    voided: list[int] = []

    def storefront() -> None:
        try:
            response = api.post(
                f"/api/v1/payments/{pid}/void/", {}, HTTP_IDEMPOTENCY_KEY="v"
            )
            voided.append(response.status_code)
        finally:
            connection.close()

    thread = threading.Thread(target=storefront)
    thread.start()
    assert at_gateway.wait(10)
    codes = []
    try:
        services.payment_review_approve(
            payment=Payment.objects.get(public_id=pid), actor="ada"
        )
    except services.PaymentError as exc:
        codes.append(exc.code)
    finally:
        answer.set()
        thread.join(30)
    assert (codes, voided) == (["void_in_progress"], [200])
    payment = Payment.objects.get(public_id=pid)
    assert (payment.status, payment.review_state) == ("voided", "resolved")
    with pytest.raises(services.InvalidState):
        services.payment_review_approve(payment=payment, actor="ada")


def test_reconciliation_sends_no_owed_capture_while_a_void_is_at_the_gateway(
    primary, api, monkeypatch
):
    # The storefront's void is at Square while reconciliation runs: the owed
    # capture is not sent then. The void turns out never to have reached the
    # gateway (nothing was done), so the capture is owed again and sent after.
    from integrations.errors import NotProcessed
    from tests.payments.test_owed_capture import _owing_capture

    payment = _owing_capture(monkeypatch)
    calls: list[str] = []
    answered = threading.Event()

    def refused_later(self, *args, **kwargs):
        calls.append("void")
        answered.wait(10)  # reconciliation runs meanwhile
        raise NotProcessed("connection refused (test)", code="connect_error")

    monkeypatch.setattr(SandboxPaymentsAdapter, "void", refused_later)
    _counted_on(monkeypatch, "capture", calls)
    answers: list[int] = []

    def void() -> None:
        try:
            response = api.post(
                f"/api/v1/payments/{payment.public_id}/void/",
                {},
                format="json",
                HTTP_IDEMPOTENCY_KEY="cancel-1",
            )
            answers.append(response.status_code)
        finally:
            connection.close()

    thread = threading.Thread(target=void)
    thread.start()
    while not calls:  # the void's attempt is at the gateway
        thread.join(0.01)
    try:
        assert tasks.reconcile_payment(payment.pk) == "authorized"
    finally:
        answered.set()
        thread.join(30)
    assert (answers, calls) == ([503], ["void"])
    assert tasks.reconcile_payment(payment.pk) == "captured"
    assert calls == ["void", "capture"]
