"""Rows that tasks work off: claim, lease, retry with backoff, give up.

Webhook events and outbox deliveries share one life cycle: waiting ->
running -> done, or -> failed (due again at ``next_attempt_at``, the delay
doubling up to a cap) -> ... -> dead after the maximum attempts. A
conditional UPDATE claims a row, so two workers handed the same row (a
duplicate enqueue, a sweep racing the first task) never both run it. A row
whose worker died stays running until its lease expires; the sweep then
takes it back.

The model needs ``status``, ``attempts``, ``last_error``, ``next_attempt_at``
and ``claimed_at`` fields, and a creation timestamp. Settings are read per
call (tests override them), named ``<prefix>_MAX_ATTEMPTS``,
``<prefix>_RETRY_BASE_SECONDS``, ``<prefix>_RETRY_MAX_SECONDS`` and
``<prefix>_SWEEP_AFTER_MINUTES``, plus the lease setting given.

Every time here that another process compares (a claim's stamp, which the
sweep measures the lease from; a retry's due time, which the sweep reads) is
the database's (``integrations.clock``): a worker or sweeper whose clock is
minutes off would otherwise steal live claims, hold dead ones, or retry
early. A ``now`` given is used as it is (tests set the time with it); callers
pass None in production.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import F, Model, Q, QuerySet

from integrations.clock import database_now, stamp
from integrations.rows import locked_update

_MAX_ERROR_CHARS = 2000


class ClaimLost(Exception):
    """The sweeper took the row back while this worker ran."""


def describe_error(exc: BaseException) -> str:
    """What a failed row keeps of its error: type and message, bounded, with
    every known secret masked (a provider's text can quote our credentials)
    and what no text column holds (NUL: an answer's bytes) replaced."""
    from integrations.secrets_registry import staff_text

    # staff_text makes it storable too.
    text = staff_text(f"{type(exc).__name__}: {exc}")
    return text[:_MAX_ERROR_CHARS]


@dataclass(frozen=True)
class LeasedRows:
    model: type[Model]
    waiting: str
    running: str
    failed: str
    dead: str
    created_field: str
    settings_prefix: str
    lease_setting: str
    lost_error: str  # kept on a row whose lease expired

    def _setting(self, name: str) -> int:
        return getattr(settings, f"{self.settings_prefix}_{name}")

    def claim(self, pk: int, now: datetime | None = None) -> bool:
        """Take a waiting or failed row for this worker; False if it is
        taken, done or dead. Stamped with the database's time of the claim
        (read it back from the row) unless ``now`` is given."""
        updated = self.model.objects.filter(
            pk=pk, status__in=[self.waiting, self.failed]
        ).update(status=self.running, claimed_at=stamp(now), attempts=F("attempts") + 1)
        return updated == 1

    def held(self, row: Any) -> QuerySet:
        """The row, only while this worker's claim on it stands."""
        return self.model.objects.filter(
            pk=row.pk, status=self.running, claimed_at=row.claimed_at
        )

    def finish(self, row: Any, status: str, **fields: Any) -> None:
        """Mark a claimed row ``status``; raises ClaimLost if the claim is
        gone, so the caller's transaction rolls its work back."""
        updated = self.held(row).update(
            status=status, last_error="", next_attempt_at=None, **fields
        )
        if updated != 1:
            raise ClaimLost

    def retry_delay(self, attempts: int) -> timedelta:
        base = self._setting("RETRY_BASE_SECONDS")
        cap = self._setting("RETRY_MAX_SECONDS")
        return timedelta(seconds=min(base * 2 ** max(attempts - 1, 0), cap))

    def fail(
        self,
        row: Any,
        exc: BaseException,
        now: datetime | None = None,
        *,
        error_prefix: str = "",
        require_claim: bool = False,
        give_up: bool = True,
        **fields: Any,
    ) -> str:
        """Keep the error on a claimed row (and ``fields``): failed and due
        again after the backoff from ``now`` (the database's time if None),
        or dead once its attempts are used up
        (unless ``give_up`` is False: then failed and due again, however
        many). Returns the status. ``error_prefix`` goes before the error
        kept. With ``require_claim``, raises ClaimLost if the claim is gone
        (nothing written), as ``finish`` does; without, the status is
        returned either way."""
        dead = give_up and row.attempts >= self._setting("MAX_ATTEMPTS")
        status = self.dead if dead else self.failed
        due = None
        if not dead:
            due = (now or database_now()) + self.retry_delay(row.attempts)
        updated = self.held(row).update(
            status=status,
            last_error=f"{error_prefix}{describe_error(exc)}",
            next_attempt_at=due,
            **fields,
        )
        if require_claim and updated != 1:
            raise ClaimLost
        return status

    def due(self, now: datetime | None = None) -> QuerySet:
        """Rows to enqueue again, oldest first: waiting longer than the
        sweep delay (the broker lost them) or failed and due, by ``now`` (the
        database's time if None)."""
        now = now or database_now()
        stuck_before = now - timedelta(minutes=self._setting("SWEEP_AFTER_MINUTES"))
        waiting = Q(status=self.waiting, **{f"{self.created_field}__lte": stuck_before})
        retry = Q(status=self.failed, next_attempt_at__lte=now)
        return self.model.objects.filter(waiting | retry).order_by(
            self.created_field, "pk"
        )

    def release_expired(self, now: datetime | None = None) -> tuple[int, int]:
        """Take back running rows whose lease expired by ``now`` (the
        database's time if None): dead if out of attempts, else failed and
        due now. Returns ``(dead, retrying)``."""
        now = now or database_now()
        lease = timedelta(seconds=getattr(settings, self.lease_setting))
        expired = self.model.objects.filter(
            status=self.running, claimed_at__lte=now - lease
        )
        # Mostly none: one read then, not two locking transactions.
        if not expired.exists():
            return 0, 0
        # Each UPDATE locks its rows by id first (``locked_update``): in its
        # plan's order it deadlocked with a wake-up locking them by id. One
        # transaction each: the first's rows are not held while the second
        # locks.
        out_of_attempts = expired.filter(attempts__gte=self._setting("MAX_ATTEMPTS"))
        lost = {"last_error": self.lost_error}
        dead = locked_update(
            out_of_attempts, status=self.dead, next_attempt_at=None, **lost
        )
        retrying = locked_update(
            expired, status=self.failed, next_attempt_at=now, **lost
        )
        return dead, retrying
