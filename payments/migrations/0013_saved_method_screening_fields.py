# New columns only, no existing row rewritten: the FK is nullable (no index
# built on payments), the strings are added with a constant default, which
# PostgreSQL 11+ stores as metadata. The FK comes in the same ADD COLUMN as
# its all-NULL column, which PostgreSQL marks valid without reading payments
# (NOT VALID then VALIDATE would add that scan); test_revsaved21_migration.
# A method saved before screens as before (no e-mail, no fingerprint) until
# it is saved again.

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('payments', '0012_recurring_anchor_day'),
    ]

    operations = [
        migrations.AddField(
            model_name='payment',
            name='saved_method',
            field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='payments', to='payments.savedpaymentmethod'),
        ),
        migrations.AddField(
            model_name='savedpaymentmethod',
            name='card_fingerprint',
            field=models.CharField(blank=True, default='', max_length=255),
        ),
        migrations.AddField(
            model_name='savedpaymentmethod',
            name='customer_email',
            field=models.EmailField(blank=True, default='', max_length=254),
        ),
    ]
