"""The hourly re-send of pickup cancels in doubt (``pickup_cancels_retry``,
the first step of ``shipping.pickups_past``): each sent again as
``pickup_cancel`` sends it, a bounded number of times, then left for staff."""

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import F, Q

from integrations import registry
from integrations.clock import database_now
from integrations.deadline import deadline_scope, remaining
from integrations.secrets_registry import staff_text
from shipping.models import Pickup, PickupStatus
from shipping.services.claims import CLAIM_LIFE
from shipping.services.errors import ShippingError
from shipping.services.pickup_cancels import (
    UNUSABLE_STARTS,
    AccountUnusable,
    account_unusable,
    day_gone,
    pickup_cancel,
)

logger = logging.getLogger(__name__)

# The past sweep's job re-sends a cancel in doubt an hour after it went out
# (its caller's own retry comes first), then after 2, 4, 8 and 16 hours.
CANCEL_RETRIES = 5
CANCEL_RETRY_WAIT = timedelta(hours=1)


def pickup_cancels_retry(*, limit: int = 100) -> int:
    """Re-send each due cancel in doubt (``scheduled`` with
    ``cancel_requested_at``, not at the carrier now, whatever its day) as
    ``pickup_cancel`` sends it: the same cancellation key and booking
    number, the carrier's answer ending it as the table in docs/shipping.md
    says. Tries wait twice as long each time, ``CANCEL_RETRIES`` in all; one
    still in doubt after the last is left ``unknown`` for staff
    (``pickup_resolve``), with one ERROR. One that breaks is logged and the
    rest go on. A try that sent nothing (the carrier not reached, a cancel
    of it at the carrier now, or an account configured so it cannot be
    called: staff told once, ``account_unusable``) is given back; such a
    one is sent no more once its day is gone (``_unusable_given_up``). The
    number of tries sent."""
    now = database_now()
    due = Q(cancel_retry_at__lte=now) | Q(
        cancel_retry_at__isnull=True,
        cancel_requested_at__lt=now - CANCEL_RETRY_WAIT,
    )
    waiting = (
        Pickup.objects.filter(
            due,
            _unclaimed(now),
            status=PickupStatus.SCHEDULED,
            cancel_requested_at__isnull=False,
        )
        .select_related("account")
        .order_by(F("cancel_retry_at").asc(nulls_first=True), "pk")
    )
    sent = 0
    # Every call ends within the run's time, and none starts after it.
    with deadline_scope(_run_time()):
        for pickup in waiting[:limit]:
            # Even with none sent yet: past its time the client sends nothing.
            if remaining() <= 0:
                break  # the rest on the next run
            sent += _retry_one(pickup, now)
    return sent


def _run_time() -> float:
    """Half the task's timeout (Q_TIMEOUT kills a longer task), as
    inventory's sync: a slow carrier cannot have the job killed mid-send,
    and the past sweep after it still runs."""
    return float(settings.Q_CLUSTER["timeout"]) / 2


def _retry_one(pickup: Pickup, now: datetime) -> int:
    # 1 when a try went out.
    mark, went = pickup.cancel_requested_at, 0
    if _unusable_past_day(pickup):
        _unusable_given_up(pickup, mark)  # nothing sent to the carrier
        return 0
    if pickup.cancel_retries < CANCEL_RETRIES:
        if not _retry_take(pickup, now):
            return 0  # taken by another sweep or cancel, or settled meanwhile
        taken = pickup.cancel_retries
        if not _retry_send(pickup, now, taken):
            _retry_give_back(pickup, taken)
            if _unusable_past_day(pickup):  # this try found its account unusable
                _unusable_given_up(pickup, mark)
            return 0
        went = 1
    if pickup.cancel_retries >= CANCEL_RETRIES:
        _cancel_given_up(pickup, mark)
    return went


def _unclaimed(now: datetime) -> Q:
    return Q(cancel_started_at__isnull=True) | Q(cancel_started_at__lt=now - CLAIM_LIFE)


def _retry_take(pickup: Pickup, now: datetime) -> bool:
    """Lease this try, only on the row as read (one conditional UPDATE),
    unclaimed: its next time pushed a claim's life on, so two sweeps never
    both send it, nor one while another cancel of it is at the carrier. The
    try is counted as it goes out (``_retry_counted``): a worker dying
    before that spends none, and a run after the lease takes it again."""
    lease = database_now() + CLAIM_LIFE
    taken = Pickup.objects.filter(
        _unclaimed(database_now()),
        pk=pickup.pk,
        status=PickupStatus.SCHEDULED,
        cancel_requested_at=pickup.cancel_requested_at,
        cancel_retries=pickup.cancel_retries,
        cancel_retry_at=pickup.cancel_retry_at,  # None: still unset
    ).update(cancel_retry_at=lease)
    pickup.cancel_retry_at = lease
    return taken > 0


def _retry_counted(pickup: Pickup, now: datetime, taken: int) -> None:
    """The try goes out: counted (once) with the next one's time, committed
    before the call (a worker dying from here on spends it: it may have
    landed)."""
    if pickup.cancel_retries != taken:
        return  # counted already
    tries = taken + 1
    Pickup.objects.filter(
        pk=pickup.pk,
        cancel_requested_at=pickup.cancel_requested_at,
        cancel_retries=pickup.cancel_retries,
    ).update(cancel_retries=tries, cancel_retry_at=now + CANCEL_RETRY_WAIT * 2**tries)
    pickup.cancel_retries = tries


