"""Staff recovery of a signed body stored dead as unusable (webhooks.unusable).

A code fix can make such a body readable. Staff's replay reads the stored
body (and the stored safe headers) again through the account's adapter
(``webhook_stored_messages``), without a second signature check: it passed at
intake and the bytes are ours. What it now yields is stored exactly as the
intake stores it (the same event-id dedupe: a provider's retry stored since
makes it a duplicate, processed once) and the dead row says what became of
it. Still unreadable, the row stays dead with the fresh reason.

Refused, the row unchanged: a body the intake would refuse today (over
``WEBHOOK_MAX_BYTES``), an account disabled or now of another kind or
provider than the one that received it, or a reading that needs what was not
stored. The row is locked while it is read: two staff replaying it at once
recover it once.
"""

import logging
from collections.abc import Iterable
from dataclasses import dataclass

from django.conf import settings
from django.contrib.admin.models import CHANGE, LogEntry
from django.db import router, transaction
from django.db.models.functions import Now

from integrations import correlation, registry
from integrations.errors import ProviderError
from integrations.models import ProviderAccount, WebhookEvent, WebhookStatus
from integrations.webhooks import unusable
from integrations.webhooks.messages import WebhookMessage, reading_received_at
from integrations.webhooks.services import (
    UNUSABLE_ROWS,
    webhook_event_receive,
    webhook_events_receive,
    webhook_events_requeue,
)
from integrations.webhooks.verification import (
    RequestHeaders,
    StoredBodyNotReadable,
    UnusableWebhook,
)

logger = logging.getLogger(__name__)

# What a replay of an unusable row came to (Recovery.outcome).
RECOVERED = "recovered"
DUPLICATE = "duplicate"
STILL_UNUSABLE = "still_unusable"
REFUSED = "refused"
ALREADY = "already_recovered"
# The dead row's payload key naming the events it became.
RECOVERED_KEY = "recovered"
# The history's user of a replay_webhooks run without --user: a name no admin
# form accepts (it has a space), so no person's account can be it.
REPLAY_COMMAND_USER = "manage.py replay_webhooks"
# Rows a history write holds at once: a run may replay 100,000 events.
HISTORY_CHUNK = 1000
# Why a chosen row was not queued: its lock was taken (a worker's claim, or
# another replay that may yet roll back) or a worker has claimed it; which
# of these is not known, so none is said.
SKIPPED = "held by a worker or another replay at that moment, not queued by this replay"


@dataclass(frozen=True)
class Recovery:
    """One unusable row's replay: its outcome and what staff are told."""

    event_id: int
    outcome: str
    text: str
    stored: tuple[int, ...] = ()
    reason: str = ""  # why it was refused

    @property
    def done(self) -> bool:
        return self.outcome in (RECOVERED, DUPLICATE)


@dataclass(frozen=True)
class Replay:
    """Staff's replay of chosen rows (the admin's, ``replay_webhooks``'):
    events sent through processing again, unusable bodies read again."""

    queued_ids: tuple[int, ...]
    skipped_ids: tuple[int, ...]  # held by a worker or another replay (SKIPPED)
    recoveries: tuple[Recovery, ...]

    @property
    def queued(self) -> int:
        return len(self.queued_ids)

    @property
    def skipped(self) -> int:
        return len(self.skipped_ids)

    def count(self, *outcomes: str) -> int:
        return sum(1 for r in self.recoveries if r.outcome in outcomes)

    @property
    def summary(self) -> str:
        """One line: what was queued, and what became of the unusable rows
        (a selection of those only queues nothing, and must not say just that)."""
        parts = []
        if self.queued or not self.recoveries:
            parts.append(f"{self.queued} webhook event(s) queued for replay.")
        if self.recoveries:
            refused = [r for r in self.recoveries if r.outcome == REFUSED]
            why = "; ".join(f"#{r.event_id}: {r.reason}" for r in refused)
            text = (
                f"Unusable bodies read again: {self.count(RECOVERED, DUPLICATE)} "
                f"recovered, {self.count(STILL_UNUSABLE)} still unreadable, "
                f"{len(refused)} refused" + (f" ({why})" if why else "")
            )
            already = self.count(ALREADY)
            parts.append(text + (f", {already} already recovered." if already else "."))
        return " ".join(parts)


