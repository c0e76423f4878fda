"""E-mail blocklist entries with their domain in the ASCII form the
screening now compares (``payments.models.fraud.email_canonical``):
``@bücher.de`` becomes ``@xn--bcher-kva.de``, ``@ｅｖｉｌ.test`` (full-width)
``@evil.test``; before, each blocked only its own spelling.

An entry whose new form another entry already has is that entry's
duplicate: it is deleted (its reason kept on the other if that has none).
One whose domain neither IDNA encodes, or too long once encoded, is kept as
given. Backwards is a no-op: the previous release compares exactly, and an
entry in ASCII form still blocks the ASCII spelling there (the Unicode one
was missed before this migration too).
"""

import idna
from django.db import migrations, models

# The value column's bound.
_MAX_LENGTH = 255


def _domain_ascii(domain: str) -> str:
    """``domain_ascii``'s encoding as of this migration (copied: it may
    change): IDNA 2008 with UTS 46 mapping, else IDNA 2003; "" for neither."""
    domain = domain.strip().lower().rstrip(".")
    if domain.isascii():
        return domain
    try:
        return idna.encode(domain, uts46=True).decode("ascii").lower()
    except UnicodeError:
        pass
    try:
        return domain.encode("idna").decode("ascii").lower()
    except UnicodeError:
        return ""


def entry_ascii(value: str) -> str:
    """An e-mail entry in its new form; as given when it has none."""
    local, at, domain = value.rpartition("@")
    encoded = _domain_ascii(domain) if at else ""
    new = f"{local}@{encoded}"
    return new if encoded and len(new) <= _MAX_LENGTH else value


def forwards(apps, schema_editor) -> None:
    entry = apps.get_model("payments", "BlocklistEntry")
    rows = entry.objects.filter(kind="email").order_by("created_at", "pk")
    for row in rows.iterator():
        new = entry_ascii(row.value)
        if new == row.value:
            continue
        keeper = entry.objects.filter(kind="email", value=new).first()
        if keeper is None:
            entry.objects.filter(pk=row.pk).update(value=new)
            continue
        if not keeper.reason and row.reason:
            entry.objects.filter(pk=keeper.pk).update(reason=row.reason)
        entry.objects.filter(pk=row.pk).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("payments", "0013_saved_method_screening_fields"),
    ]

    operations = [
        migrations.AlterField(
            model_name="blocklistentry",
            name="value",
            field=models.CharField(
                help_text="Stored normalised: emails lower-case with the domain "
                "in ASCII (bücher.de as xn--bcher-kva.de), IP ranges canonical.",
                max_length=255,
            ),
        ),
        migrations.RunPython(forwards, migrations.RunPython.noop),
    ]
