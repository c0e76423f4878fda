"""The delivery rows' life cycle: the core's leased rows, with the retry
schedule of the issue (5 s, 5 min, 30 min, 2 h, 5 h, 10 h, ... with jitter)
instead of plain doubling, and nothing claimed or swept for a disabled
endpoint (its rows wait until it is enabled), nor swept for one whose breaker
staff forced open (paused until it is released)."""

import random
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import DateTimeField, ExpressionWrapper, F, Q, QuerySet
from django.db.models.functions import Now

from integrations.client.call_rows import RELAXED_FROM
from integrations.leases import ClaimLost, LeasedRows, describe_error
from integrations.models import DeliveryStatus
from storefront_hooks.models import (
    DISCARDED_BY,
    STREAK_DISABLED_PREFIX,
    WAITING,
    WebhookDelivery,
    WebhookEndpoint,
)
from storefront_hooks.services.clock import stamp
from storefront_hooks.services.hold import hold_end

# Each delay is drawn from +-20 % of its step, so endpoints that failed
# together do not all come back in the same second.
JITTER = 0.2


# A task may find its row this much before its next attempt time and still
# send it: the one-off schedule runs by its worker's clock, the time was set
# by the database's, and a second or two apart between machines is usual.
DUE_EARLY_SECONDS = 2


def due_early() -> timedelta:
    """The claim's early allowance: ``DUE_EARLY_SECONDS``, but at most half
    the shortest wait a retry step can draw, so a second task for a row that
    just failed on a short step (2 s or less) still finds it not due."""
    shortest: float = min(settings.STOREFRONT_WEBHOOK_RETRY_SCHEDULE) * (1 - JITTER)
    return timedelta(seconds=min(DUE_EARLY_SECONDS, shortest / 2))


def due_by(at: datetime | Now) -> Q:
    """Rows whose next attempt is due at ``at``: a task that finds its row
    before that (the sweep and the row's schedule both enqueue it, a broker
    hands a task out twice) leaves it, so a failure's retry step is kept."""
    early = due_early()
    if isinstance(at, Now):
        limit: Any = ExpressionWrapper(at + early, output_field=DateTimeField())
    else:
        limit = at + early
    return Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=limit)


def retry_delay_for(attempts: int, *, jitter: float | None = None) -> timedelta:
    """The wait after the ``attempts``-th failed attempt."""
    schedule: list[int] = settings.STOREFRONT_WEBHOOK_RETRY_SCHEDULE
    step = schedule[min(max(attempts, 1), len(schedule)) - 1]
    factor = random.uniform(1 - JITTER, 1 + JITTER) if jitter is None else jitter
    return timedelta(seconds=step * factor)


# What a claimed row a success is settled on may have become since its
# claim (its ``claimed_at`` unchanged, so not claimed again): delivered by
# this very settle, whose commit's answer was lost (written again, the same);
# failed or dead, taken back by the sweeper after the lease as a lost worker
# (or then aged out, or discarded). The receiver has it: it is delivered,
# not sent again or left dead.
SETTLED_AFTER_CLAIM = (
    DeliveryStatus.DELIVERED,
    DeliveryStatus.FAILED,
    DeliveryStatus.DEAD,
)
# Of those, a row the sweeper took back: it counted this very attempt
# against the endpoint as of the claim, so a streak that began at the claim
# is this success's own and ends with it.
TAKEN_BACK = (DeliveryStatus.FAILED, DeliveryStatus.DEAD)