def webhook_events_replay_chosen(
    *, event_ids: Iterable[int], user_id: int, via: str = ""
) -> Replay:
    """Replay the chosen rows as staff do: events are queued again
    (``webhook_events_replay``), unusable bodies recovered one by one. Each
    step commits with its history entries (``webhook_replay_history_write``,
    as ``user_id``): the requeue in one transaction, each recovery in its
    own. A failure (or a crash) leaves no step done without its entry, and
    no replay holds its rows locked longer than one step."""
    ids = list(dict.fromkeys(event_ids))
    using = router.db_for_write(WebhookEvent)
    unusable = unusable_ids(ids)
    with transaction.atomic(using=using):
        queued = webhook_events_requeue(event_ids=ids)
        # Neither queued nor unusable: held elsewhere (or pruned since chosen).
        done = {*queued, *unusable}
        skipped = tuple(pk for pk in ids if pk not in done)
        requeue = Replay(tuple(queued), skipped, ())
        webhook_replay_history_write(replay=requeue, user_id=user_id, via=via)
    recoveries = []
    for event_id in unusable:
        with transaction.atomic(using=using):
            try:
                recovery = webhook_unusable_recover(event_id=event_id)
            except WebhookEvent.DoesNotExist:
                continue  # pruned since it was chosen
            one = Replay((), (), (recovery,))
            webhook_replay_history_write(replay=one, user_id=user_id, via=via)
        recoveries.append(recovery)
    return Replay(requeue.queued_ids, skipped, tuple(recoveries))


def webhook_replay_history_write(
    *, replay: Replay, user_id: int, via: str = ""
) -> None:
    """One entry per replayed event in its admin history, saying what became
    of it (queued, skipped, the unusable body's outcome): the only writer,
    called in each step's transaction (``webhook_events_replay_chosen``), for
    the admin's replay and ``replay_webhooks``' alike (``via`` names the
    command and who ran it). A row pruned since it was chosen has none."""
    how = f" ({via})" if via else ""
    texts = dict.fromkeys(replay.queued_ids, f"Replay{how}: queued for replay.")
    texts.update(dict.fromkeys(replay.skipped_ids, f"Replay{how}: skipped, {SKIPPED}."))
    texts.update(
        (r.event_id, f"Replay of an unusable body{how}: {r.text}")
        for r in replay.recoveries
    )
    ids = sorted(texts)
    for start in range(0, len(ids), HISTORY_CHUNK):
        _history_chunk(ids[start : start + HISTORY_CHUNK], texts, user_id)


def _history_chunk(ids: list[int], texts: dict[int, str], user_id: int) -> None:
    # Only what an entry names (the row's str): a body may be a megabyte.
    rows = WebhookEvent.objects.filter(pk__in=ids).only("event_type", "dedupe_key")
    groups: dict[str, list[WebhookEvent]] = {}
    for row in rows.order_by("pk"):
        groups.setdefault(texts[row.pk], []).append(row)
    # One insert per distinct text.
    for text, group in groups.items():
        LogEntry.objects.log_actions(
            user_id=user_id,
            queryset=group,
            action_flag=CHANGE,
            change_message=text,
        )


def unusable_ids(event_ids: Iterable[int]) -> list[int]:
    """The unusable rows among ``event_ids`` (a replay recovers them)."""
    rows = WebhookEvent.objects.filter(UNUSABLE_ROWS, pk__in=list(event_ids))
    return sorted(rows.values_list("pk", flat=True))


def webhook_unusable_recover(*, event_id: int) -> Recovery:
    """Read one unusable row's stored body again and store what it yields.
    Raises WebhookEvent.DoesNotExist when no unusable row has this id."""
    using = router.db_for_write(WebhookEvent)
    with transaction.atomic(using=using):
        # Locked: a second replay of the row waits, then finds it recovered.
        row = (
            WebhookEvent.objects.using(using)
            .select_for_update()
            .get(UNUSABLE_ROWS, pk=event_id)
        )
        if row.status != WebhookStatus.DEAD:
            # Said as earlier: the note alone reads as a recovery just now.
            text = f"Already recovered earlier ({row.note})." if row.note else ""
            return Recovery(row.pk, ALREADY, text or "Already recovered earlier.")
        account = ProviderAccount.objects.using(using).get(pk=row.account_id)
        refusal = _refusal(row, account)
        if refusal:
            return _refused(row, refusal)
        try:
            messages = _read(row, account)
        except UnusableWebhook as exc:
            return _still_unusable(row, exc)
        except StoredBodyNotReadable as exc:
            return _refused(row, f"the body cannot be read again: {exc}")
        limit = settings.WEBHOOK_MAX_MESSAGES_PER_REQUEST
        if len(messages) > limit:
            return _refused(row, f"it carries {len(messages)} events, over {limit}")
        with correlation.bind(row.correlation_id or None):
            stored = _store(row, account, messages)
        return _resolved(row, stored)


