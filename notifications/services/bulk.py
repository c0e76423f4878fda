"""Bulk sends: one template to many recipients, each with its own data,
worked as an ``integrations.batch`` job with one ``BulkRecipient`` row each.

Recipients are streamed into the database a thousand at a time (never all
in memory); the same address twice is kept once. The rows are worked by
``notifications.services.bulk_send.bulk_recipient_send``, which commits a
"sending" marker before every provider call (docs/notifications.md, *Bulk
sends*).
"""

import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import CharField, Count, Exists, OuterRef, Value
from django.db.models.functions import Cast, Concat

from integrations.batch import (
    BatchProgress,
    batch_job_cancel,
    batch_job_create,
    batch_job_next_try,
    batch_job_progress,
    batch_job_start,
    batch_rows_add,
)
from integrations.models import BatchJob, BatchRowStatus
from notifications.models import (
    BulkRecipient,
    BulkSend,
    BulkSendStatus,
    EmailMessage,
    EmailStatus,
    normalise_address,
)
from notifications.providers.base import EmailCategory
from notifications.rendering import EmailRenderError, render_email
from notifications.services.bulk_cancel import (
    BULK_CANCELLED,
    bulk_cancelled_messages_end,
)
from notifications.services.bulk_chunk import idempotency_key_prefix
from notifications.services.checks import (
    EmailInvalid,
    email_address_check,
    email_category_check,
)
from notifications.services.limits import (
    SUBJECT_EMPTY,
    email_subject_check,
    email_subject_required,
)

logger = logging.getLogger(__name__)
# The send's and its batch job's name column.
NAME_MAX_LENGTH = 255

HANDLER = "notifications.services.bulk_send.bulk_recipient_send"
KIND = "email.bulk"
DEFAULT_CHUNK_SIZE = 50  # rows that each call a provider: tens (docs/batch.md)
# Beyond these a chunk outlives its lease and the queue floods with tasks.
MAX_CHUNK_SIZE = 1000
MAX_WORKERS = 64
_SAMPLE_UNSUBSCRIBE = "https://example.invalid/unsubscribe"
_PASSED_MAX = 1024  # distinct row data remembered as rendered


@dataclass(frozen=True)
class Recipient:
    """One recipient as given: an address and its own template data."""

    email: str
    context: Mapping[str, Any]


@dataclass(frozen=True)
class BulkSendCreated:
    bulk_send: BulkSend
    added: int  # rows stored
    invalid: int  # addresses skipped as not valid
    duplicates: int  # the same address again, kept once


def bulk_send_create(
    *,
    template: str,
    recipients: Iterable[Recipient | Mapping[str, Any]],
    category: str = EmailCategory.MARKETING,
    context: Mapping[str, Any] | None = None,
    name: str = "",
    from_email: str = "",
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    workers: int = 1,
    start: bool = True,
    refuse_invalid: bool = False,
) -> BulkSendCreated:
    """Store a bulk send with a row per recipient and start it on commit.

    The template is rendered for every recipient as it is read (with the
    shared context and that recipient's data, as the API checks them), so a
    missing template, or a variable any one row lacks, is an EmailRenderError
    naming that row and nothing is stored, not a row that fails at send time.
    An invalid address is skipped and counted, or with ``refuse_invalid``
    (the API) an EmailInvalid naming its row; raises EmailInvalid when no
    recipient is valid. An error about one recipient has its ``row``,
    counted from 1 in the order given, as its message numbers it.
    """
    email_category_check(category)
    _sizes_check(chunk_size, workers)
    _sender_check(from_email, name)
    shared = dict(context or {})
    check = _RenderCheck(template, category, shared)
    stream = _Valid(iter(recipients), check, refuse_invalid=refuse_invalid)
    # The first row is checked before anything is stored; a later row that
    # fails its check rolls the send and the rows before it back.
    first = next(stream.rows, None)
    if first is None:
        raise EmailInvalid(
            "No valid recipient was given.", code="no_recipients", param="recipients"
        )
    with transaction.atomic():
        bulk, added = _store(
            template,
            category,
            shared,
            name,
            from_email,
            chunk_size,
            _chain(first, stream.rows),
        )
        if start:
            batch_job_start(job=bulk.job, workers=workers)
    job = bulk.job
    logger.info(
        "bulk send created",
        extra={"bulk_send": bulk.public_id, "job_id": job.pk, "rows": added},
    )
    return BulkSendCreated(
        bulk_send=bulk,
        added=added,
        invalid=stream.invalid,
        duplicates=stream.seen - stream.invalid - added,
    )