def _relaxed_delivered(
    row: WebhookDelivery, values: dict[str, Any], running: str, answered: datetime
) -> tuple[int, datetime | None, bool] | None:
    """Settle a claimed delivery as delivered and end its endpoint's failing
    streak if it began before this attempt and its Retry-After hold if an
    earlier answer set it (``DeliveryRows.deliver``), in one statement that
    commits without waiting for the disk (one round trip). Returns how many
    rows were settled (0: the claim is gone, nothing written), when the
    endpoint was disabled for the streak it ended (or None) and whether it
    ended a hold; None (nothing done) off PostgreSQL or inside a caller's
    transaction, whose commit it would relax too.

    Only for a delivery's settle (and its claim, ``services.claim``): a
    commit lost in a database crash leaves the row pending or claimed, so it
    is sent again with the same ``webhook-id``, which receivers deduplicate;
    the row itself was made durably by the outbox subscriber."""
    if not relaxed_allowed():
        return None
    sql = _relaxed_delivered_sql(list(values))
    params = [*values.values(), row.pk, row.pk, running, *SETTLED_AFTER_CLAIM]
    params += [row.claimed_at, *TAKEN_BACK, answered, f"{STREAK_DISABLED_PREFIX}%"]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        found = cursor.fetchone()
    return (0, None, False) if found is None else (1, found[0], bool(found[1]))


def _relaxed_delivered_sql(fields: list[str]) -> str:
    """``_relaxed_delivered``'s statement, setting ``fields`` of the row."""
    quote = connection.ops.quote_name
    meta, e_meta = WebhookDelivery._meta, WebhookEndpoint._meta
    table, endpoints = quote(meta.db_table), quote(e_meta.db_table)

    def col(name: str) -> str:
        return quote(meta.get_field(name).column)

    def e_name(name: str) -> str:
        return quote(e_meta.get_field(name).column)

    def e_col(name: str) -> str:
        return f"{endpoints}.{e_name(name)}"

    sets = ", ".join(f"{col(k)} = %s" for k in fields)
    since, until = e_col("failing_since"), e_col("retry_after_until")
    noted = e_col("retry_after_answered_at")
    streak = (
        f"({since} < settled.attempted_at "
        f"OR {since} = settled.attempted_at AND settled.taken_back)"
    )
    hold = (
        f"({until} IS NOT NULL AND ({noted} IS NULL OR {noted} < settled.answered_at))"
    )
    # Identifiers from the models, quoted; values are parameters. The
    # endpoint's row is written (and locked) only if it has a streak older
    # than this attempt (or as old, when the sweeper took the row back: the
    # streak it began is this attempt's) or a hold an earlier answer set
    # (services.hold), so successes to a healthy endpoint never queue on it.
    # One UPDATE of it (two in one statement would race each other).
    # ``before`` is the row as this statement found it. Under this claim,
    # see SETTLED_AFTER_CLAIM.
    return (
        f"WITH settled AS (UPDATE {table} SET {sets} "  # noqa: S608
        f"FROM {RELAXED_FROM}, (SELECT {col('status')} AS was FROM {table} "
        f"WHERE {quote(meta.pk.column)} = %s) AS before "
        f"WHERE {table}.{quote(meta.pk.column)} = %s "
        f"AND {table}.{col('status')} IN (%s, %s, %s, %s) "
        f"AND {table}.{col('claimed_at')} = %s "
        f"RETURNING {table}.{col('endpoint')} AS endpoint_id, "
        f"{table}.{col('claimed_at')} AS attempted_at, "
        f"before.was IN (%s, %s) AS taken_back, "
        f"%s::timestamptz AS answered_at), "
        f"ended AS (UPDATE {endpoints} SET "
        f"{e_name('failing_since')} = CASE WHEN {streak} THEN NULL ELSE {since} END, "
        f"{e_name('retry_after_until')} = CASE WHEN {hold} THEN NULL ELSE {until} END, "
        f"{e_name('retry_after_answered_at')} = "
        f"CASE WHEN {hold} THEN settled.answered_at ELSE {noted} END "
        f"FROM settled WHERE {e_col('id')} = settled.endpoint_id "
        f"AND ({streak} OR {hold}) "
        f"RETURNING {e_col('enabled')}, {e_col('disabled_reason')}, "
        f"{e_col('disabled_at')}, {since} IS NULL AS streak_over, "
        f"{until} IS NULL AND {noted} = settled.answered_at AS hold_over) "
        f"SELECT CASE WHEN ended.streak_over AND NOT ended.{e_name('enabled')} "
        f"AND ended.{e_name('disabled_reason')} LIKE %s "
        f"THEN ended.{e_name('disabled_at')} END, "
        f"COALESCE(ended.hold_over, FALSE) FROM settled LEFT JOIN ended ON TRUE"
    )


