"""Print the health of every provider account; fail if an enabled one is down.

By default every enabled account is probed now (disabled ones show their last
stored result); ``--cached`` only shows what the scheduled probes stored. The
exit status is non-zero when an enabled account is unhealthy, so the command
can gate a deploy or feed a monitoring check.
"""

from datetime import datetime
from typing import Any

from django.core.management.base import CommandError, CommandParser
from django.utils import timezone

from integrations import health
from integrations.management.base import ProviderCommand
from integrations.models import ProviderAccount
from integrations.models.accounts import BreakerMode, Kind
from integrations.selectors import breaker_snapshot, latest_health

COLUMNS = (
    "slug",
    "kind",
    "provider",
    "enabled",
    "status",
    "latency",
    "checked",
    "breaker",
    "last error",
)
ERROR_WIDTH = 60


class Command(ProviderCommand):
    help = "Probe provider accounts and print one row per account."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--cached",
            action="store_true",
            help="Show the stored results of the scheduled probes; probe nothing.",
        )
        parser.add_argument(
            "--kind", choices=Kind.values, help="Only accounts of this kind."
        )

    def handle(
        self, *args: Any, cached: bool, kind: str | None, **options: Any
    ) -> None:
        # Internal accounts (a webhook endpoint's) are their owner's to show.
        accounts = ProviderAccount.objects.providers().order_by(
            "kind", "priority", "slug"
        )
        if kind:
            accounts = accounts.filter(kind=kind)
        unchecked: set[int] = set()
        if not cached:
            enabled = list(accounts.filter(enabled=True))
            checked = health.accounts_health_probe(accounts=enabled)
            unchecked = {a.pk for a in enabled} - {r.account_id for r in checked}
        accounts = list(accounts.select_related("health"))
        if not accounts:
            self.stdout.write("No provider accounts.")
            return
        rows = [_row(account, account.pk in unchecked) for account in accounts]
        self.stdout.write(_table(rows))
        _fail_if_unhealthy(accounts, unchecked)


def _fail_if_unhealthy(accounts: list[ProviderAccount], unchecked: set[int]) -> None:
    unhealthy = [
        a.slug
        for a in accounts
        if a.enabled and a.pk not in unchecked and _is_unhealthy(a)
    ]
    problems = []
    if unhealthy:
        problems.append(
            f"{len(unhealthy)} enabled account(s) unhealthy: {', '.join(unhealthy)}"
        )
    if unchecked:
        # A gate that could not look must not pass.
        problems.append(f"{len(unchecked)} not checked (Redis unreachable)")
    if problems:
        raise CommandError("; ".join(problems))


def _is_unhealthy(account: ProviderAccount) -> bool:
    result = latest_health(account)
    return result is not None and not result.healthy


def _row(account: ProviderAccount, unchecked: bool = False) -> list[str]:
    result = latest_health(account)
    snapshot = breaker_snapshot(account)
    # Unknown while Redis is unreachable: reported in the row, not raised.
    breaker = str(snapshot.state or "unreadable (Redis unreachable)")
    if snapshot.mode != BreakerMode.AUTO:
        breaker += f" ({snapshot.mode})"
    if unchecked:
        # Probed now but not run: the stored result (if any) is not current.
        status = "not checked (Redis unreachable)"
        return [*_identity(account), status, "-", "-", breaker, ""]
    if result is None:
        return [*_identity(account), "unchecked", "-", "-", breaker, ""]
    return [
        *_identity(account),
        result.status,
        f"{result.latency_ms} ms" if result.latency_ms is not None else "-",
        _ago(result.checked_at),
        breaker,
        _last_error(result.last_error, result.last_error_at),
    ]


def _identity(account: ProviderAccount) -> list[str]:
    enabled = "yes" if account.enabled else "no"
    return [account.slug, account.kind, account.provider, enabled]


def _last_error(text: str, at: datetime | None) -> str:
    if not text or at is None:
        return ""
    if len(text) > ERROR_WIDTH:
        text = text[: ERROR_WIDTH - 1] + "…"
    return f"{text} ({_ago(at)})"


def _ago(moment: datetime) -> str:
    seconds = max(0, int((timezone.now() - moment).total_seconds()))
    if seconds < 120:
        return f"{seconds}s ago"
    if seconds < 7200:
        return f"{seconds // 60}m ago"
    return f"{seconds // 3600}h ago"


def _table(rows: list[list[str]]) -> str:
    widths = [
        max(len(column), *(len(row[i]) for row in rows))
        for i, column in enumerate(COLUMNS)
    ]
    lines = [_line(list(COLUMNS), widths), _line(["-" * w for w in widths], widths)]
    lines += [_line(row, widths) for row in rows]
    return "\n".join(lines)


def _line(cells: list[str], widths: list[int]) -> str:
    padded = (cell.ljust(width) for cell, width in zip(cells, widths, strict=True))
    return "  ".join(padded).rstrip()
