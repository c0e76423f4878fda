"""Stored address keys under the new ``normalise_address``: a domain IDNA
2008 refuses but IDNA 2003 encodes (emoji domains: ``a@i❤.ws``) is now
stored in its ASCII form (``a@xn--i-7iq.ws``), the one providers name.

Suppressions and bulk recipients are rewritten in batches, a row at a time
in its own transaction (webhooks write suppressions during a deploy), so a
run stopped half way is finished by running it again. A value neither IDNA
encodes, or one too long for its column once encoded, is kept as given.
Where a suppression's new key is already active (both spellings stored),
the stronger reason stays active and the other is closed, as 0003 did; a
bulk recipient whose new key its send already has is kept as given (both
rows are recipients with their own state; sends normalise it when read).

Backwards: the previous release looks emoji domains up in their Unicode
spelling, so each active suppression of such a domain is copied under it
(as 0003's backwards does); forwards again merges the copies. Bulk
recipients need nothing: that release normalises an ``xn--`` key to itself
and finds the suppression stored under it.
"""

import idna
from django.db import IntegrityError, migrations, transaction
from django.utils import timezone

# The address columns' bound (ADDRESS_MAX_LENGTH).
_MAX_LENGTH = 254
_BATCH = 500
# A concurrent suppression_add can take the new key between look and write.
_TRIES = 3
# Every reason but an unsubscribe stops all mail.
_WEAK = {"unsubscribe"}


def _domain_ascii(domain: str) -> str:
    """``idn_ascii`` as of this migration (copied: it may change)."""
    try:
        return idna.encode(domain, uts46=True).decode("ascii").lower()
    except UnicodeError:
        pass
    try:
        return domain.encode("idna").decode("ascii").lower()
    except UnicodeError:
        return ""


def normalise_address(address: str) -> str:
    """``normalise_address`` as of this migration (copied: it may change)."""
    address = address.strip().lower()
    local, at, domain = address.rpartition("@")
    if not at or domain.isascii():
        return address
    encoded = _domain_ascii(domain)
    if not encoded or len(local) + 1 + len(encoded) > _MAX_LENGTH:
        return address
    return f"{local}@{encoded}"


def previous_normalise(address: str) -> str:
    """``normalise_address`` of 0003's release: IDNA 2008 only."""
    local, at, domain = address.rpartition("@")
    if not at or domain.isascii():
        return address
    try:
        encoded = f"{local}@{idna.encode(domain, uts46=True).decode('ascii')}"
    except idna.IDNAError:
        return address
    return encoded if len(encoded) <= _MAX_LENGTH else address


def _batches(queryset, field: str):
    """``(pk, value)`` pairs of ``queryset`` by pk, a batch at a time."""
    last = 0
    while True:
        rows = list(
            queryset.filter(pk__gt=last)
            .order_by("pk")
            .values_list("pk", field)[:_BATCH]
        )
        if not rows:
            return
        yield rows
        last = rows[-1][0]


def _keeps(row, other) -> bool:
    """Whether ``row`` stays active rather than ``other``."""
    strength = (row.reason not in _WEAK, other.reason not in _WEAK)
    if strength[0] != strength[1]:
        return strength[0]
    return (row.created_at, row.pk) < (other.created_at, other.pk)


def _suppression_rewrite(model, pk: int, using: str) -> None:
    with transaction.atomic(using=using):
        row = model.objects.using(using).select_for_update().filter(pk=pk).first()
        if row is None or (new := normalise_address(row.address)) == row.address:
            return
        other = (
            model.objects.using(using)
            .select_for_update()
            .filter(address=new, removed_at__isnull=True)
            .first()
        )
        if row.removed_at is None and other is not None:
            keeper, closed = (row, other) if _keeps(row, other) else (other, row)
            closed.removed_at = timezone.now()
            # suppression_remove recognises this as "superseded, not lifted".
            closed.removed_reason = f"merged into suppression {keeper.pk}"
            closed.save(update_fields=["removed_at", "removed_reason"])
        model.objects.using(using).filter(pk=pk).update(address=new)


def _suppressions_forwards(model, using: str) -> None:
    for rows in _batches(model.objects.using(using), "address"):
        for pk, address in rows:
            if normalise_address(address) == address:
                continue
            for _ in range(_TRIES):
                try:
                    _suppression_rewrite(model, pk, using)
                    break
                except IntegrityError:
                    # The new key became active after we looked: look again.
                    continue


def _recipients_forwards(model, using: str) -> None:
    for rows in _batches(model.objects.using(using), "email"):
        for pk, email in rows:
            new = normalise_address(email)
            if new == email:
                continue
            try:
                with transaction.atomic(using=using):
                    model.objects.using(using).filter(pk=pk, email=email).update(
                        email=new
                    )
            except IntegrityError:
                continue  # its send has the key already: kept as given


def forwards(apps, schema_editor) -> None:
    using = schema_editor.connection.alias
    _suppressions_forwards(apps.get_model("notifications", "Suppression"), using)
    _recipients_forwards(apps.get_model("notifications", "BulkRecipient"), using)


def unicode_address(address: str) -> str:
    """``address`` with its domain decoded (IDNA 2008, else 2003), lower
    case; as given when it is not encoded."""
    local, at, domain = address.rpartition("@")
    if not at or "xn--" not in domain:
        return address
    try:
        return f"{local}@{idna.decode(domain)}"
    except idna.IDNAError:
        pass
    try:
        return f"{local}@{domain.encode('ascii').decode('idna').lower()}"
    except UnicodeError:
        return address


def backwards(apps, schema_editor) -> None:
    using = schema_editor.connection.alias
    model = apps.get_model("notifications", "Suppression")
    active = model.objects.using(using).filter(removed_at__isnull=True)
    for rows in _batches(active.filter(address__contains="xn--"), "address"):
        for pk, address in rows:
            # The key the previous release looks this mailbox up by.
            spelling = previous_normalise(unicode_address(address))
            if spelling == address or len(spelling) > _MAX_LENGTH:
                continue
            try:
                _copy(model, active, pk, spelling, using)
            except IntegrityError:
                continue  # an add for that spelling came first: it is stopped


def _copy(model, active, pk: int, spelling: str, using: str) -> None:
    with transaction.atomic(using=using):
        row = active.select_for_update().filter(pk=pk).first()
        if row is None or active.filter(address=spelling).exists():
            return
        model.objects.using(using).create(
            address=spelling,
            reason=row.reason,
            source=row.source,
            created_at=row.created_at,
        )


class Migration(migrations.Migration):
    # A row per transaction: a run stopped half way keeps what it did.
    atomic = False

    dependencies = [("notifications", "0003_suppression_idna_addresses")]

    operations = [migrations.RunPython(forwards, backwards)]
