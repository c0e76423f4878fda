# The one-live-label-per-quote constraint, after 0010 copied each shipment's
# carrier account: a label that lets go of its quote here keeps it.

from django.db import migrations, models
from django.db.models import Count

LIVE = ("purchasing", "unknown", "purchased")


def detach_second_labels(apps, schema_editor):
    # Labels bought twice from one quote before this constraint (the defect
    # it closes) keep their rows; all but the first let go of the quote.
    Shipment = apps.get_model("shipping", "Shipment")
    live = Shipment.objects.filter(status__in=LIVE, quote__isnull=False)
    twice = live.values("quote").annotate(n=Count("pk")).filter(n__gt=1)
    for row in twice:
        later = live.filter(quote=row["quote"]).order_by("pk")[1:]
        Shipment.objects.filter(pk__in=[s.pk for s in later]).update(quote=None)


class Migration(migrations.Migration):

    dependencies = [
        ('shipping', '0010_shipment_carrier_account'),
    ]

    operations = [
        migrations.RunPython(detach_second_labels, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name='shipment',
            constraint=models.UniqueConstraint(condition=models.Q(('status__in', ('purchasing', 'unknown', 'purchased'))), fields=('quote',), name='shipping_shipment_one_live_label_per_quote'),
        ),
    ]
