from django.db import migrations, models
from django.db.models.functions import Upper

from integrations.migration_indexes import index_swap


class Migration(migrations.Migration):
    # The index is built CONCURRENTLY on PostgreSQL, outside a transaction.
    atomic = False

    dependencies = [
        ("payments", "0006_refund_sending_until"),
    ]

    operations = [
        # The e-mail velocity rule matches UPPER(customer_email).
        index_swap(
            "payments",
            "payment",
            add=models.Index(
                Upper("customer_email"), "created_at", name="payment_email_upper_created"
            ),
            drop=models.Index(
                fields=["customer_email", "created_at"],
                name="payments_pa_custome_7f01df_idx",
            ),
        ),
    ]