def _sizes_check(chunk_size: int, workers: int) -> None:
    for param, value, most in (
        ("chunk_size", chunk_size, MAX_CHUNK_SIZE),
        ("workers", workers, MAX_WORKERS),
    ):
        if not 1 <= value <= most:
            raise EmailInvalid(
                f"{param} must be between 1 and {most}, not {value}.",
                code="out_of_range",
                param=param,
            )


def _sender_check(from_email: str, name: str) -> None:
    if from_email:
        try:
            email_address_check(from_email)
        except EmailInvalid:
            # Named as the sender: the check's own text speaks of the recipient.
            raise EmailInvalid(
                "The sender is not a valid email address: give a bare address "
                "such as shop@example.com.",
                code="invalid_sender",
                param="from_email",
            ) from None
    if len(name) > NAME_MAX_LENGTH:
        raise EmailInvalid(
            f"The name has more than {NAME_MAX_LENGTH} characters.",
            code="name_too_long",
            param="name",
        )


def _store(
    template: str,
    category: str,
    context: dict[str, Any],
    name: str,
    from_email: str,
    chunk_size: int,
    recipients: Iterator[Recipient],
) -> tuple[BulkSend, int]:
    job = batch_job_create(
        kind=KIND,
        name=name or template,
        handler=HANDLER,
        row_model=BulkRecipient,
        chunk_size=chunk_size,
        start=False,
    )
    bulk = BulkSend.objects.create(
        name=name,
        template=template,
        category=category,
        from_email=from_email,
        context=context,
        job=job,
    )
    rows = (
        BulkRecipient(bulk_send=bulk, email=r.email, context=dict(r.context))
        for r in recipients
    )
    return bulk, batch_rows_add(job=job, rows=rows)


class _Valid:
    """Recipients with a valid address, normalised and each passed to
    ``check`` with its index in the input; counts what it saw. An invalid
    address is skipped, or with ``refuse_invalid`` an error naming its row."""

    def __init__(
        self,
        source: Iterator[Recipient | Mapping[str, Any]],
        check: Callable[[Recipient, int], None],
        *,
        refuse_invalid: bool = False,
    ) -> None:
        self.source = source
        self.check = check
        self.refuse_invalid = refuse_invalid
        self.seen = 0
        self.invalid = 0
        self.rows = self._rows()

    def _rows(self) -> Iterator[Recipient]:
        for item in self.source:
            self.seen += 1
            recipient = _recipient(item)
            try:
                address = email_address_check(recipient.email)
            except EmailInvalid as exc:
                if self.refuse_invalid:
                    raise EmailInvalid(
                        f"Recipient {self.seen} ({recipient.email!r}): {exc}",
                        code=exc.code,
                        param="email",
                        row=self.seen,
                    ) from None
                self.invalid += 1
                continue
            row = Recipient(normalise_address(address), recipient.context)
            self.check(row, self.seen - 1)
            yield row


def _recipient(item: Recipient | Mapping[str, Any]) -> Recipient:
    if isinstance(item, Recipient):
        return item
    data = dict(item)
    email = str(data.pop("email", "") or "")
    nested = data.pop("context", None)
    return Recipient(email, dict(nested) if isinstance(nested, Mapping) else data)


def _chain(first: Recipient, rest: Iterator[Recipient]) -> Iterator[Recipient]:
    yield first
    yield from rest


class _RenderCheck:
    """Render the template for one recipient as its send will (compiled
    once, about 0.1 ms a row); an error's message names the row (counted
    from 1 in the order given) and its address, ``param`` the variable."""

    def __init__(self, template: str, category: str, shared: dict[str, Any]) -> None:
        self.template = template
        self.shared = shared
        self.marketing = category == EmailCategory.MARKETING
        self.subject_required = email_subject_required()
        # Row data already rendered: a file of addresses and no data of
        # their own renders once, not once a row.
        self.passed: set[tuple[tuple[str, type, Any], ...]] = set()

    def __call__(self, row: Recipient, index: int) -> None:
        # The type too: 1 and True are equal keys but render differently.
        key = tuple((k, type(v), v) for k, v in row.context.items())
        try:
            if key in self.passed:
                return
        except TypeError:  # a list or object in the data: not hashable
            key = None
        self._render(row, index)
        if key is not None and len(self.passed) < _PASSED_MAX:
            self.passed.add(key)

    def _render(self, row: Recipient, index: int) -> None:
        context = {**self.shared, **row.context}
        if self.marketing:
            context.setdefault("unsubscribe_url", _SAMPLE_UNSUBSCRIBE)
        try:
            rendered = render_email(self.template, context)
            email_subject_check(rendered.subject, required=self.subject_required)
        except EmailRenderError as exc:
            if exc.code == "missing_variable":
                raise EmailRenderError(
                    f"Recipient {index + 1} ({row.email}): the template uses "
                    f"{exc.param!r}, which neither the shared context nor this "
                    "recipient's data provides.",
                    code=exc.code,
                    param=exc.param,
                    row=index + 1,
                ) from None
            if exc.code in ("subject_too_long", SUBJECT_EMPTY):
                raise EmailRenderError(
                    f"Recipient {index + 1} ({row.email}): {exc}",
                    code=exc.code,
                    param=exc.param,
                    row=index + 1,
                ) from None
            raise  # the template itself: the same for every row


