from django.db import migrations, models
from django.db.models import Q

from integrations.migration_indexes import index_swap


class Migration(migrations.Migration):
    # The index is built CONCURRENTLY on PostgreSQL, outside a transaction;
    # a run killed mid-build is finished by migrating again.
    atomic = False

    dependencies = [
        ("payments", "0016_payment_failure_advice_code"),
    ]

    operations = [
        # The card's decline rules read a saved method's charges newest
        # first: without it, a method with none scans every payment.
        index_swap(
            "payments",
            "payment",
            add=models.Index(
                fields=["saved_method"],
                name="payment_saved_method",
                condition=Q(saved_method__isnull=False),
            ),
        ),
    ]
