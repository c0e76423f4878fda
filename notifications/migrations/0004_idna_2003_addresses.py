"""Stored address keys under the new ``normalise_address``: a domain IDNA
2008 refuses but IDNA 2003 encodes (emoji domains: ``a@i❤.ws``) is now
stored in its ASCII form (``a@xn--i-7iq.ws``), the one providers name.

Suppressions and bulk recipients are rewritten in batches, a row at a time
in its own transaction (webhooks write suppressions during a deploy), so a
run stopped half way is finished by running it again. A value neither IDNA
encodes, or one too long for its column once encoded, is kept as given.
Where a suppression's new key is already active (both spellings stored),
the stronger reason stays active and the other is closed, as 0003 did. A
bulk recipient whose new key its send already has is kept as given; not
worked yet (pending, no message), it is done as a duplicate, as a send keeps
an address once at creation, so the mailbox gets one message (bulk sending
also sends one message per address: notifications/services/bulk_duplicates).

Rows the old release writes while the deploy runs are re-keyed by
``manage.py rekey_addresses`` (notifications/services/address_rekey.py, the
live code; this migration keeps its own copy, frozen as of today).

Backwards: the previous release looks emoji domains up in their Unicode
spelling, so each active suppression of such a domain is copied under it
(as 0003's backwards does), and under each spelling with deviation
characters IDNA 2003 maps to the same domain (``faß`` is ``fass``: the same
registered domain, so the same mailbox, whichever the customer typed);
forwards again merges the copies. Bulk recipients need nothing: that release
normalises an ``xn--`` key to itself and finds the suppression stored under
it.
"""

import idna
from django.db import IntegrityError, migrations, models, transaction
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


def _recipients_forwards(apps, using: str) -> None:
    model = apps.get_model("notifications", "BulkRecipient")
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
                # Its send has the key already: kept as given, and done as a
                # duplicate if not worked yet.
                _duplicate_done(apps, using, pk, new)


def _duplicate_done(apps, using: str, pk: int, key: str) -> None:
    recipients = apps.get_model("notifications", "BulkRecipient").objects.using(using)
    messages = apps.get_model("notifications", "EmailMessage").objects.using(using)
    jobs = apps.get_model("integrations", "BatchJob").objects.using(using)
    with transaction.atomic(using=using):
        row = (
            recipients.select_for_update()
            .filter(pk=pk, status="pending", message__isnull=True)
            .select_related("bulk_send")
            .first()
        )
        # A message by the row's key: worked before (e.g. paced), so its own.
        message_key = f"bulk:{row.bulk_send.public_id}:{pk}" if row else ""
        if row is None or messages.filter(idempotency_key=message_key).exists():
            return
        holder = recipients.filter(bulk_send_id=row.bulk_send_id, email=key).first()
        recipients.filter(pk=pk).update(
            status="done",
            done_at=timezone.now(),
            next_attempt_at=None,
            last_error=f"duplicate of recipient {holder.pk if holder else '?'}",
        )
        jobs.filter(pk=row.job_id).update(done=models.F("done") + 1)


def forwards(apps, schema_editor) -> None:
    using = schema_editor.connection.alias
    _suppressions_forwards(apps.get_model("notifications", "Suppression"), using)
    _recipients_forwards(apps, using)


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


# IDNA 2003 maps these away (deviations): ß to ss, ς to σ. A name it encodes
# may have been typed with either; both are the one registered domain.
_DEVIATIONS = {"ss": "ß", "σ": "ς"}
# Spellings tried per address: 2**5, then the rest as decoded.
_MAX_DEVIATIONS = 5


def previous_spellings(address: str) -> list[str]:
    """The keys the previous release looks ``address`` (stored by this
    one) up by, other than ``address`` itself: its Unicode spelling, and
    each with deviation characters whose domain is the same under IDNA 2003
    and that IDNA 2008 refuses (so that release kept it as typed)."""
    unicode = previous_normalise(unicode_address(address))
    found = [] if unicode == address else [unicode]
    local, at, domain = unicode.rpartition("@")
    if not at or domain.isascii():
        return [s for s in found if len(s) <= _MAX_LENGTH]
    stored_domain = address.rpartition("@")[2]
    for variant in _deviation_spellings(domain, _MAX_DEVIATIONS):
        spelling = f"{local}@{variant}"
        if (
            spelling not in found
            and _domain_ascii(variant) == stored_domain
            and previous_normalise(spelling) == spelling
        ):
            found.append(spelling)
    return [s for s in found if len(s) <= _MAX_LENGTH and s != address]


def _deviation_spellings(text: str, budget: int) -> list[str]:
    """``text`` with each choice of its deviation sequences (``_DEVIATIONS``)
    put back, the first ``budget`` of them; ``text`` itself excluded."""
    spellings = [""]
    index = 0
    while index < len(text):
        pair, one = text[index : index + 2], text[index]
        mapped = _DEVIATIONS.get(pair) or _DEVIATIONS.get(one)
        step = 2 if pair in _DEVIATIONS else 1
        chunk = text[index : index + step]
        if mapped and budget > 0:
            budget -= 1
            spellings = [s + c for s in spellings for c in (chunk, mapped)]
        else:
            spellings = [s + chunk for s in spellings]
        index += step
    return [s for s in spellings if s != text]


def backwards(apps, schema_editor) -> None:
    using = schema_editor.connection.alias
    model = apps.get_model("notifications", "Suppression")
    active = model.objects.using(using).filter(removed_at__isnull=True)
    for rows in _batches(active.filter(address__contains="xn--"), "address"):
        for pk, address in rows:
            # The keys the previous release looks this mailbox up by.
            for spelling in previous_spellings(address):
                try:
                    _copy(model, active, pk, spelling, using)
                except IntegrityError:
                    continue  # an add for that spelling came first: stopped


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