def _retry_send(pickup: Pickup, now: datetime, taken: int) -> bool:
    """Whether the try counts: False when nothing was sent."""
    log = {"pickup_id": pickup.public_id, "try": taken + 1}
    told = pickup.failure_message  # as the run read it, before this try
    try:
        pickup_cancel(pickup=pickup, on_send=lambda: _retry_counted(pickup, now, taken))
    except AccountUnusable:  # staff told by pickup_cancel
        return False
    except ShippingError as error:
        # Its end is on the row already (unknown for staff, or still in doubt).
        logger.warning(
            "pickup cancel re-sent, not done", extra={**log, "code": error.code}
        )
        if _nothing_sent(error):
            if error.nothing_sent:  # not another cancel's, which may clear it
                _reason_kept(pickup, told)
            return False
    except registry.ACCOUNT_UNCALLABLE as error:
        account_unusable(pickup, staff_text(str(error)), told)
        return False
    except Exception:
        logger.exception("pickup cancel re-send failed", extra=log)
    # One that broke before going out is a try all the same.
    _retry_counted(pickup, now, taken)
    return True


def _nothing_sent(error: ShippingError) -> bool:
    """Another cancel of it at the carrier since the row was read, or the
    carrier not reached (told by ``pickup_cancel`` on its error)."""
    return error.code == "cancel_in_progress" or error.nothing_sent


def _reason_kept(pickup: Pickup, told: str) -> None:
    # Cleared going out, yet no carrier reached (our breaker open, say):
    # nothing says the account was mended, and staff are not told twice.
    if told.startswith(UNUSABLE_STARTS):
        kept = Pickup.objects.filter(
            pk=pickup.pk,
            status=PickupStatus.SCHEDULED,
            cancel_requested_at=pickup.cancel_requested_at,
            failure_message="",
        ).update(failure_message=told)
        pickup.failure_message = told if kept else pickup.failure_message


def _retry_give_back(pickup: Pickup, taken: int) -> None:
    # Tried again next run, an hour on, the count as taken (whether or not
    # it was counted going out): an outage never spends the tries (only on
    # the same doubt, this try's count).
    Pickup.objects.filter(
        pk=pickup.pk,
        cancel_requested_at=pickup.cancel_requested_at,
        cancel_retries=pickup.cancel_retries,
    ).update(cancel_retries=taken, cancel_retry_at=database_now() + CANCEL_RETRY_WAIT)
    pickup.cancel_retries = taken


def _cancel_given_up(pickup: Pickup, mark: datetime | None) -> None:
    """Left ``unknown`` for staff, still in doubt: they settle it with the
    carrier (``pickup_resolve``: still booked, or cancelled)."""
    reason = (
        f"our cancel was sent again {CANCEL_RETRIES} times and no answer "
        "settled it: ask the carrier whether it is cancelled"
    )
    if _left_unknown(pickup, mark, reason):
        logger.error(
            "pickup cancel still in doubt after its re-sends; settle it by hand",
            extra={"pickup_id": pickup.public_id, "tries": CANCEL_RETRIES},
        )


def _left_unknown(
    pickup: Pickup, mark: datetime | None, reason: str, **as_read: object
) -> bool:
    """Move it to ``unknown`` with ``reason``, only while it still waits on
    this same doubt (``mark``, and ``as_read``: more of the row as the run
    read it), unclaimed: True for the one run that moved it, so the ERROR
    is logged once."""
    left = Pickup.objects.filter(
        _unclaimed(database_now()),
        pk=pickup.pk,
        status=PickupStatus.SCHEDULED,
        cancel_requested_at=mark,
        **as_read,
    ).update(status=PickupStatus.UNKNOWN, failure_message=reason)
    if left:
        pickup.status, pickup.failure_message = PickupStatus.UNKNOWN, reason
    return left > 0


# Staff's words on a cancel given up so: what to do, then the account's
# reason as noted (``account_unusable``: after its "mend the account: ").
_GIVEN_UP_UNUSABLE = (
    "our cancel in doubt was given up, its day gone and its account unusable: "
    "ask the carrier if it is cancelled; "
)
_MEND = "mend the account: "


def _unusable_past_day(pickup: Pickup) -> bool:
    # Its account's fault noted (by this run or an earlier cancel), its day gone.
    return pickup.failure_message.startswith(UNUSABLE_STARTS) and day_gone(pickup)


def _unusable_given_up(pickup: Pickup, mark: datetime | None) -> None:
    """A cancel in doubt that its account stops is sent no more once its day
    is gone (each hour a refused call, which carriers may block; no sweep
    would ever end it): left ``unknown`` for staff (``pickup_resolve``), as
    after the last try (``_cancel_given_up``), the account's reason kept.
    Only the row as read (the same doubt and reason: not one a cancel going
    out has cleared since), so the ERROR is logged once."""
    told = pickup.failure_message
    detail = told.partition(_MEND)[2] or told
    reason = f"{_GIVEN_UP_UNUSABLE}{_MEND}{detail}"[:255]
    if _left_unknown(pickup, mark, reason, failure_message=told):
        logger.error(
            "pickup cancel in doubt not re-sent: its day passed and its carrier "
            "account cannot be used; settle it by hand",
            extra={"pickup_id": pickup.public_id, "account": pickup.account.slug},
        )
