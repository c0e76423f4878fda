"""revpay32: the card rule's bounded reads (``card_rule.final_decline_in_force``,
pay32) answer as the one aggregate they replaced (h/lead's
``recurring_manage._declines_in_force``, reproduced here as the reference)
on every card of a table: each kind of word (hard codes, the advice, soft
declines, approvals one-off and recurring, rows without a learnt time,
failures that are no decline) at times that tie and cross."""

import random
import uuid
from datetime import timedelta

import pytest
from django.db.models import Max, Q
from django.utils import timezone

from payments.models import (
    MONEY_HOLDING_STATUSES,
    Payment,
    PaymentStatus,
    SavedPaymentMethod,
)
from payments.providers.base import (
    DECLINE_CODES,
    FINAL_ADVICE,
    HARD_DECLINES,
    STOP_PAYMENT,
)
from payments.services.card_rule import final_decline_in_force
from payments.services.reconcile import RECURRING_KEY_PREFIX
from payments.services.slots import LEARNT

pytestmark = pytest.mark.django_db

FAILED, CAPTURED = PaymentStatus.FAILED, PaymentStatus.CAPTURED
# (status, failure_code, advice, recurring key)
KINDS = [
    (FAILED, "lost_or_stolen", "", False),
    (FAILED, "expired_card", "", False),
    (FAILED, "incorrect_number", "", True),
    (FAILED, STOP_PAYMENT, "", True),
    (FAILED, STOP_PAYMENT, "", False),
    (FAILED, "card_declined", "do_not_try_again", False),
    (FAILED, "insufficient_funds", "", True),
    (FAILED, "card_declined", "try_again_later", False),
    # Failed with an advice but no decline code (not counted either way).
    (FAILED, "processing_error_x", "do_not_try_again", False),
    (FAILED, "payment_method_declined", "", False),
    (CAPTURED, "", "", False),
    (CAPTURED, "", "", True),
    (PaymentStatus.AUTHORIZED, "", "", True),
    (PaymentStatus.REFUNDED, "", "", False),
    (PaymentStatus.VOIDED, "", "", True),
    (PaymentStatus.PENDING, "", "", False),
    # A captured charge whose failure was cleared oddly: a hard code kept.
    (CAPTURED, "lost_or_stolen", "", False),
]


def old_rule(method) -> int | None:
    """h/lead's aggregate (before pay32): the pk of the decline in force."""
    declined = Q(status=PaymentStatus.FAILED, failure_code__in=DECLINE_CODES)
    approved = Q(status__in=MONEY_HOLDING_STATUSES)
    final = declined & (
        Q(failure_code__in=HARD_DECLINES) | Q(failure_advice_code__in=FINAL_ADVICE)
    )
    stop = declined & Q(failure_code=STOP_PAYMENT)
    words = Payment.objects.filter(saved_method=method).aggregate(
        final=Max(LEARNT, filter=final),
        stop=Max(LEARNT, filter=stop),
        approved=Max("created_at", filter=approved),
        recurring=Max(
            "created_at",
            filter=approved & Q(idempotency_key__startswith=RECURRING_KEY_PREFIX),
        ),
    )

    def in_force(decline, approval) -> bool:
        return decline is not None and (approval is None or approval <= decline)

    if in_force(words["final"], words["approved"]):
        which = final
    elif in_force(words["stop"], words["recurring"]):
        which = stop
    else:
        return None
    found = Payment.objects.filter(which, saved_method=method).annotate(learnt=LEARNT)
    return found.order_by("-learnt", "-pk").values_list("pk", flat=True).first()


def saved(account, n: int) -> SavedPaymentMethod:
    return SavedPaymentMethod.objects.create(
        customer_reference=f"cus_cmp_{n}",
        account=account,
        provider_customer_id=f"cus_sbx_cmp_{n}",
        provider_method_id=f"pm_sbx_cmp_{n}",
    )


def row(method, kind, created, learnt) -> Payment:
    status, code, advice, recurring = kind
    prefix = RECURRING_KEY_PREFIX if recurring else "oneoff-"
    return Payment(
        order_id=f"o-{uuid.uuid4().hex[:8]}",
        customer_reference="cus_cmp_history",
        amount=500,
        currency="EUR",
        status=status,
        amount_authorized=500 if status in MONEY_HOLDING_STATUSES else 0,
        amount_captured=500 if status in (CAPTURED, PaymentStatus.REFUNDED) else 0,
        amount_refunded=500 if status == PaymentStatus.REFUNDED else 0,
        failure_code=code,
        failure_advice_code=advice,
        failure_learnt_at=learnt,
        account=method.account,
        saved_method=method,
        idempotency_key=f"{prefix}{uuid.uuid4().hex}",
        created_at=created,
    )


def test_bounded_reads_answer_as_the_aggregate_on_every_card(primary):
    rng = random.Random(32)
    base = timezone.now() - timedelta(days=1)
    at = [base + timedelta(minutes=m) for m in range(6)]  # few times: ties
    cards, rows = [], []
    for n in range(240):
        method = saved(primary, n)
        cards.append(method)
        for _ in range(rng.randint(0, 6)):
            kind = rng.choice(KINDS)
            created = rng.choice(at)
            # A decline learnt later than made, or a row with no learnt time.
            learnt = rng.choice([None, created, rng.choice(at)])
            if kind[0] != FAILED:
                learnt = None
            rows.append(row(method, kind, created, learnt))
    Payment.objects.bulk_create(rows)

    differ = []
    for method in cards:
        new = final_decline_in_force(method)
        if old_rule(method) != (new.pk if new else None):
            differ.append(method.pk)

    assert differ == []
    # The table reached both answers, and each kind of hold.
    held = [final_decline_in_force(m) for m in cards]
    assert any(h is None for h in held)
    assert {h.failure_code for h in held if h} >= {STOP_PAYMENT, "lost_or_stolen"}
