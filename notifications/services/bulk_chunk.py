"""What a bulk send's handler reads once per chunk instead of once per row,
and the few writes it makes per message.

Before a chunk is worked (``chunk_prepare``, the batch job's chunk hook):
the send itself, the active suppressions of the chunk's addresses and the
messages rows worked before already have, in three queries. After it
(``chunk_finish``): every new message linked to its row in one UPDATE. Per
message there are then two writes of our own around the provider call: the
message INSERTed already ``sending`` (the marker, one autocommitted
statement) and its outcome (one UPDATE and one INSERT of its two events).

A row's message can always be found by its idempotency key, so a worker
killed before ``chunk_finish`` leaves nothing a row worked again can miss
(docs/notifications.md, *Bulk speed*).
"""

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection
from django.utils import timezone

from integrations.batch import relaxed_commit
from integrations.db import savepoint_if_nested
from integrations.failover import enabled_accounts
from integrations.models import ProviderAccount
from integrations.row_sql import row_insert
from notifications.models import (
    BulkRecipient,
    BulkSend,
    EmailEvent,
    EmailMessage,
    EmailStatus,
    Suppression,
    SuppressionReason,
    normalise_address,
)
from notifications.providers.base import EmailCategory
from notifications.rendering import EmailRenderError, render_email
from notifications.services.bulk_duplicates import duplicates
from notifications.services.bulk_sql import (
    one_statement_available,
    sent_in_one_statement,
)
from notifications.services.suppressions import suppression_reason_blocks
from notifications.services.unrendered import email_message_store_failed
from notifications.unsubscribe import unsubscribe_headers

logger = logging.getLogger(__name__)


@dataclass
class ChunkState:
    """One chunk's reads, keyed by row pk; filled in by ``chunk_prepare``."""

    bulk: BulkSend
    row_ids: frozenset[int]
    suppressions: dict[str, str]  # address -> reason
    messages: dict[int, EmailMessage]  # row pk -> message found
    # row pk -> message pk, for rows not linked to theirs yet
    unlinked: dict[int, int] = field(default_factory=dict)
    # row pk -> the row that sends its address instead (bulk_duplicates)
    duplicates: dict[int, int] = field(default_factory=dict)
    # The email accounts in failover order, read once per chunk: an admin's
    # change applies from the next chunk.
    _accounts: list[ProviderAccount] | None = None

    def accounts(self) -> list[ProviderAccount]:
        if self._accounts is None:
            self._accounts = enabled_accounts("email")
        return self._accounts


_local = threading.local()
_BULK_SENDS: dict[tuple[Any, ...], BulkSend] = {}


def idempotency_key(row_pk: int, bulk: BulkSend) -> str:
    """The recipient's message key: one message per row, ever."""
    return f"{idempotency_key_prefix(bulk)}{row_pk}"


def idempotency_key_prefix(bulk: BulkSend) -> str:
    """What every message key of the send starts with (the row pk follows)."""
    return f"bulk:{bulk.public_id}:"


def bulk_for(row: BulkRecipient) -> BulkSend:
    """The row's send, read once per job per process (it never changes). The
    job's creation time keys it too, as a test database may reuse a pk."""
    key = (row.bulk_send_id, row.job_id, row.job.created_at)
    if key not in _BULK_SENDS:
        if len(_BULK_SENDS) > 64:
            _BULK_SENDS.clear()
        _BULK_SENDS[key] = BulkSend.objects.get(pk=row.bulk_send_id)
    return _BULK_SENDS[key]


def chunk_prepare(rows: Sequence[BulkRecipient]) -> None:
    """Read what the chunk's rows need (see the module docstring)."""
    _local.state = chunk_state(rows)


def chunk_state(rows: Sequence[BulkRecipient]) -> ChunkState:
    bulk = bulk_for(rows[0])
    # Rows stored before normalise_address spelled IDNs in ASCII: normalised.
    addresses = {normalise_address(row.email) for row in rows}
    suppressions = dict(
        Suppression.objects.filter(
            address__in=addresses, removed_at__isnull=True
        ).values_list("address", "reason")
    )
    keys = {idempotency_key(row.pk, bulk): row.pk for row in rows}
    found = EmailMessage.objects.filter(idempotency_key__in=keys)
    messages = {keys[m.idempotency_key]: m for m in found}
    row_ids = frozenset(row.pk for row in rows)
    state = ChunkState(bulk, row_ids, suppressions, messages)
    # Stored by a worker stopped before its chunk's end: linked with ours.
    linked = {row.pk for row in rows if row.message_id is not None}
    state.unlinked = {pk: m.pk for pk, m in messages.items() if pk not in linked}
    state.duplicates = duplicates(bulk, rows, lambda pk: idempotency_key(pk, bulk))
    return state


def state_for(row: BulkRecipient) -> ChunkState:
    """The chunk's state when ``row`` is in it, else read for the row alone
    (a handler called outside a chunk)."""
    state = getattr(_local, "state", None)
    if state is None or row.pk not in state.row_ids:
        state = chunk_state([row])
    return state


