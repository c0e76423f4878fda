"""The sync_inventory command as operators run it in a process of its own:
stopped by SIGTERM (docker stop, systemctl stop, `timeout`, a Kubernetes
job's deadline) it ends its run as Ctrl-C does, so the next sync starts."""

import io
import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone

from inventory.models import SandboxErpLevel, SyncRun
from tests.factories import ProviderAccountFactory

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.django_db(transaction=True)
def test_a_sync_stopped_by_sigterm_ends_its_run_and_the_next_sync_starts():
    erp = ProviderAccountFactory(
        kind="inventory", slug="erp-term", settings={"latency_ms": 300}
    )
    old = timezone.now() - timedelta(hours=1)
    for n in range(40):
        SandboxErpLevel.objects.create(
            account=erp,
            sku=f"S{n:02d}",
            location_code="MAIN",
            on_hand=n,
            modified_at=old,
        )
    db = connection.settings_dict
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "PYTHONPATH": str(ROOT),
        "DATABASE_URL": (
            f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST']}:{db['PORT']}/"
            f"{db['NAME']}"
        ),
        "INVENTORY_SYNC_PAGE_SIZE": "1",
    }
    proc = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "manage.py"),
            "sync_inventory",
            "--account",
            "erp-term",
        ],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            run = SyncRun.objects.filter(account=erp).first()
            if run is not None and run.pages >= 2:
                break
            time.sleep(0.1)
        else:
            pytest.fail("the sync never got going: " + proc.stderr.read1().decode())
        proc.send_signal(signal.SIGTERM)  # what `docker stop` sends first
        proc.wait(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    run = SyncRun.objects.get(account=erp)
    assert proc.returncode == 128 + signal.SIGTERM, proc.stderr.read().decode()
    assert (run.status, run.errors[-1]["code"]) == ("failed", "sync_interrupted")
    # The rerun the operator makes at once:
    erp.settings = {}
    erp.save()
    try:
        call_command("sync_inventory", "--account", "erp-term", stdout=io.StringIO())
        refused = None
    except CommandError as exc:
        refused = str(exc)
    assert refused is None, (run.status, refused)


@pytest.mark.django_db
def test_a_disabled_account_is_refused_in_one_line():
    """Staff disabled it (a broken ERP, credentials revoked): the command
    does not sync it behind their back, as the schedule and "Sync now" don't."""
    ProviderAccountFactory(kind="inventory", slug="erp-off", enabled=False)
    with pytest.raises(CommandError) as info:
        call_command("sync_inventory", "--account", "erp-off", stdout=io.StringIO())
    assert "\n" not in str(info.value) and "disabled" in str(info.value)
    assert not SyncRun.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_sigterm_during_a_query_cancels_it_on_the_server():
    """psycopg cancels the server's query only for KeyboardInterrupt and
    SystemExit: a SIGTERM raised as anything else left the connection busy,
    so ending the run 'sync_interrupted' failed ('another command is already
    in progress') and the run stayed open, refusing the next sync."""
    from inventory.management.commands.sync_inventory import Terminated

    if connection.vendor != "postgresql":
        pytest.skip("a PostgreSQL query to cancel")

    def terminate(signum, frame):
        raise Terminated

    previous = signal.signal(signal.SIGALRM, terminate)
    signal.setitimer(signal.ITIMER_REAL, 0.3)
    began = time.monotonic()
    try:
        with pytest.raises(Terminated), connection.cursor() as cursor:
            cursor.execute("SELECT pg_sleep(10)")
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        assert cursor.fetchone() == (1,)
    assert time.monotonic() - began < 5
