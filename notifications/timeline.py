"""A message's timeline for staff, in lifecycle order across clocks.

Its entries are dated by three clocks: our events by the app's, domain
events by the database's (their transaction's start), the provider's events
by the provider's, most to the whole second. Sorted by time alone, a
delivery at 12:00:00.9 that the provider dates 12:00:00 shows before our
"sent" at 12:00:00.7. So an entry never shows before a lifecycle step it
follows (``LIFECYCLE_RANK``) that another clock dates up to
``CLOCK_TOLERANCE`` after it; otherwise entries keep their times' order, and
every entry is shown.
"""

from bisect import bisect_left
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from integrations.secrets_registry import redact_secrets
from integrations.timeline import TimelineEntry, event_entries
from notifications.models import EmailEvent, EmailMessage, EmailStatus
from notifications.providers.email_types import EmailEventType

# A provider's whole second (a time up to 1 s early) and the little that the
# app's, the database's and the provider's clocks differ by.
CLOCK_TOLERANCE = timedelta(seconds=2)

# Our event for a send that found no provider (``email_message_retry_later``).
_RETRY = "retry"
# Our steps up to the hand-over, then what the provider reports after it.
LIFECYCLE_RANK: dict[str, int] = {
    EmailStatus.QUEUED: 0,
    EmailStatus.SENDING: 1,
    _RETRY: 1,
    EmailStatus.SENT: 2,
    EmailStatus.FAILED: 2,
    EmailStatus.UNKNOWN: 2,
    EmailStatus.SUPPRESSED: 2,
    EmailEventType.DEFERRED: 3,
    EmailEventType.DELIVERED: 4,
    EmailEventType.BOUNCED: 4,
    EmailEventType.REJECTED: 4,
    EmailEventType.OPENED: 5,
    EmailEventType.CLICKED: 6,
    EmailEventType.COMPLAINED: 7,
    EmailEventType.UNSUBSCRIBED: 7,
}
# Any other provider event: after the hand-over.
_PROVIDER_RANK = 4
# Our own events (EmailEvent rows we record); every other type is the
# provider's, dated by its clock.
_OURS = frozenset(
    {
        EmailStatus.QUEUED,
        EmailStatus.SENDING,
        _RETRY,
        EmailStatus.SENT,
        EmailStatus.FAILED,
        EmailStatus.UNKNOWN,
        EmailStatus.SUPPRESSED,
    }
)
_DOMAIN_EVENT_PREFIX = "Event email."


@dataclass
class _Placed:
    item: Any  # a TimelineEntry or an EmailEvent
    time: datetime  # its own
    clock: str
    rank: int | None  # None: no lifecycle step, placed by its time alone
    at: datetime  # where it is shown: its time, or a step it follows


def email_timeline(message: EmailMessage) -> list[TimelineEntry]:
    """``message``'s delivery events and domain events, oldest first."""
    placed = [_placed(event, _entry(event)) for event in message.events.all()]
    for entry in event_entries(subjects=[f"email:{message.public_id}"]):
        step = entry.title.removeprefix(_DOMAIN_EVENT_PREFIX)
        rank = LIFECYCLE_RANK.get(step) if step != entry.title else None
        placed.append(_Placed(entry, entry.at, "database", rank, entry.at))
    return lifecycle_sorted(placed)


def email_events_ordered(events: Iterable[EmailEvent]) -> list[EmailEvent]:
    """A message's delivery events in the timeline's order (the API's)."""
    return lifecycle_sorted(_placed(event, event) for event in events)


def _entry(event: EmailEvent) -> TimelineEntry:
    return TimelineEntry(
        at=event.occurred_at,
        kind="delivery",
        title=event.type + (f" ({event.bounce_type})" if event.bounce_type else ""),
        # The provider's details, for staff only; secrets masked.
        detail=redact_secrets(
            ", ".join(f"{k}: {v}" for k, v in event.details.items() if v)
        ),
    )


def _placed(event: EmailEvent, item: Any) -> _Placed:
    time = event.occurred_at
    if event.type in _OURS:
        return _Placed(item, time, "app", LIFECYCLE_RANK[event.type], time)
    rank = LIFECYCLE_RANK.get(event.type, _PROVIDER_RANK)
    return _Placed(item, time, "provider", rank, time)


def lifecycle_sorted(placed: Iterable[_Placed]) -> list[Any]:
    """The items oldest first, each moved to just after the steps before it
    in the lifecycle that another clock dates within the tolerance after it."""
    placed = list(placed)
    ranked = sorted((p for p in placed if p.rank is not None), key=_rank)
    by_clock: dict[str, list[_Placed]] = {}
    for one in sorted(ranked, key=lambda p: p.time):
        by_clock.setdefault(one.clock, []).append(one)
    times = {clock: [p.time for p in ones] for clock, ones in by_clock.items()}
    # Lowest rank first: the steps an item follows are placed before it is.
    for one in ranked:
        for clock, ones in by_clock.items():
            if clock == one.clock:
                continue  # one clock: its own order stands
            start = bisect_left(times[clock], one.time)
            end = bisect_left(times[clock], one.time + CLOCK_TOLERANCE)
            for earlier in ones[start:end]:
                if _rank(earlier) < _rank(one) and earlier.at > one.at:
                    one.at = earlier.at
    # At one time, the earlier step first; then the items' own order.
    order = sorted(
        enumerate(placed), key=lambda pair: (pair[1].at, _rank(pair[1]), pair[0])
    )
    return [one.item for _, one in order]


def _rank(one: _Placed) -> int:
    return one.rank if one.rank is not None else -1
