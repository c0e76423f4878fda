"""Replay stored webhook events as staff's admin action does, for operators
without the admin: events are sent through processing again, and unusable
bodies are read again (webhooks.recovery, the same service).

    manage.py replay_webhooks 12 13 14
    manage.py replay_webhooks --account stripe-main --status dead
    manage.py replay_webhooks --provider mailgun --status dead --since 2026-12-01
    manage.py replay_webhooks 12 --user alice

One line per event (in id order), then the summary the admin shows, and a
line when a filter matched more than --limit. Bad input gets one line on
stderr and a non-zero exit status, and replays nothing.

What became of each event (queued, skipped, an unusable body's outcome) goes
to its row's admin history, as from the admin's replay: by the staff account
--user names, or else by the command's own account (which cannot log in, nor
be deleted from the admin), the OS user named in the entry.
"""

import getpass
import os
from datetime import UTC, datetime, time, timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.core.management.base import CommandError, CommandParser
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from integrations.management.base import ProviderCommand
from integrations.models import ProviderAccount, WebhookEvent, WebhookStatus
from integrations.webhooks.recovery import (
    REPLAY_COMMAND_USER,
    SKIPPED,
    Replay,
    webhook_events_replay_chosen,
)

# Rows one run replays at most (a filter may match a year of events).
DEFAULT_LIMIT = 1000
MAX_LIMIT = 100_000
# Ids beyond PostgreSQL's bigint name no row and would fail the query.
MAX_ID = 2**63 - 1
# The history's user when no staff account is named (not deletable from the
# admin: integrations.admin.users).
COMMAND_USER = REPLAY_COMMAND_USER
REPLAY_PERMISSION = "integrations.change_webhookevent"  # the admin's replay's


