"""Email bulk send: 20,000 recipients through a local fake SendGrid, the
account limited to 500 messages/s, worked by several worker processes
sharing the account's limiter. Reports the achieved rate (measured at the
fake provider, first to last request) divided by the limit, and duplicates
(messages the provider got more than once, by our message id: must be 0).

``BENCH_EMAIL_RECIPIENTS`` and ``BENCH_EMAIL_WORKERS`` change the size and
the number of worker processes (defaults 20,000 and 4).
"""

import json
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from bench.common import note, report

RATE = 500
RECIPIENTS = int(os.environ.get("BENCH_EMAIL_RECIPIENTS", "20000"))
WORKERS = int(os.environ.get("BENCH_EMAIL_WORKERS", "4"))
CHUNK = 50
SEND = "/v3/mail/send"
TIMEOUT_SECONDS = 900
ROOT = Path(__file__).resolve().parents[1]


def run() -> bool:
    from integrations.testing.faultserver import fault_server, respond

    with fault_server() as server:
        # SendGrid v3 mail/send accepted (provider-specs/email/sendgrid).
        accepted = respond(202, body=b"", headers={"X-Message-Id": "bench"})
        server.route("POST", SEND, accepted)
        job_id, bulk_id = _setup(server.url)
        workers = [_worker(job_id, server.url) for _ in range(WORKERS)]
        try:
            first, last = _watch(server, job_id)
        finally:
            for proc in workers:
                proc.kill()
                proc.wait()
        sends = Counter(
            request.json()["custom_args"]["message_id"]
            for request in server.requests_for("POST", SEND)
        )
    return _report(sends, first, last, bulk_id)


def _setup(url: str) -> tuple[int, int]:
    from integrations.batch import batch_job_start
    from integrations.models import ProviderAccount
    from notifications.services.bulk import bulk_send_create

    ProviderAccount.objects.filter(kind="email").update(enabled=False)
    account = ProviderAccount(
        kind="email",
        provider="sendgrid",
        slug="bench-sendgrid",
        display_name="bench sendgrid",
        priority=1,
        settings={
            "rate_limit_per_second": RATE,
            "rate_limit_burst": RATE // 10,
            "max_attempts": 1,
        },
    )
    account.set_credentials({"api_key": "SG.bench"})
    account.save()
    created = bulk_send_create(
        template="newsletter",
        context={"headline": "Bench", "body": "One each."},
        recipients=(
            {"email": f"b{i:06d}@example.com", "first_name": f"B{i}"}
            for i in range(RECIPIENTS)
        ),
        chunk_size=CHUNK,
        start=False,
    )
    job = created.bulk_send.job
    batch_job_start(job=job)  # marks it running; the workers below work it
    return job.pk, created.bulk_send.pk


def _worker(job_id: int, url: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "BENCH_EMAIL_URL": url}
    return subprocess.Popen(
        [sys.executable, "-m", "bench.bench_email", str(job_id)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _watch(server: Any, job_id: int) -> tuple[float, float]:
    """When the provider got its first and its last request."""
    from integrations.models import BatchJob

    first = last = 0.0
    deadline = time.monotonic() + TIMEOUT_SECONDS
    seen = 0
    while time.monotonic() < deadline:
        time.sleep(0.05)
        count = len(server.requests_for("POST", SEND))
        now = time.monotonic()
        if count and not first:
            first = now
        if count != seen:
            seen, last = count, now
        status = BatchJob.objects.filter(pk=job_id).values_list("status", flat=True)
        if count >= RECIPIENTS or status.first() in ("done", "failed", "cancelled"):
            break
    return first, last


def _report(sends: Counter, first: float, last: float, bulk_id: int) -> bool:
    from notifications.models import BulkSend
    from notifications.services.bulk import bulk_send_counts

    total = sum(sends.values())
    duplicates = sum(n - 1 for n in sends.values() if n > 1)
    elapsed = max(last - first, 1e-9)
    rate = (total - 1) / elapsed if total > 1 else 0.0
    report(
        "email bulk send rate",
        f"{rate:.0f} msg/s over {total} sends",
        f"limit {RATE} msg/s",
        rate / RATE,
        ">= 0.9",
    )
    report("email bulk duplicates", f"{duplicates}", "0", float(duplicates), "0")
    counts = bulk_send_counts(BulkSend.objects.get(pk=bulk_id))
    note(f"{WORKERS} worker processes, chunks of {CHUNK}; outcomes {counts}")
    return rate / RATE >= 0.9 and duplicates == 0 and total == RECIPIENTS


def _work(job_id: int) -> None:
    """A worker process: work the job until nothing is left for it."""
    from integrations.batch import WorkState, batch_job_work
    from notifications.providers.sendgrid import SendGridAdapter

    url = os.environ["BENCH_EMAIL_URL"].rstrip("/") + "/v3/"
    SendGridAdapter.api_urls = {"test": url, "live": url}
    while True:
        result = batch_job_work(job_id=job_id, budget_seconds=30)
        if result.state == WorkState.STOPPED:
            return
        if result.state == WorkState.WAITING:
            time.sleep(min(result.wait or 0.1, 1.0))


if __name__ == "__main__":
    from bench.common import setup_django

    setup_django()
    _work(json.loads(sys.argv[1]))
