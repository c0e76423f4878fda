"""Send one template to the recipients of a file, with a progress bar.

    manage.py send_bulk newsletter recipients.csv --category marketing \
        --context '{"headline": "Spring sale", "body": "..."}'
    manage.py send_bulk --cancel bulk_0a1b2c...

The file is CSV (an ``email`` column; other columns are each recipient's
template data), JSON Lines or a JSON list (docs/notifications.md). The
send runs on the workers; this command shows its progress until it settles
(``--no-wait`` returns at once) and ends with a summary. Interrupting the
command does not stop the send: ``--cancel`` does. Bad input gets one line
on stderr and a non-zero exit status; nothing is stored.
"""

import json
import math
import time
from pathlib import Path
from typing import Any

from django.core.management.base import CommandError, CommandParser

from integrations.api.parsers import json_loads
from integrations.batch import BatchProgress
from integrations.batch.state import FINAL
from integrations.management.base import ProviderCommand
from notifications.models import BulkSend
from notifications.recipients import (
    RecipientsFileError,
    checked,
    read_recipients,
    recipients_format,
)
from notifications.rendering import EmailRenderError
from notifications.services.bulk import (
    DEFAULT_CHUNK_SIZE,
    MAX_CHUNK_SIZE,
    MAX_WORKERS,
    BulkSendCreated,
    bulk_send_cancel,
    bulk_send_counts,
    bulk_send_create,
    bulk_send_progress,
)
from notifications.services.checks import EmailInvalid

BAR_WIDTH = 30


class Command(ProviderCommand):
    path_options = ("recipients",)  # a file name, not stored
    help = "Send a template to every recipient of a CSV / JSON file."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("template", nargs="?", help="templates/emails/<name>")
        parser.add_argument("recipients", nargs="?", help=".csv, .jsonl or .json")
        parser.add_argument(
            "--category", default="marketing", help="marketing or transactional"
        )
        parser.add_argument("--context", default="{}", help="Shared data, JSON.")
        parser.add_argument("--name", default="", help="A name for the admin.")
        parser.add_argument("--from", dest="from_email", default="")
        parser.add_argument("--chunk-size", type=int, default=DEFAULT_CHUNK_SIZE)
        parser.add_argument("--workers", type=int, default=1)
        parser.add_argument("--no-wait", action="store_true")
        parser.add_argument("--interval", type=float, default=1.0)
        parser.add_argument("--cancel", metavar="BULK_ID", help="Cancel a send.")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["cancel"]:
            self._cancel(options["cancel"])
            return
        if not options["template"] or not options["recipients"]:
            raise CommandError("Give a template and a recipients file.")
        created = self._create(options)
        bulk = created.bulk_send
        self.stdout.write(
            f"{bulk.public_id}: {created.added} recipients "
            f"({created.invalid} invalid, {created.duplicates} duplicates skipped)"
        )
        if options["no_wait"]:
            return
        self._watch(bulk, options["interval"])

    def _create(self, options: dict[str, Any]) -> BulkSendCreated:
        path = Path(options["recipients"])
        context = _context(options["context"])
        for option, most in (("chunk_size", MAX_CHUNK_SIZE), ("workers", MAX_WORKERS)):
            if not 1 <= options[option] <= most:
                flag = "--" + option.replace("_", "-")
                raise CommandError(f"{flag} must be between 1 and {most}.")
        if not math.isfinite(options["interval"]) or options["interval"] < 0:
            raise CommandError("--interval must be a number of seconds, 0 or more.")
        try:
            fmt = recipients_format(path)
            with path.open(encoding="utf-8-sig", newline="") as handle:
                return bulk_send_create(
                    template=options["template"],
                    recipients=read_recipients(handle, fmt),
                    category=options["category"],
                    context=context,
                    name=options["name"],
                    from_email=options["from_email"],
                    chunk_size=options["chunk_size"],
                    workers=options["workers"],
                )
        except OSError as exc:
            raise CommandError(f"Cannot read {path}: {exc.strerror}.") from None
        except UnicodeDecodeError:
            raise CommandError(f"{path.name} is not UTF-8 text.") from None
        except EmailInvalid as exc:
            flag = "--from: " if exc.param == "from_email" else ""
            raise CommandError(f"{flag}{exc}") from None
        except (RecipientsFileError, EmailRenderError) as exc:
            raise CommandError(str(exc)) from None

    def _watch(self, bulk: BulkSend, interval: float) -> None:
        try:
            while True:
                bulk.job.refresh_from_db()
                progress = bulk_send_progress(bulk)
                self.stdout.write(f"\r{_bar(progress)}", ending="")
                self.stdout.flush()
                if progress.status in FINAL:
                    break
                time.sleep(interval)
        except KeyboardInterrupt:
            self.stdout.write(
                f"\nThe send goes on; stop it with: send_bulk --cancel {bulk.public_id}"
            )
            return
        counts = ", ".join(
            f"{n} {k}" for k, n in sorted(bulk_send_counts(bulk).items())
        )
        self.stdout.write(f"\n{bulk.public_id} {progress.status}: {counts or 'none'}")

    def _cancel(self, public_id: str) -> None:
        bulk = BulkSend.objects.filter(public_id=public_id).first()
        if bulk is None:
            raise CommandError(f"No bulk send {public_id}.")
        if bulk.job is not None and bulk.job.status in FINAL:
            raise CommandError(f"{public_id} is {bulk.job.status}: nothing to cancel.")
        job = bulk_send_cancel(bulk_send=bulk)
        self.stdout.write(f"{public_id}: {job.status if job else 'no job'}")


def _context(raw: str) -> dict[str, Any]:
    """The shared data, held to the API's rules as each recipient's is."""
    try:
        value = json_loads(raw)
    except json.JSONDecodeError as exc:
        raise CommandError(f"--context is not valid JSON ({exc.msg}).") from None
    except ValueError as exc:
        raise CommandError(f"--context is not valid JSON ({exc}).") from None
    if not isinstance(value, dict):
        raise CommandError("--context must be a JSON object.")
    try:
        return checked(value, "--context")
    except RecipientsFileError as exc:
        raise CommandError(str(exc)) from None


def _bar(progress: BatchProgress) -> str:
    filled = round(BAR_WIDTH * progress.percent / 100)
    return f"[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {progress.summary()}"
