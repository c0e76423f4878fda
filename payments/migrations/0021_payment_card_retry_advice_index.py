from django.db import migrations, models
from django.db.models import Q

from integrations.migration_indexes import index_swap

# The codes as they were when the index was made: the wait's query
# (services.slots.advised_until) must imply this predicate for PostgreSQL to
# use it; a change of payments.providers.base.RETRY_AFTER needs a new index.
RETRY_AFTER = [
    "retry_after_10_days",
    "retry_after_1_hour",
    "retry_after_24_hours",
    "retry_after_2_days",
    "retry_after_4_days",
    "retry_after_6_days",
    "retry_after_8_days",
]


class Migration(migrations.Migration):
    # Built CONCURRENTLY on PostgreSQL, outside a transaction (as 0020).
    atomic = False

    dependencies = [
        ("payments", "0020_payment_card_rule_indexes"),
    ]

    operations = [
        # The card's declines that came with a network's wait: read before
        # every one-off charge of the card, a handful of rows (none for
        # nearly every card) however many charges it has.
        index_swap(
            "payments",
            "payment",
            add=models.Index(
                fields=["saved_method"],
                name="payment_card_retry_advice",
                condition=Q(saved_method__isnull=False)
                & Q(failure_advice_code__in=RETRY_AFTER),
            ),
        ),
    ]
