"""Sync stock levels from the ERP accounts, with a progress line per page and
a closing summary (a row per run, failed ones too). Every account is synced
even if one fails; exit status 1 when any failed outright (each named in one
line)."""

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

from django.core.management.base import CommandError, CommandParser

from integrations.management.base import ProviderCommand
from integrations.models import ProviderAccount
from inventory import services
from inventory.management.accounts import named_inventory_account
from inventory.models import SyncRun, SyncStatus
from inventory.services.sync_gone import gone_count
from inventory.services.sync_pages import failed_pages

BAR_WIDTH = 24
# A process stopped by a signal exits 128 + its number (143 for SIGTERM).
TERMINATED = 128 + signal.SIGTERM


class Terminated(SystemExit):
    """SIGTERM (docker stop, systemd, a job's deadline) as Ctrl-C is: not an
    Exception, so the run ends ``sync_interrupted`` instead of being left
    running, claimed, and refusing the account's next sync for an hour. A
    SystemExit: psycopg cancels the server's query under way only for it and
    KeyboardInterrupt; otherwise the connection stays busy and ending the
    run fails. ``handle`` turns it into exit status 143."""


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise Terminated


@contextmanager
def _sigterm_raises() -> Iterator[None]:
    # Only the main thread may set handlers (call_command from another
    # thread keeps the process's own).
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


class Command(ProviderCommand):
    help = "Sync stock levels from the inventory accounts (incremental by default)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--account", help="Only the account with this slug.")
        parser.add_argument(
            "--full",
            action="store_true",
            help="Ask the ERP for every level, not only those changed since "
            "the last complete sync.",
        )

    def handle(self, *args: Any, account: str | None, full: bool, **opts: Any) -> None:
        accounts = self._accounts(account)
        try:
            with _sigterm_raises():
                runs, refused = self._sync(accounts, full)
        except Terminated:
            raise CommandError(
                "stopped by SIGTERM; the run under way ended (sync_interrupted)",
                returncode=TERMINATED,
            ) from None
        if runs:
            self.stdout.write(_summary(runs))
        if len(refused) == 1 and len(accounts) == 1:
            raise CommandError(refused[0])
        for line in refused:
            self.stderr.write(line)
        if refused:
            slugs = ", ".join(line.split(":", 1)[0] for line in refused)
            raise CommandError(f"{len(refused)} account(s) not synced: {slugs}")
        if any(run.status == SyncStatus.FAILED for run in runs):
            raise CommandError("a sync failed; see the errors above")

    def _sync(
        self, accounts: list[ProviderAccount], full: bool
    ) -> tuple[list[SyncRun], list[str]]:
        """The runs that ended, and a line for each account whose sync was
        refused or failed: one broken account must not stop the others."""
        runs, refused = [], []
        for target in accounts:
            self.stdout.write(f"Syncing {target.slug} ({target.provider})")
            run = None
            try:
                run = services.sync_run_start(account=target, full=full)
                runs.append(services.sync_run_execute(run=run, progress=self._progress))
            except services.InventoryError as error:
                refused.append(f"{target.slug}: {error.message}")
                # A run that ended failed has its row in the summary too.
                if run is not None:
                    run.refresh_from_db()
                    if run.status == SyncStatus.FAILED:
                        runs.append(run)
            self.stdout.write("")
        return runs, refused

    def _accounts(self, slug: str | None) -> list[ProviderAccount]:
        if slug is None:
            found = services.inventory_accounts()
            if not found:
                raise CommandError("No enabled inventory accounts.")
            return found
        return [named_inventory_account(slug)]

    def _progress(self, run: SyncRun) -> None:
        # Pages have no known total: the bar turns, the counts grow.
        filled = run.pages % (BAR_WIDTH + 1)
        bar = "#" * filled + "-" * (BAR_WIDTH - filled)
        self.stdout.write(
            f"\r[{bar}] pages {run.pages}  seen {run.items_seen}  "
            f"changed {run.items_changed}  failed pages {failed_pages(run)}",
            ending="",
        )
        self.stdout.flush()


def _summary(runs: list[SyncRun]) -> str:
    lines = ["account              status     pages     seen  changed  failed pages"]
    for run in runs:
        lines.append(
            f"{run.account.slug:<20} {run.status:<9} {run.pages:>6} "
            f"{run.items_seen:>8} {run.items_changed:>8} {failed_pages(run):>7}"
        )
        gone = gone_count(run)
        if gone:
            lines.append(
                f"  {gone} level(s) gone at the ERP (missing from its full listing)"
            )
        lines.extend(f"  {_where(error)}: {error['code']}" for error in _shown(run))
    return "\n".join(lines)


def _shown(run: SyncRun) -> list[dict]:
    """A run's first five errors, and why a failed run ended: appended after
    the pages it kept, it would be cut off by five failed pages before."""
    shown, last = run.errors[:5], run.errors[-1:]
    if run.status == SyncStatus.FAILED and len(run.errors) > 5:
        shown += [error for error in last if _where(error) == "the run"]
    return shown


def _where(error: dict) -> str:
    """A failed page, a level refused from one, or the run itself."""
    if "sku" in error:
        return f"level {error['sku']}@{error['location']}"
    if "cursor" in error:
        return f"page at {error['cursor'] or 'start'}"
    return "the run"