def in_callers_transaction() -> bool:
    """Whether statements run inside a transaction this code did not open
    (atomic, or autocommit turned off by hand): its commit must not be
    relaxed, nor its connection closed to retry (its work would be lost).
    As ``integrations.client.call_rows.write_relaxed`` checks."""
    if connection.in_atomic_block:
        return True
    # A thread that never connected is in autocommit unless the settings say
    # otherwise: asking the connection would open one.
    if connection.connection is None:
        return not connection.settings_dict["AUTOCOMMIT"]
    return not connection.get_autocommit()


def relaxed_allowed() -> bool:
    """Whether a relaxed statement (its own commit, not waiting for the
    disk) may run: PostgreSQL, outside a caller's transaction."""
    return connection.vendor == "postgresql" and not in_callers_transaction()


@dataclass(frozen=True)
class DeliveryRows(LeasedRows):
    def retry_delay(self, attempts: int) -> timedelta:
        return retry_delay_for(attempts)

    def claim(self, pk: int, now: datetime | None = None) -> bool:
        # The worker's claim is services.claim's; this one serves the rest.
        # Stamped by the database's clock: others compare it (clock.stamp).
        at = stamp(now)
        updated = (
            self.model.objects.filter(
                pk=pk, status__in=[self.waiting, self.failed], endpoint__enabled=True
            )
            .filter(due_by(at))
            .update(
                status=self.running,
                claimed_at=at,
                attempts=F("attempts") + 1,
                waits_for_slot=False,  # no longer waiting (services.handoff)
            )
        )
        return updated == 1

    def deliver(
        self, row: Any, *, answered_at: datetime, **fields: Any
    ) -> tuple[datetime | None, bool]:
        """Mark a claimed row delivered (and ``fields``) and end its
        endpoint's failing streak if it began before this attempt (the
        claim), or at it if the sweeper took the row back (that streak is
        this attempt's own, counted as lost: TAKEN_BACK). A failure
        committed meanwhile whose attempt began later may have been answered
        after this success, so its streak stands (it began at most an
        attempt's duration after the endpoint's last success). Ends the
        endpoint's Retry-After hold if an answer before this one set it
        (``services.hold``; this one came at ``answered_at``). Returns
        when the endpoint was disabled for the streak this success ended
        (the failure that disabled it was settled while this answer was on
        its way), else None, and whether
        it ended a hold. Raises ClaimLost if the claim is gone (nothing
        written)."""
        values = {"status": DeliveryStatus.DELIVERED, "last_error": ""}
        values.update(next_attempt_at=None, **fields)
        settled = _relaxed_delivered(row, values, self.running, answered_at)
        if settled is not None:
            updated, disabled_at, hold_ended = settled
            if updated != 1:
                raise ClaimLost
            return disabled_at, hold_ended
        with transaction.atomic():
            claimed = self.model.objects.filter(
                pk=row.pk,
                claimed_at=row.claimed_at,
                status__in=[self.running, *SETTLED_AFTER_CLAIM],
            )
            locked = claimed.select_for_update().values_list("status", flat=True)
            was = locked.first()
            if was is None or claimed.update(**values) != 1:
                raise ClaimLost
            hold_ended = hold_end(row.endpoint_id, answered_at)
            begun = Q(failing_since__lt=row.claimed_at)
            if was in TAKEN_BACK:
                begun |= Q(failing_since=row.claimed_at)
            ended = WebhookEndpoint.objects.filter(begun, pk=row.endpoint_id)
            found = ended.select_for_update().values_list(
                "enabled", "disabled_reason", "disabled_at"
            )
            for enabled, reason, disabled_at in found:
                ended.update(failing_since=None)
                if not enabled and reason.startswith(STREAK_DISABLED_PREFIX):
                    return disabled_at, hold_ended
        return None, hold_ended

    def fail(
        self,
        row: Any,
        exc: BaseException,
        now: datetime,
        *,
        error_prefix: str = "",
        require_claim: bool = False,
        give_up: bool = True,
        end_discarded: bool = True,
        **fields: Any,
    ) -> str:
        """As ``LeasedRows.fail``; but a row in flight when staff discarded
        its endpoint's waiting deliveries is ended as they were (dead), not
        left for enabling to send (``end_if_discarded``), unless
        ``end_discarded`` is off (it was delivered: a 2xx whose settle
        failed, never ended dead)."""
        error = f"{error_prefix}{describe_error(exc)}"
        if end_discarded and self.end_if_discarded(
            row, error, require_claim=require_claim, **fields
        ):
            return self.dead
        return super().fail(
            row,
            exc,
            now,
            error_prefix=error_prefix,
            require_claim=require_claim,
            give_up=give_up,
            **fields,
        )

    def end_if_discarded(
        self, row: Any, error: str, *, require_claim: bool = True, **fields: Any
    ) -> bool:
        """End a claimed row dead if staff discarded its endpoint's waiting
        deliveries after the claim (it was in flight, so the discard left it):
        True if so. The endpoint's row is locked to the caller's commit, so a
        discard committing meanwhile finds this row waiting and ends it."""
        with transaction.atomic():
            # Locked whether discarded or not: a discard waits for this.
            at, by = (
                WebhookEndpoint.objects.select_for_update()
                .filter(pk=row.endpoint_id)
                .values_list("discarded_at", "discarded_by")
                .first()
            ) or (None, "")  # deleted: so is the row (the claim is gone)
            if at is None or at < row.claimed_at:
                return False
            note = f"{DISCARDED_BY}{by} while the endpoint was disabled (in flight)"
            updated = self.held(row).update(
                status=self.dead,
                next_attempt_at=None,
                last_error=f"{note}; last: {error}",
                **fields,
            )
        if require_claim and updated != 1:
            raise ClaimLost
        return True

    def due(
        self, now: datetime, endpoint_ids: Collection[int] | QuerySet | None = ()
    ) -> QuerySet:
        """Rows of these endpoints (the sweep's: enabled, breaker not forced
        open; ids or a subquery of them; None: the caller filters) to
        enqueue, oldest first: a row with a next attempt time (failed, held
        back, paused, restarted by staff) once it is reached; a pending one
        without (never tried) once the broker's grace has passed."""
        grace = timedelta(minutes=self._setting("SWEEP_AFTER_MINUTES"))
        lost = Q(
            status=self.waiting,
            next_attempt_at__isnull=True,
            created_at__lte=now - grace,
        )
        # Only the endpoint's own column, so a paused or disabled endpoint's
        # backlog is never read (the waiting rows' index leads with it).
        due = self.model.objects.filter(WAITING, Q(next_attempt_at__lte=now) | lost)
        if endpoint_ids is not None:
            due = due.filter(endpoint_id__in=endpoint_ids)
        return due.order_by("created_at", "pk")


rows = DeliveryRows(
    model=WebhookDelivery,
    waiting=DeliveryStatus.PENDING,
    running=DeliveryStatus.DELIVERING,
    failed=DeliveryStatus.FAILED,
    dead=DeliveryStatus.DEAD,
    created_field="created_at",
    settings_prefix="STOREFRONT_WEBHOOK",
    lease_setting="STOREFRONT_WEBHOOK_LEASE_SECONDS",
    lost_error="worker lost while delivering (claim expired)",
)