def _refusal(row: WebhookEvent, account: ProviderAccount) -> str:
    """Why the row's body must not be read again now; "" when it may."""
    if len(bytes(row.raw_body or b"")) > settings.WEBHOOK_MAX_BYTES:
        return "the stored body is over WEBHOOK_MAX_BYTES (the intake refuses it now)"
    if not account.enabled:
        return "its account is disabled"
    received_by = row.payload.get(unusable.RECEIVED_BY) if row.payload else None
    if received_by and received_by != unusable.received_by(account):
        return "its account is now of another kind or provider than received it"
    return ""


def _read(row: WebhookEvent, account: ProviderAccount) -> list[WebhookMessage]:
    try:
        adapter = registry.get_adapter(account)
        if not adapter.webhook_signing_credential:
            raise StoredBodyNotReadable("the account's provider takes no webhooks")
        # An event dated on receipt was received then, not at this replay.
        with reading_received_at(row.received_at):
            return adapter.webhook_stored_messages(
                body=bytes(row.raw_body or b""), headers=_headers(row.headers)
            )
    except (ProviderError, *registry.ACCOUNT_UNCALLABLE):
        # The error's type only here: its text may name configuration.
        raise StoredBodyNotReadable("this deploy cannot call its account") from None


def _headers(stored: dict[str, str]) -> RequestHeaders:
    return RequestHeaders({str(k).lower(): str(v) for k, v in (stored or {}).items()})


def _store(
    row: WebhookEvent, account: ProviderAccount, messages: list[WebhookMessage]
) -> list[tuple[int, bool]]:
    """Stored and enqueued (on commit) as the intake would: ``(id, created)``
    each; a duplicate is the row the event already has."""
    body, headers = bytes(row.raw_body or b""), row.headers or {}
    if len(messages) == 1:
        return [
            webhook_event_receive(
                account=account, message=messages[0], body=body, headers=headers
            )
        ]
    created = set(
        webhook_events_receive(
            account=account, messages=messages, body=body, headers=headers
        )
    )
    keys = {m.dedupe_key for m in messages}
    ids = WebhookEvent.objects.filter(account=account, dedupe_key__in=keys)
    return [(pk, pk in created) for pk in ids.values_list("pk", flat=True)]


def _resolved(row: WebhookEvent, stored: list[tuple[int, bool]]) -> Recovery:
    new = [pk for pk, created in stored if created]
    old = [pk for pk, created in stored if not created]
    parts = []
    if new:
        parts.append(f"stored as event {_numbers(new)} and queued")
    if old:
        parts.append(f"a duplicate of event {_numbers(old)} (already stored)")
    text = "Recovered by replay: " + ("; ".join(parts) or "it carries no event")
    row.payload = {**(row.payload or {}), RECOVERED_KEY: {"new": new, "old": old}}
    WebhookEvent.objects.filter(pk=row.pk).update(
        status=WebhookStatus.PROCESSED,
        note=text[:255],
        payload=row.payload,
        processed_at=Now(),
        next_attempt_at=None,
    )
    _log("webhook unusable body recovered", row, outcome="recovered", events=new)
    outcome = RECOVERED if new or not old else DUPLICATE
    return Recovery(row.pk, outcome, text, tuple(pk for pk, _ in stored))


def _numbers(ids: list[int]) -> str:
    return ", ".join(f"#{pk}" for pk in ids)


def _still_unusable(row: WebhookEvent, exc: UnusableWebhook) -> Recovery:
    error = unusable.stored_error(exc)
    WebhookEvent.objects.filter(pk=row.pk).update(last_error=error)
    _log("webhook unusable body still unusable", row, outcome="still_unusable")
    return Recovery(row.pk, STILL_UNUSABLE, f"Still unusable, left dead: {error}")


def _refused(row: WebhookEvent, reason: str) -> Recovery:
    _log("webhook unusable body replay refused", row, outcome="refused")
    return Recovery(row.pk, REFUSED, f"Not read again: {reason}.", reason=reason)


def _log(text: str, row: WebhookEvent, **extra: object) -> None:
    logger.info(text, extra={"webhook_event_id": row.pk, **extra})