def chunk_finish(rows: Sequence[BulkRecipient]) -> None:
    """Link each message the chunk stored (or found unlinked) to its row,
    in one UPDATE."""
    state = getattr(_local, "state", None)
    _local.state = None
    if state is None or not state.unlinked:
        return
    # What bulk_update would send, without building an expression per row.
    meta = BulkRecipient._meta
    pk, fk = meta.pk.column, meta.get_field("message").column
    pairs = list(state.unlinked.items())
    whens = " ".join(["WHEN %s THEN %s"] * len(pairs))
    marks = ", ".join(["%s"] * len(pairs))
    sql = (
        f'UPDATE "{meta.db_table}" SET "{fk}" = CASE "{pk}" {whens} END '  # noqa: S608
        f'WHERE "{pk}" IN ({marks})'
    )
    params = [value for pair in pairs for value in pair] + [row for row, _ in pairs]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def message_insert(
    row: BulkRecipient, state: ChunkState, claimed_at: datetime
) -> EmailMessage | None:
    """Store the row's message, already ``sending`` from ``claimed_at`` (or
    ``suppressed``), in one autocommitted INSERT; None if another worker
    stored it first. Raises EmailRenderError for a template that fails, the
    row's message stored ``failed`` with it first (as a single send keeps
    one: ``unrendered``)."""
    bulk = state.bulk
    context, headers = _row_content(row, bulk)
    reason = state.suppressions.get(normalise_address(row.email))
    suppressed = reason if suppression_reason_blocks(reason, bulk.category) else None
    try:
        rendered = render_email(bulk.template, context)
    except EmailRenderError as error:
        stored = _store_unrendered(row, state, error, context, headers, suppressed)
        if suppressed:
            # Nothing would be sent either way: suppressed, the row done.
            return stored if stored.status == EmailStatus.SUPPRESSED else None
        raise
    message = EmailMessage(
        to_email=row.email,
        from_email=bulk.from_email or settings.EMAIL_DEFAULT_FROM,
        template=bulk.template,
        context=context,
        subject=rendered.subject,
        text_body=rendered.text,
        html_body=rendered.html,
        headers=headers,
        category=bulk.category,
        idempotency_key=idempotency_key(row.pk, bulk),
        bulk_send=bulk,
        status=EmailStatus.SUPPRESSED if suppressed else EmailStatus.SENDING,
        sending_at=None if suppressed else claimed_at,
        attempts=0 if suppressed else 1,
    )
    # Autocommit: one statement, committed before the provider call (a
    # savepoint only inside a caller's transaction, so a conflict is caught).
    try:
        with savepoint_if_nested():
            row_insert(message)
    except IntegrityError:
        return None
    state.unlinked[row.pk] = message.pk
    if suppressed:
        details = {"suppression": SuppressionReason(suppressed).label}
        EmailEvent.objects.create(
            message=message, type=EmailStatus.SUPPRESSED, details=details
        )
    return message


def _store_unrendered(
    row: BulkRecipient,
    state: ChunkState,
    error: EmailRenderError,
    context: dict[str, Any],
    headers: dict[str, str],
    suppressed: str | None,
) -> EmailMessage:
    """The row's message its template failed for: ``failed``, or
    ``suppressed`` when its address is (the template's code kept, so a
    resend renders it anew); the one stored first under its key if any."""
    bulk = state.bulk
    stored = email_message_store_failed(
        to=row.email,
        template=bulk.template,
        context=context,
        error=error,
        idempotency_key=idempotency_key(row.pk, bulk),
        bulk_send=bulk,
        category=bulk.category,
        from_email=bulk.from_email,
        headers=headers,
        suppression=SuppressionReason(suppressed).label if suppressed else "",
    )
    state.unlinked[row.pk] = stored.pk
    return stored


def _row_content(
    row: BulkRecipient, bulk: BulkSend
) -> tuple[dict[str, Any], dict[str, str]]:
    """The row's template context and headers (a marketing send's
    unsubscribe link, in both)."""
    context = {**bulk.context, **row.context}
    headers: dict[str, str] = {}
    if bulk.category == EmailCategory.MARKETING:
        headers = unsubscribe_headers(row.email)
        # The header's URL is the body's: signed once.
        context.setdefault("unsubscribe_url", headers["List-Unsubscribe"][1:-1])
    return context, headers


def record_sent(
    message: EmailMessage,
    provider_message_id: str,
    account: ProviderAccount,
    *,
    first: bool,
) -> bool:
    """The provider took ``message``: ``sent``, with its ``sent`` event
    (and, for a message stored just now, ``first``, its ``sending`` one),
    committed without waiting for the disk: one statement on PostgreSQL
    (``bulk_sql``), else one relaxed transaction. False when a webhook moved
    it on meanwhile (the caller records it the careful way)."""
    now = timezone.now()
    details = {"account": account.slug}
    if one_statement_available():
        events = [(EmailStatus.SENT, now, details)]
        if first:
            at = message.sending_at or now
            events.insert(0, (EmailStatus.SENDING, at, {}))
        return sent_in_one_statement(
            message.pk, account.pk, provider_message_id, now, events
        )
    sent = EmailEvent(
        message=message,
        type=EmailStatus.SENT,
        occurred_at=now,
        created_at=now,
        details=details,
    )
    # A database crash losing this commit leaves the message ``sending``:
    # unknown when its row is worked again, never sent twice.
    with relaxed_commit():
        updated = EmailMessage.objects.filter(
            pk=message.pk, status=EmailStatus.SENDING
        ).update(
            status=EmailStatus.SENT,
            account=account,
            provider_message_id=provider_message_id,
            last_error="",
            error_code="",
            sent_at=now,
            updated_at=now,
        )
        if updated:
            events = [sending_event(message), sent] if first else [sent]
            EmailEvent.objects.bulk_create(events)
    return bool(updated)


def sending_event(message: EmailMessage) -> EmailEvent:
    """The marker's event, kept with the outcome's (one INSERT for both)."""
    at = message.sending_at or timezone.now()
    return EmailEvent(
        message=message, type=EmailStatus.SENDING, occurred_at=at, created_at=at
    )
