# State only (no SQL): a scheduled pickup whose day passed becomes 'past'
# (shipping.services.pickups.pickups_past_sweep).

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('shipping', '0015_tracking_event_ties_as_followed'),
    ]

    operations = [
        migrations.AlterField(
            model_name='pickup',
            name='status',
            field=models.CharField(choices=[('requested', 'Requested'), ('scheduled', 'Scheduled'), ('past', 'Day passed (done or missed)'), ('cancelled', 'Cancelled'), ('failed', 'Failed'), ('unknown', 'Unknown')], default='requested', max_length=16),
        ),
    ]
