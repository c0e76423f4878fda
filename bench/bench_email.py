"""Email bulk send: 20,000 recipients through a local fake SendGrid that
enforces 500 messages/s with 429s (bench/email_provider.py), the account's
limiter set to the same 500/s, worked by several worker processes the way
django-q runs batch jobs (``batch_job_work``). Reports the achieved rate
(measured at the fake provider, first to last accepted message) divided by
the limit, and duplicates (messages the provider accepted more than once,
by our message id or by recipient: must be 0).

Next to it, in the same run and with the same number of processes, two
floors: the raw HTTP capacity of this machine against the fake provider
(``requests`` alone, no limit), and the shared client path alone, called
the way the bulk send calls it (``run_with_failover`` over accounts read
once -> adapter -> client with its limiter, breaker and call log, the key
held by the caller so no call-log pre-write, but none of the bulk send's
own rows). The bulk send cannot beat the second; the load average is
printed, as the machine is shared.

``BENCH_EMAIL_RECIPIENTS``, ``BENCH_EMAIL_WORKERS`` and
``BENCH_EMAIL_FLOOR_SENDS`` change the size, the number of processes
(default 20,000, 4 and 4,000).
"""

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.common import note, report
from bench.email_provider import SEND, FakeSendGrid

RATE = 500
RECIPIENTS = int(os.environ.get("BENCH_EMAIL_RECIPIENTS", "20000"))
WORKERS = int(os.environ.get("BENCH_EMAIL_WORKERS", "4"))
FLOOR_SENDS = int(os.environ.get("BENCH_EMAIL_FLOOR_SENDS", "4000"))
CHUNK = 50
TIMEOUT_SECONDS = 900
ROOT = Path(__file__).resolve().parents[1]
ACCOUNT_SETTINGS = {
    "rate_limit_per_second": RATE,
    "rate_limit_burst": RATE // 10,
    "max_attempts": 1,
}


def run() -> bool:
    load_before = os.getloadavg()[0]
    raw = _floor("raw", rate=None)
    before = _floor("client", rate=RATE).rate()
    provider, counts = _bulk_send()
    # Again after: on a shared machine the load moves during the run.
    floor = (before + _floor("client", rate=RATE).rate()) / 2
    load_after = os.getloadavg()[0]
    rate, duplicates = provider.rate(), provider.duplicates()
    report(
        "email bulk send rate",
        f"{rate:.0f} msg/s over {provider.accepted} sends",
        f"limit {RATE} msg/s",
        rate / RATE,
        ">= 0.9",
    )
    report("email bulk duplicates", f"{duplicates}", "0", float(duplicates), "0")
    report(
        "email floor: client path",
        f"{floor:.0f} msg/s, no bulk rows",
        f"limit {RATE} msg/s",
        floor / RATE,
        "reference",
    )
    report(
        "email floor: raw HTTP",
        f"{raw.rate():.0f} msg/s, unlimited",
        f"limit {RATE} msg/s",
        raw.rate() / RATE,
        "reference",
    )
    note(
        f"{WORKERS} worker processes, chunks of {CHUNK}; outcomes {counts}; "
        f"429s answered {provider.throttled}; bulk send at "
        f"{rate / max(floor, 1e-9):.0%} of the client-path floor (its mean "
        "before and after the send)"
    )
    note(
        f"load average {load_before:.1f} before, {load_after:.1f} after, "
        f"on {os.cpu_count()} cpus"
    )
    complete = provider.accepted == RECIPIENTS
    return rate / RATE >= 0.9 and duplicates == 0 and complete


def _bulk_send() -> tuple[FakeSendGrid, dict[str, int]]:
    from notifications.models import BulkSend
    from notifications.services.bulk import bulk_send_counts

    with FakeSendGrid(rate=RATE) as provider:
        job_id, bulk_id = _setup()
        workers = [_start("work", provider.url, job_id) for _ in range(WORKERS)]
        try:
            _watch(provider, job_id)
        finally:
            for proc in workers:
                proc.kill()
                proc.wait()
    return provider, bulk_send_counts(BulkSend.objects.get(pk=bulk_id))


