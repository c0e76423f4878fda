"""One message per address within a bulk send, even when the send holds an
address in two spellings.

A send stores each address once, normalised (``normalise_address``), so two
of its rows never share a key. Rows the release before stored under an
emoji domain as given (``bo@i❤.ws``) are the exception: re-keying one its
send already holds in the ``xn--`` form (``bo@xn--i-7iq.ws``) is refused by
the unique constraint, and a row the re-key could not mark done (a worker
had it) is still to be worked. Such rows are few and only in old sends, so
each send's rows spelt otherwise than their key are read once per process
(a scan of that send's rows for a non-ASCII character), and a chunk looks
further only for the addresses they share.

Of the rows sharing a key, one is sent: a row whose message exists already
(it went, or is going, out), else the row stored in the key's spelling,
else the oldest. The rule needs no lock: every row reaches the same answer,
and the row it names is the one that sends.
"""

from collections.abc import Callable, Sequence

from notifications.models import BulkRecipient, BulkSend, EmailMessage
from notifications.models import normalise_address as key_of

# An address with a character outside ASCII (PostgreSQL's regex class).
NON_ASCII = r"[^[:ascii:]]"
_LEGACY: dict[tuple, dict[str, list[int]]] = {}


def other_spellings(bulk: BulkSend) -> dict[str, list[int]]:
    """The send's rows stored otherwise than their key, by key (row pks),
    read once per send per process: rows are only added when a send is
    created, and a re-keyed row then holds its key (see ``duplicates``)."""
    job_created = bulk.job.created_at if bulk.job_id else None
    cache_key = (bulk.pk, job_created)
    if cache_key not in _LEGACY:
        if len(_LEGACY) > 64:
            _LEGACY.clear()
        found: dict[str, list[int]] = {}
        rows = BulkRecipient.objects.filter(bulk_send=bulk, email__regex=NON_ASCII)
        for pk, email in rows.values_list("pk", "email").order_by("pk"):
            if key_of(email) != email:
                found.setdefault(key_of(email), []).append(pk)
        _LEGACY[cache_key] = found
    return _LEGACY[cache_key]


def duplicates(
    bulk: BulkSend,
    rows: Sequence[BulkRecipient],
    message_key: Callable[[int], str],
) -> dict[int, int]:
    """Row pk -> the row of the same send that sends its address instead,
    for the ``rows`` that are not to be sent. ``message_key`` gives a row's
    message's idempotency key (``bulk_chunk.idempotency_key``)."""
    legacy = other_spellings(bulk)
    if not legacy:
        return {}
    found = {}
    for row in rows:
        key = key_of(row.email)
        if key not in legacy:
            continue
        sender = _sender(bulk, key, legacy[key], message_key)
        if sender is not None and sender != row.pk:
            found[row.pk] = sender
    return found


def _sender(
    bulk: BulkSend,
    key: str,
    spelt_otherwise: list[int],
    message_key: Callable[[int], str],
) -> int | None:
    """The row of the send that sends to ``key`` (see the module docstring)."""
    in_key = (
        BulkRecipient.objects.filter(bulk_send=bulk, email=key)
        .values_list("pk", flat=True)
        .first()
    )
    group = [pk for pk in (in_key, *spelt_otherwise) if pk is not None]
    if len(group) < 2:
        return None
    message_keys = {message_key(pk): pk for pk in group}
    with_message = (
        EmailMessage.objects.filter(idempotency_key__in=message_keys)
        .order_by("pk")
        .values_list("idempotency_key", flat=True)
        .first()
    )
    if with_message is not None:
        return message_keys[with_message]
    return in_key if in_key is not None else min(group)
