from django.db import migrations, models
from django.db.models import Q

from integrations.migration_indexes import index_swap

# The codes as they were when the index was made: the card rule's query
# (services.card_rule.FINAL) must imply this predicate for PostgreSQL to use
# it; a change of payments.providers.base.HARD_DECLINES needs a new index.
HARD_DECLINES = ["expired_card", "incorrect_number", "lost_or_stolen", "stop_payment"]
FINAL_ADVICE = ["do_not_try_again"]
MONEY_HOLDING = ("authorized", "captured", "partially_refunded", "refunded")


class Migration(migrations.Migration):
    # Built CONCURRENTLY on PostgreSQL, outside a transaction: no lock stops
    # the table's writes, no row is rewritten. A run killed mid-build is
    # finished by migrating again.
    atomic = False

    dependencies = [
        ("payments", "0019_payment_created_at_database_clock"),
    ]

    operations = [
        # The card's final declines: the rule's first read, a handful of rows
        # (none for nearly every card) however many charges the card has.
        index_swap(
            "payments",
            "payment",
            add=models.Index(
                fields=["saved_method"],
                name="payment_card_final_decline",
                condition=Q(saved_method__isnull=False)
                & (
                    Q(failure_code__in=HARD_DECLINES)
                    | Q(failure_advice_code__in=FINAL_ADVICE)
                ),
            ),
        ),
        # The card's approvals by creation: only those made after a decline
        # are read (at most one, or a recurring one after a stop).
        index_swap(
            "payments",
            "payment",
            add=models.Index(
                fields=["saved_method", "created_at"],
                name="payment_card_approval",
                condition=Q(saved_method__isnull=False, status__in=MONEY_HOLDING),
            ),
        ),
    ]