def _floor(mode: str, *, rate: float | None) -> FakeSendGrid:
    """FLOOR_SENDS sends from WORKERS processes, ``raw`` or through the
    ``client`` path, at a provider limited to ``rate``."""
    _account()
    share = FLOOR_SENDS // WORKERS
    with FakeSendGrid(rate=rate) as provider:
        procs = [
            _start(mode, provider.url, {"first": i * share, "count": share})
            for i in range(WORKERS)
        ]
        for proc in procs:
            proc.wait(timeout=TIMEOUT_SECONDS)
    return provider


def _account() -> Any:
    from integrations.models import ProviderAccount

    ProviderAccount.objects.filter(kind="email").exclude(slug="bench-sendgrid").update(
        enabled=False
    )
    account, _ = ProviderAccount.objects.get_or_create(
        slug="bench-sendgrid",
        defaults={
            "kind": "email",
            "provider": "sendgrid",
            "display_name": "bench sendgrid",
            "priority": 1,
            "settings": ACCOUNT_SETTINGS,
        },
    )
    account.set_credentials({"api_key": "SG.bench"})
    account.save()
    return account


def _setup() -> tuple[int, int]:
    from integrations.batch import batch_job_start
    from notifications.services.bulk import bulk_send_create

    _account()
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


def _start(mode: str, url: str, args: Any) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "BENCH_EMAIL_URL": url}
    return subprocess.Popen(
        [sys.executable, "-m", "bench.bench_email", mode, json.dumps(args)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _watch(provider: FakeSendGrid, job_id: int) -> None:
    """Until every recipient reached the provider or the job settled."""
    from integrations.models import BatchJob

    deadline = time.monotonic() + TIMEOUT_SECONDS
    job = BatchJob.objects.filter(pk=job_id).values_list("status", flat=True)
    while time.monotonic() < deadline and provider.accepted < RECIPIENTS:
        time.sleep(0.2)
        if job.first() in ("done", "failed", "cancelled"):
            return


# --- In the worker processes -------------------------------------------------


def _work(job_id: int) -> None:
    """A worker process: work the job until nothing is left for it."""
    from integrations.batch import WorkState, batch_job_work

    while True:
        result = batch_job_work(job_id=job_id, budget_seconds=30)
        if result.state == WorkState.STOPPED:
            return
        if result.state == WorkState.WAITING:
            time.sleep(min(result.wait or 0.1, 1.0))


def _raw(args: dict[str, int]) -> None:
    """The same request the adapter makes, from ``requests`` alone."""
    import requests

    session = requests.Session()
    url = os.environ["BENCH_EMAIL_URL"] + SEND
    for n in range(args["first"], args["first"] + args["count"]):
        body = {
            "personalizations": [{"to": [{"email": f"f{n:06d}@example.com"}]}],
            "custom_args": {"message_id": f"raw_{n}"},
            "subject": "Bench",
            "content": [{"type": "text/plain", "value": "x" * 600}],
        }
        session.post(url, json=body, headers={"Authorization": "Bearer SG.bench"})


def _client(args: dict[str, int]) -> None:
    """Sends through the failover run, adapter and shared client, paced by
    the account's limiter; nothing of the bulk send's own is written."""
    from integrations.client import key_on_record
    from integrations.failover import enabled_accounts, run_with_failover
    from notifications.providers.base import EmailCategory, OutboundEmail

    accounts = enabled_accounts("email")
    for n in range(args["first"], args["first"] + args["count"]):
        outbound = OutboundEmail(
            to=f"f{n:06d}@example.com",
            from_email="bench@example.com",
            subject="Bench",
            text="x" * 600,
            html="<p>" + "x" * 600 + "</p>",
            message_id=f"eml_floor{n}",
            category=EmailCategory.MARKETING,
        )
        with key_on_record():
            run_with_failover(
                "email",
                lambda adapter, o=outbound: adapter.send(o, pacing=True),
                operation_name="bench_floor",
                accounts=accounts,
            )


def _main(mode: str, args: Any) -> None:
    from bench.common import setup_django

    setup_django()
    from notifications.providers.sendgrid import SendGridAdapter

    url = os.environ["BENCH_EMAIL_URL"].rstrip("/") + "/v3/"
    SendGridAdapter.api_urls = {"test": url, "live": url}
    {"work": _work, "raw": _raw, "client": _client}[mode](args)


if __name__ == "__main__":
    _main(sys.argv[1], json.loads(sys.argv[2]))