def bulk_send_cancel(*, bulk_send: BulkSend) -> BatchJob | None:
    """Stop a bulk send: nothing more is sent; a message already under way
    finishes. A finished send is left as it is."""
    if bulk_send.job_id is None:
        return None
    job = batch_job_cancel(job_id=bulk_send.job_id)
    # Messages handed back while their rows wait are never sent now: ended
    # (the sweep ends any a row in flight hands back after this).
    bulk_cancelled_messages_end(bulk_send=bulk_send)
    logger.info(
        "bulk send cancel requested",
        extra={"bulk_send": bulk_send.public_id, "job_status": job.status},
    )
    return job


def bulk_send_status(bulk_send: BulkSend) -> str:
    """The send's status: its batch job's (the rows are the truth)."""
    job = bulk_send.job
    if job is None:
        return BulkSendStatus.FAILED
    return job.status


def bulk_send_progress(bulk_send: BulkSend) -> BatchProgress | None:
    job = bulk_send.job
    return batch_job_progress(job) if job is not None else None


def bulk_send_counts(bulk_send: BulkSend) -> dict[str, int]:
    """Recipients by outcome: their message's status (sent, suppressed,
    failed, unknown, delivered, ...), ``waiting`` for a message handed back
    to be tried later (its row paced, backing off, or waiting alone for a
    paused account), ``cancelled`` for one ended by the send's cancel while
    it waited, ``duplicate`` for rows done without a message (another
    row of the send has their address: bulk_duplicates), plus ``pending``
    for rows with none yet."""
    counts = dict(
        EmailMessage.objects.filter(bulk_send=bulk_send)
        .values_list("status")
        .annotate(n=Count("pk"))
        .order_by()
    )
    # A bulk message is stored ``sending``: ``queued`` is only ever one
    # handed back, its row waiting to be worked again.
    if EmailStatus.QUEUED in counts:
        counts["waiting"] = counts.pop(EmailStatus.QUEUED)
    if EmailStatus.FAILED in counts:
        # Ended by a cancel, not refused: counted as such.
        cancelled = EmailMessage.objects.filter(
            bulk_send=bulk_send, status=EmailStatus.FAILED, error_code=BULK_CANCELLED
        ).count()
        if cancelled:
            counts["cancelled"] = cancelled
            counts[EmailStatus.FAILED] -= cancelled
            if not counts[EmailStatus.FAILED]:
                del counts[EmailStatus.FAILED]
    # Each row has at most one message (its idempotency key), linked to the
    # row only when its chunk ends: rows without one are rows minus messages.
    rows = BulkRecipient.objects.filter(bulk_send=bulk_send).count()
    duplicates = _duplicates(bulk_send)
    if duplicates:
        counts["duplicate"] = duplicates
    pending = rows - sum(counts.values())
    if pending > 0:
        counts["pending"] = pending
    return counts


def bulk_send_next_try(bulk_send: BulkSend) -> datetime | None:
    """When the first recipient waiting (backing off, or alone for a paused
    account, its waits growing: ``integrations.batch.rows.defer_seconds``)
    is tried again, by the database's clock; None when none waits."""
    if bulk_send.job is None:
        return None
    return batch_job_next_try(bulk_send.job)


def _duplicates(bulk_send: BulkSend) -> int:
    """Rows done with no message of their own: skipped as a duplicate (a
    row's message is linked when its chunk ends, so looked up by its key)."""
    prefix = Value(idempotency_key_prefix(bulk_send))
    key = Concat(prefix, Cast(OuterRef("pk"), CharField()))
    own = EmailMessage.objects.filter(idempotency_key=key)
    return (
        BulkRecipient.objects.filter(
            bulk_send=bulk_send, status=BatchRowStatus.DONE, message__isnull=True
        )
        .exclude(Exists(own))
        .count()
    )
