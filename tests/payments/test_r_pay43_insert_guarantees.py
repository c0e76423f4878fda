"""r-pay43: ``state.payment_insert`` keeps what the ORM save it replaced gave.

A card's and a recurring run's payment were stored by ``save()`` /
``objects.create()``, which send ``pre_save`` and ``post_save``; the
hand-built INSERT sent neither, so a receiver watching payments being stored
(the run-lock tests of pay22 and revpay22 hook the run's INSERT that way)
never heard of them. A unique conflict on the key still finds the row the
other request stored."""

import pytest
from django.db.models.signals import post_save, pre_save

from payments import services
from payments.models import Payment, PaymentStatus
from payments.services import methods
from payments.services.recurring import recurring_charges_report
from tests.payments.recurring_setup import (
    payments_of,
    recurring_charge,  # noqa: F401 (the ``recurring`` fixture)
    saved_card_charge,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def heard():
    """What ``pre_save`` and ``post_save`` said about payments meanwhile."""
    said: list[tuple[str, int | None, bool]] = []

    def before(sender, instance, **kwargs):  # type: ignore[no-untyped-def]
        said.append(("pre", instance.pk, instance._state.adding))

    def after(sender, instance, created, **kwargs):  # type: ignore[no-untyped-def]
        said.append(("post", instance.pk, created))

    pre_save.connect(before, sender=Payment, dispatch_uid="r_pay43_pre")
    post_save.connect(after, sender=Payment, dispatch_uid="r_pay43_post")
    try:
        yield said
    finally:
        pre_save.disconnect(sender=Payment, dispatch_uid="r_pay43_pre")
        post_save.disconnect(sender=Payment, dispatch_uid="r_pay43_post")


def _method():
    return services.payment_method_save(
        customer_reference="cus_1", source_token="tok_success", idempotency_key="m1"
    )


def test_a_card_charge_is_heard_being_stored(primary, heard):
    payment = saved_card_charge(_method(), order_id="order-r43")

    assert payment.status == PaymentStatus.CAPTURED
    assert heard[:2] == [("pre", None, True), ("post", payment.pk, True)]


def test_a_recurring_charge_is_heard_being_stored(primary, recurring, heard):
    recurring_charges_report()

    (payment,) = payments_of(recurring)
    assert ("pre", None, True) in heard
    assert ("post", payment.pk, True) in heard


def test_a_card_charge_losing_its_key_to_another_answers_with_that_one(
    primary, monkeypatch
):
    """Another request stored a payment under the key between this one's
    look-up and its INSERT: the INSERT's conflict finds that payment."""
    method = _method()
    fields = {
        "amount": 700,
        "currency": "EUR",
        "order_id": "order-r43c",
        "idempotency_key": "k-r43c",
    }
    screen = methods.fraud.payment_screen
    first: list[Payment] = []

    def screened_after_the_other(**kwargs):  # type: ignore[no-untyped-def]
        if not first:
            first.append(
                Payment.objects.create(
                    saved_method=method,
                    customer_reference=method.customer_reference,
                    capture_requested=True,
                    **fields,
                )
            )
        return screen(**kwargs)

    monkeypatch.setattr(methods.fraud, "payment_screen", screened_after_the_other)

    payment = saved_card_charge(method, **fields)

    assert payment.pk == first[0].pk
    assert Payment.objects.filter(idempotency_key="k-r43c").count() == 1
