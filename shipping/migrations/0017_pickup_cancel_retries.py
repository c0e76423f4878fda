# A pickup cancel in doubt is re-sent by the past sweep's job with backoff and
# a bound (shipping.services.pickup_cancels.pickup_cancels_retry): its tries
# and the next one's time. Both new columns; existing rows start at 0/none.

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('shipping', '0016_pickup_status_past'),
    ]

    operations = [
        migrations.AddField(
            model_name='pickup',
            name='cancel_retries',
            field=models.PositiveSmallIntegerField(default=0, editable=False),
        ),
        migrations.AddField(
            model_name='pickup',
            name='cancel_retry_at',
            field=models.DateTimeField(blank=True, editable=False, null=True),
        ),
    ]
