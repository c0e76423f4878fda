"""The recurring charge set-up the recurring tests share: a monthly charge
due now on a saved sandbox card (and such a charge, a one-off charge or an
API create on a given card), a run whose charge got no answer, and what a
test reads back (imported; the fixture by its name ``recurring``)."""

import threading
import uuid
from datetime import timedelta

import pytest
from django.db import connection, connections
from django.test import Client
from django.utils import timezone

from integrations.models import ProviderAccount
from payments import services
from payments.models import (
    Payment,
    PaymentStatus,
    RecurringCharge,
    SandboxCharge,
    SavedPaymentMethod,
)
from payments.providers.base import PaymentResult, ProviderStatus
from payments.services import slots
from payments.services.recurring import (
    recurring_charges_report,
    recurring_slot_give_back,
)
from tests.payments.conftest import webhook_body, webhook_headers


@pytest.fixture(name="recurring")
def recurring_charge(primary) -> RecurringCharge:
    method = services.payment_method_save(
        customer_reference="cus_1", source_token="tok_success", idempotency_key="m1"
    )
    return due_charge(method)


def due_charge(method: SavedPaymentMethod, **fields: object) -> RecurringCharge:
    """A monthly 15.00 EUR charge of ``method``, due a minute ago unless
    ``fields`` say otherwise."""
    values = {
        "amount": 1_500,
        "currency": "EUR",
        "interval": "month",
        "next_run_at": timezone.now() - timedelta(minutes=1),
        **fields,
    }
    return RecurringCharge.objects.create(saved_method=method, **values)


def saved_card_charge(method: SavedPaymentMethod, **fields: object) -> Payment:
    """A one-off 7.00 EUR charge of the saved card ``method`` (a new order
    and key unless ``fields`` name them)."""
    values = {
        "amount": 700,
        "currency": "EUR",
        "order_id": f"order-{uuid.uuid4().hex[:8]}",
        "idempotency_key": uuid.uuid4().hex,
        **fields,
    }
    return services.saved_method_charge(saved_method=method, **values)


def new_charge_on(api, method: SavedPaymentMethod, customer: str = "cus_1"):
    """The API's create of a monthly 9.00 EUR charge of ``method``."""
    return api.post(
        f"/api/v1/customers/{customer}/recurring-charges/",
        {
            "payment_method": method.public_id,
            "amount": 900,
            "currency": "EUR",
            "interval": "month",
        },
        format="json",
        HTTP_IDEMPOTENCY_KEY=uuid.uuid4().hex,
    )


def unknown_run(primary: ProviderAccount, recurring: RecurringCharge) -> Payment:
    """The slot's charge answered 500 (the gateway may have charged): unknown,
    and the slot moved on."""
    primary.settings = {"error_rate": 1.0}
    primary.save()
    assert recurring_charges_report().unknown == 1
    primary.settings = {}
    primary.save()
    (payment,) = payments_of(recurring)
    assert payment.status == PaymentStatus.UNKNOWN
    return payment


def given_back_not_found(
    primary: ProviderAccount, recurring: RecurringCharge
) -> Payment:
    """The slot's unknown charge failed as not found at the gateway, and
    its slot given back for the run to try again."""
    lost = unknown_run(primary, recurring)
    Payment.objects.filter(pk=lost.pk).update(
        status=PaymentStatus.FAILED, failure_code="not_found_at_provider"
    )
    lost.refresh_from_db()
    assert recurring_slot_give_back(lost)
    return lost


def payments_of(recurring: RecurringCharge) -> list[Payment]:
    return list(
        Payment.objects.filter(metadata__recurring_charge=recurring.public_id).order_by(
            "pk"
        )
    )


def charges(primary: ProviderAccount) -> int:
    return SandboxCharge.objects.filter(account=primary, kind="payment").count()


def declined_lookup(self, *, idempotency_key, lookup) -> PaymentResult:
    """``retrieve_by_key`` of a gateway that declined the charge."""
    return PaymentResult(
        status=ProviderStatus.FAILED,
        provider_reference="ch_sbx_declined",
        currency="EUR",
        raw_status="declined",
    )


def rerun_unknown(primary: ProviderAccount, recurring: RecurringCharge) -> Payment:
    """The run's next try of the slot got no answer either: unknown."""
    primary.settings = {"error_rate": 1.0}
    primary.save()
    assert recurring_charges_report().unknown == 1
    primary.settings = {}
    primary.save()
    again = payments_of(recurring)[-1]
    assert again.status == PaymentStatus.UNKNOWN
    return again


