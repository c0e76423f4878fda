"""Suppressions under the new ``normalise_address``: an internationalised
domain in its ASCII (IDNA 2008) form, as anymail sends it. Rows stored in
the Unicode form are rewritten; where both spellings of one address are
active, the stronger reason stays active (the older on a tie) and the other
is closed with why, as ``suppression_add`` would have left them."""

import idna
from django.db import migrations
from django.db.models import Q
from django.utils import timezone

# Every reason but an unsubscribe stops all mail.
_WEAK = {"unsubscribe"}


def ascii_address(address: str) -> str:
    """``normalise_address`` as of this migration (copied: it may change)."""
    address = address.strip().lower()
    local, at, domain = address.rpartition("@")
    if not at or domain.isascii():
        return address
    try:
        encoded = f"{local}@{idna.encode(domain, uts46=True).decode('ascii')}"
    except idna.IDNAError:
        return address
    # One too long for the column once encoded is kept as given (254).
    return encoded if len(encoded) <= 254 else address


def _keeps(row, other) -> bool:
    """Whether ``row`` stays active rather than ``other``."""
    strength = (row.reason not in _WEAK, other.reason not in _WEAK)
    if strength[0] != strength[1]:
        return strength[0]
    return (row.created_at, row.pk) < (other.created_at, other.pk)


def forwards(apps, schema_editor) -> None:
    suppression = apps.get_model("notifications", "Suppression")
    rows = suppression.objects.values_list("pk", "address").iterator()
    changed = [(pk, new) for pk, old in rows if (new := ascii_address(old)) != old]
    now = timezone.now()
    for pk, new in changed:
        row = suppression.objects.get(pk=pk)
        other = (
            suppression.objects.filter(address=new, removed_at__isnull=True)
            .exclude(pk=pk)
            .first()
        )
        if row.removed_at is None and other is not None:
            keeper, closed = (row, other) if _keeps(row, other) else (other, row)
            closed.removed_at = now
            closed.removed_reason = f"merged into suppression {keeper.pk}"
            closed.save(update_fields=["removed_at", "removed_reason"])
        suppression.objects.filter(pk=pk).update(address=new)


def unicode_address(address: str) -> str:
    """The Unicode spelling of an address whose domain is IDNA-encoded."""
    local, at, domain = address.rpartition("@")
    if not at or "xn--" not in domain:
        return address
    try:
        return f"{local}@{idna.decode(domain)}"
    except idna.IDNAError:
        return address


def backwards(apps, schema_editor) -> None:
    """The previous release compares addresses as spelt: every active row of
    an encoded domain is copied under its Unicode spelling, so mail to
    either spelling stays stopped. Forwards again merges the copies."""
    suppression = apps.get_model("notifications", "Suppression")
    encoded = Q(address__contains="@xn--") | Q(address__contains=".xn--")
    for row in suppression.objects.filter(encoded, removed_at__isnull=True):
        spelling = unicode_address(row.address)
        taken = suppression.objects.filter(address=spelling, removed_at__isnull=True)
        if spelling != row.address and not taken.exists():
            suppression.objects.create(
                address=spelling,
                reason=row.reason,
                source=row.source,
                created_at=row.created_at,
            )


class Migration(migrations.Migration):
    dependencies = [("notifications", "0002_email_error_code")]

    operations = [migrations.RunPython(forwards, backwards)]