class Command(ProviderCommand):
    help = (
        "Replay webhook events (by id, or by account/provider, status and "
        "time) as the admin's Replay action does."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("ids", nargs="*", help="Webhook event ids.")
        parser.add_argument("--account", help="Only this account's (its slug).")
        parser.add_argument("--provider", help="Only these providers' (e.g. stripe).")
        parser.add_argument("--status", help="Only events in this status (e.g. dead).")
        parser.add_argument(
            "--since",
            help="Only events received since (2026-12-01 or ISO 8601; in "
            "TIME_ZONE unless it gives an offset).",
        )
        parser.add_argument(
            "--limit",
            help=f"With filters: at most this many, oldest first ({DEFAULT_LIMIT}).",
        )
        parser.add_argument(
            "--user",
            help="The staff account the admin history names (default: this "
            "command, with the OS user).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        staff = _staff(options["user"])
        ids, more = _chosen(options)
        if not ids:
            self.stdout.write("No webhook events match.")
            return
        user = staff or _command_account()
        via = f"{COMMAND_USER}, OS user {_os_user()}"
        replay = webhook_events_replay_chosen(event_ids=ids, user_id=user.pk, via=via)
        for line in _lines(replay):
            self.stdout.write(_printable(line))
        self.stdout.write(_printable(replay.summary))
        if more:
            # The unusable rows that stay dead are chosen again next time:
            # without this line a run that stopped short reads as complete.
            self.stdout.write(
                f"Stopped at --limit {len(ids)}: more events match (raise "
                "--limit, or narrow with --since)."
            )


def _staff(name: str | None) -> Any:
    """The active staff account --user names, allowed to replay; None
    without --user."""
    if name is None:
        return None
    users = get_user_model()._default_manager
    field = get_user_model().USERNAME_FIELD
    user = users.filter(**{field: name, "is_active": True, "is_staff": True}).first()
    if user is None:
        raise CommandError(f"No staff user '{_printable(name)}'.")
    if not user.has_perm(REPLAY_PERMISSION):
        raise CommandError(
            f"User '{_printable(name)}' may not replay webhook events "
            f"({REPLAY_PERMISSION})."
        )
    return user


def _command_account() -> Any:
    """The history's user for a run without --user: made on first use,
    inactive and with no password, so nobody can log in as it."""
    model = get_user_model()
    user, _ = model._default_manager.get_or_create(
        **{model.USERNAME_FIELD: COMMAND_USER},
        defaults={"is_active": False, "password": make_password(None)},
    )
    return user


def _os_user() -> str:
    try:
        name = getpass.getuser()
    except (OSError, KeyError):  # no login name and no passwd entry
        name = f"uid {os.getuid()}"
    return _printable(name)[:64]


def _chosen(options: dict[str, Any]) -> tuple[list[int], bool]:
    """The ids to replay, and whether a filter matched more than --limit."""
    filters = [options[name] for name in ("account", "provider", "status", "since")]
    if options["ids"]:
        if any(value is not None for value in filters):
            raise CommandError(
                "Give event ids or filters (--account, --provider, --status, "
                "--since), not both."
            )
        if options["limit"] is not None:
            raise CommandError("--limit goes with filters, not with event ids.")
        numbers = [_number(text, "Event id", MAX_ID) for text in options["ids"]]
        return _existing(numbers), False
    if options["account"] is None and options["provider"] is None:
        raise CommandError(
            "Name the events: ids, or --account SLUG or --provider CODE with "
            "--status (e.g. replay_webhooks --account stripe-main --status dead)."
        )
    if options["status"] is None:
        raise CommandError("--status is needed with --account or --provider.")
    rows = _filtered(options)
    text = options["limit"]
    limit = DEFAULT_LIMIT if text is None else _number(text, "--limit", MAX_LIMIT)
    # One past the limit: whether more match, without counting them all.
    ids = list(rows.order_by("pk").values_list("pk", flat=True)[: limit + 1])
    return ids[:limit], len(ids) > limit


def _filtered(options: dict[str, Any]) -> Any:
    rows = WebhookEvent.objects.all()
    if options["account"] is not None:
        if not ProviderAccount.objects.filter(slug=options["account"]).exists():
            raise CommandError(f"No provider account '{options['account']}'.")
        rows = rows.filter(account__slug=options["account"])
    if options["provider"] is not None:
        if not ProviderAccount.objects.filter(provider=options["provider"]).exists():
            raise CommandError(f"No account of provider '{options['provider']}'.")
        rows = rows.filter(account__provider=options["provider"])
    status = options["status"]
    if status not in WebhookStatus.values:
        choices = ", ".join(WebhookStatus.values)
        raise CommandError(f"Unknown status '{status}': use one of {choices}.")
    rows = rows.filter(status=status)
    if options["since"] is not None:
        rows = rows.filter(received_at__gte=_since(options["since"]))
    return rows


def _since(text: str) -> datetime:
    """A date (its day's start) or a date and time; in TIME_ZONE unless it
    gives an offset, as staff's times in the admin are."""
    day = None
    try:
        day = parse_date(text)
        moment = datetime.combine(day, time.min) if day else parse_datetime(text)
    except ValueError:  # well-formed but no such date (2026-02-30)
        moment = None
    if moment is None:
        raise CommandError(
            f"--since must be a date (2026-12-01) or a date and time "
            f"(2026-12-01T09:30Z), not '{text}'."
        )
    if moment.tzinfo is None:
        if day is None:
            _one_local_moment(moment, text)
        # fold=0: a midnight the clock skips reads as the moment it resumes.
        moment = timezone.make_aware(moment)
    try:
        return moment.astimezone(UTC)
    except OverflowError:  # 0001-01-01 east of UTC: before any datetime
        raise CommandError(f"--since is out of range: '{text}'.") from None


def _one_local_moment(moment: datetime, text: str) -> None:
    """Refuse a local time a clock change skips or repeats, as the admin's
    forms do: either reading would choose events for the operator."""
    zone = timezone.get_current_timezone()
    readings = [moment.replace(tzinfo=zone, fold=fold) for fold in (0, 1)]
    offsets = [reading.utcoffset() or timedelta() for reading in readings]
    if offsets[0] != offsets[1]:
        said = " or ".join(_offset_text(offset) for offset in offsets)
        raise CommandError(
            f"--since '{text}' is skipped or repeated by a clock change in "
            f"{zone}: give its offset ({said})."
        )


def _offset_text(offset: timedelta) -> str:
    minutes = round(offset.total_seconds() / 60)
    sign = "-" if minutes < 0 else "+"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def _number(text: str, what: str, most: int) -> int:
    try:
        value = int(text)
    except (TypeError, ValueError):
        raise CommandError(f"{what} must be a whole number, not '{text}'.") from None
    if not 1 <= value <= most:
        raise CommandError(f"{what} must be from 1 to {most}, not {value}.")
    return value


def _existing(ids: list[int]) -> list[int]:
    found = set(WebhookEvent.objects.filter(pk__in=ids).values_list("pk", flat=True))
    missing = [f"#{pk}" for pk in dict.fromkeys(ids) if pk not in found]
    if missing:
        raise CommandError(f"No webhook event {', '.join(missing)}; nothing replayed.")
    return ids


def _lines(replay: Replay) -> list[str]:
    """One line per event, in the events' order (oldest first)."""
    said = {pk: f"#{pk}: queued for replay." for pk in replay.queued_ids}
    said.update((pk, f"#{pk}: skipped, {SKIPPED}.") for pk in replay.skipped_ids)
    said.update(
        (r.event_id, f"#{r.event_id} (unusable body): {r.text}")
        for r in replay.recoveries
    )
    return [said[pk] for pk in sorted(said)]


def _printable(text: str) -> str:
    """Stored error text is the sender's data: escape what would move the
    terminal."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