def found_never_charged(
    primary: ProviderAccount, payment: Payment, reference: str
) -> Payment:
    """Reconciliation fails ``payment`` (unknown) as never charged, though
    the gateway knows it as ``reference`` after all."""
    Payment.objects.filter(pk=payment.pk).update(
        account=primary, provider_reference=reference
    )
    services.payments_reconcile_pending()
    payment.refresh_from_db()
    assert (payment.status, payment.failure_code) == (
        PaymentStatus.FAILED,
        "not_found_at_provider",
    )
    return payment


def failed_as_never_charged(
    primary: ProviderAccount, recurring: RecurringCharge, reference: str
) -> Payment:
    """A slot's payment reconciliation failed as never charged (its slot
    given back), that the gateway knows as ``reference`` after all."""
    payment = found_never_charged(primary, unknown_run(primary, recurring), reference)
    recurring.refresh_from_db()
    assert recurring.next_run_at <= timezone.now()  # given back
    return payment


@pytest.fixture(name="lost")
def lost_payment(primary, recurring) -> Payment:
    """The slot's payment failed as never charged, known as ch_lost."""
    return failed_as_never_charged(primary, recurring, "ch_lost")


def paid_lookup(self, *, idempotency_key, lookup) -> PaymentResult:
    """``retrieve_by_key`` of a gateway that charged the retry (ch_retry)."""
    return PaymentResult(
        status=ProviderStatus.CAPTURED,
        provider_reference="ch_retry",
        currency="EUR",
        amount_authorized=1_500,
        amount_captured=1_500,
        raw_status="succeeded",
    )


def clerk_resumes(django_user_model, recurring: RecurringCharge):
    """A clerk who may view and manage recurring charges resumes
    ``recurring`` from the admin's list: the page the action ends on."""
    from django.contrib.auth.models import Permission
    from django.urls import reverse

    user = django_user_model.objects.create_user("clerk", password="pw", is_staff=True)
    user.user_permissions.set(
        Permission.objects.filter(
            content_type__app_label="payments",
            codename__in=["view_recurringcharge", "manage_recurringcharge"],
        )
    )
    client = Client()
    client.force_login(user)
    return client.post(
        reverse("admin:payments_recurringcharge_changelist"),
        {"action": "resume", "_selected_action": [recurring.pk]},
        follow=True,
    )


def gateway_post(event: str, reference: str):
    """The sandbox gateway's signed webhook about charge ``reference``, posted."""
    body = webhook_body(event, reference=reference, amount=1_500)
    return Client().post(
        "/webhooks/sbx-primary/",
        data=body,
        content_type="application/json",
        **webhook_headers(body),
    )


def gateway_says(capture_callbacks, event: str, reference: str) -> None:
    """The sandbox gateway's signed webhook about charge ``reference``."""
    with capture_callbacks(execute=True):
        response = gateway_post(event, reference)
    assert response.status_code == 200


def reported_paid(reference: str) -> None:
    """The gateway reports ``reference`` paid (no on-commit capture: the
    race tests post it from a thread of their own)."""
    assert gateway_post("payment.captured", reference).status_code == 200


def waiting_on_a_lock() -> bool:
    """Another backend of this test database is blocked on a row lock."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
        )
        return cursor.fetchone()[0] > 0


def in_thread(
    target, errors: list, done: threading.Event | None = None
) -> threading.Thread:
    """Runs ``target`` in a started thread; what it raises goes to ``errors``."""

    def run() -> None:
        try:
            target()
        except BaseException as exc:
            errors.append(exc)
        finally:
            if done is not None:
                done.set()
            connections.close_all()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def outcomes_at_once(call, values: tuple) -> list[object]:
    """``call(value)`` for each of ``values``, each in a thread of its own,
    let go together: what each returned or raised, in the order they ended."""
    barrier = threading.Barrier(len(values))
    outcomes: list[object] = []

    def run(value) -> None:
        try:
            barrier.wait()
            outcomes.append(call(value))
        except Exception as exc:
            outcomes.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(v,)) for v in values]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


def pause_period_check(monkeypatch, only: Payment | None = None):
    """The period check pauses right after reading the period's other tries
    (of ``only``'s, if given) until ``go`` is set; ``read`` says it did."""
    read, go = threading.Event(), threading.Event()
    real = slots.period_charged_elsewhere

    def pausing(payment: Payment) -> Payment | None:
        other = real(payment)
        if only is None or payment.pk == only.pk:
            read.set()
            assert go.wait(10)
        return other

    monkeypatch.setattr(slots, "period_charged_elsewhere", pausing)
    return read, go
