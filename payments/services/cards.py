"""The saved card's rule (``card_rule``: a final decline in force;
``slots.advised_until``: the network's wait) compares stamps that processes
on different machines write: when a decline was learnt
(``failure_learnt_at``) and when an approved charge was made
(``created_at``). For a card's charges both are the database's time
(``integrations.clock``), so a machine's clock off by seconds or minutes
cannot turn their order round. And the rule is read, and a card's failure
written, under the card's row lock (``card_lock``): a decline committed
while a resume or a new recurring charge reads the rule is seen by it."""

from datetime import datetime

from django.utils import timezone

from integrations.clock import database_now
from payments.models import Payment, SavedPaymentMethod


def learnt_at(payment: Payment) -> datetime:
    """When ``payment``'s failure is learnt: the database's time for a card's
    charge (the rule compares it); this machine's for a token's, which no
    rule compares (the API's path sends no statement more)."""
    if payment.saved_method_id is None:
        return timezone.now()
    return database_now()


def card_lock(method_id: int) -> None:
    """Lock the saved card's row until the commit: taken by what reads its
    rule and decides on it (a resume, a move, a new recurring charge) and by
    what stores a failure of its charges, so neither misses the other. FOR NO
    KEY UPDATE: a new charge's INSERT (KEY SHARE on the card) never waits."""
    list(
        SavedPaymentMethod.objects.select_for_update(no_key=True)
        .filter(pk=method_id)
        .values_list("pk", flat=True)
    )
