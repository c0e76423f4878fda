"""One OS process of the bulk crash test (run by test_bulk_crash.py).

    python -m tests.notifications._bulk_crash_worker <command> '<json args>'

Commands: ``setup`` (schema on a SQLite file, a SendGrid account pointed at
the test's fake provider, a bulk send not yet started), ``work`` (start it;
django-q2 in sync mode runs its tasks until done or killed), ``resume``
(sweep once the dead worker's leases expired: the sweeper enqueues the job
and its tasks run it to the end) and ``report``. The fake provider's URL is
BULK_PROVIDER_URL. ``work`` writes ``sent <address>`` once the provider has
accepted a message and before its outcome is recorded, and stops there for
a minute on BULK_KILL_ADDRESS: the test's SIGKILL lands between the
provider's "accepted" and our commit. Writes one JSON line last on stdout.
"""

import json
import os
import sys
import time
from typing import Any

ACCOUNT = {
    "connect_timeout": 2,
    "read_timeout": 5,
    "deadline_seconds": 30,
    "max_attempts": 1,
    "breaker_consecutive_failures": 1000,
}


def _point_at_fake_provider() -> None:
    from notifications.providers.sendgrid import SendGridAdapter

    url = os.environ["BULK_PROVIDER_URL"].rstrip("/") + "/v3/"
    SendGridAdapter.api_urls = {"test": url, "live": url}


def _announce_sends() -> None:
    from notifications.providers.sendgrid import SendGridAdapter

    original = SendGridAdapter.send
    kill = os.environ.get("BULK_KILL_ADDRESS", "")

    def send(self: Any, message: Any, **kwargs: Any) -> Any:
        result = original(self, message, **kwargs)
        sys.stdout.write(f"sent {message.to}\n")
        sys.stdout.flush()
        if message.to == kill:
            time.sleep(60)
        return result

    SendGridAdapter.send = send


class _NoMigrations(dict):
    """Tables straight from the models, as the suite builds them."""

    def __contains__(self, item: object) -> bool:
        return True

    def __getitem__(self, item: str) -> None:
        return None


def setup(args: dict[str, Any]) -> dict[str, Any]:
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection

    from integrations.models import ProviderAccount
    from notifications.services.bulk import bulk_send_create

    if connection.vendor == "sqlite":
        settings.MIGRATION_MODULES = _NoMigrations()
        call_command("migrate", run_syncdb=True, verbosity=0)
        call_command("createcachetable", verbosity=0)
    account, _ = ProviderAccount.objects.update_or_create(
        slug="fake-sendgrid",
        defaults={"kind": "email", "provider": "sendgrid", "settings": ACCOUNT},
    )
    account.set_credentials({"api_key": "SG.fake"})
    account.save()
    created = bulk_send_create(
        template="newsletter",
        context={"headline": "Crash test", "body": "Once each."},
        recipients=(
            {"email": f"r{i:05d}@example.com", "first_name": f"R{i}"}
            for i in range(args["recipients"])
        ),
        chunk_size=args["chunk"],
        start=False,
    )
    return {"bulk_id": created.bulk_send.pk, "job_id": created.bulk_send.job_id}


def work(args: dict[str, Any]) -> dict[str, Any]:
    from integrations.batch import batch_job_start
    from integrations.models import BatchJob

    _announce_sends()
    batch_job_start(job=BatchJob.objects.get(pk=args["job_id"]))
    return report(args)


def resume(args: dict[str, Any]) -> dict[str, Any]:
    from integrations.batch import batch_jobs_sweep

    return {"enqueued": batch_jobs_sweep(), **report(args)}


def report(args: dict[str, Any]) -> dict[str, Any]:
    from integrations.models import BatchJob
    from notifications.models import BulkRecipient, EmailMessage

    job = BatchJob.objects.get(pk=args["job_id"])
    rows: dict[str, int] = {}
    for status in BulkRecipient.objects.filter(job=job).values_list(
        "status", flat=True
    ):
        rows[status] = rows.get(status, 0) + 1
    messages: dict[str, int] = {}
    for status in EmailMessage.objects.filter(bulk_send_id=args["bulk_id"]).values_list(
        "status", flat=True
    ):
        messages[status] = messages.get(status, 0) + 1
    unknown = EmailMessage.objects.filter(
        bulk_send_id=args["bulk_id"], status="unknown"
    ).values_list("to_email", flat=True)
    return {
        "job": {"status": job.status, "total": job.total, "done": job.done},
        "rows": rows,
        "messages": messages,
        "unknown": sorted(unknown),
    }


def main() -> None:
    os.environ["DJANGO_SETTINGS_MODULE"] = "tests.settings"
    import django

    django.setup()
    _point_at_fake_provider()
    command, args = sys.argv[1], json.loads(sys.argv[2])
    result = {"setup": setup, "work": work, "resume": resume, "report": report}[
        command
    ](args)
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
