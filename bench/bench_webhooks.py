"""4. Webhook intake under gunicorn (signature check, storage, dedupe, 10 %
duplicates) against a bare Django view on the same server."""

import http.client
import json
import multiprocessing
import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

from bench.common import WEBHOOK_SECRET, make_account, note, report

LOADERS = 4
UNIQUE_PER_LOADER = 400
DUPLICATE_EVERY = 10  # one resend per 10 unique: 10 % duplicates
TIME_LIMIT = 60.0
WORKERS = 2
ROOT = Path(__file__).resolve().parent.parent


class WebhookLoss(SystemExit):
    """A webhook was lost, stored twice or refused: the bench fails."""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start_gunicorn(port: int) -> subprocess.Popen:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "bench.settings",
        # whitenoise warns per worker that collectstatic never ran.
        "PYTHONWARNINGS": "ignore::UserWarning",
    }
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "config.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(WORKERS),
            "--worker-class",
            "sync",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return proc
        except OSError:
            time.sleep(0.2)
    proc.terminate()
    raise RuntimeError("gunicorn did not start")


def _requests(loader: int, slug: str) -> list[tuple[str, bytes, dict[str, str]]]:
    """(id, body, headers) to send, duplicates included, in send order."""
    from integrations.webhooks.verification import signed_headers

    out: list[tuple[str, bytes, dict[str, str]]] = []
    for i in range(UNIQUE_PER_LOADER):
        webhook_id = f"msg_{loader}_{i}_{uuid.uuid4().hex[:8]}"
        body = json.dumps(
            {
                "type": "payment.succeeded",
                "timestamp": "2025-01-01T00:00:00+00:00",
                "data": {"id": f"pay_{loader}_{i}", "amount": 1999, "currency": "EUR"},
            }
        ).encode()
        headers = signed_headers(
            secret=WEBHOOK_SECRET, webhook_id=webhook_id, body=body
        )
        headers["Content-Type"] = "application/json"
        out.append((webhook_id, body, headers))
        if i % DUPLICATE_EVERY == DUPLICATE_EVERY - 1:
            out.append(out[-1 - i % 5])  # a resend of a recent one
    return out


def _load(args: tuple[int, int, str, str]) -> tuple[int, int, float, list[str]]:
    """One load generator: (sent, 2xx, seconds, ids sent)."""
    loader, port, path, slug = args
    batch = _requests(loader, slug)
    ok = 0
    start = time.perf_counter()
    deadline = start + TIME_LIMIT
    sent = 0
    for _webhook_id, body, headers in batch:
        if time.perf_counter() > deadline:
            break
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.request("POST", path, body=body, headers=headers)
        response = conn.getresponse()
        response.read()
        conn.close()
        sent += 1
        ok += 200 <= response.status < 300
    elapsed = time.perf_counter() - start
    return sent, ok, elapsed, [b[0] for b in batch[:sent]]


def _blast(port: int, path: str, slug: str) -> tuple[int, int, float, set[str]]:
    ctx = multiprocessing.get_context("spawn")  # no inherited DB connections
    with ctx.Pool(LOADERS) as pool:
        start = time.perf_counter()
        results = pool.map(_load, [(n, port, path, slug) for n in range(LOADERS)])
        wall = time.perf_counter() - start
    sent = sum(r[0] for r in results)
    ok = sum(r[1] for r in results)
    ids = {i for r in results for i in r[3]}
    return sent, ok, wall, ids


def run() -> bool:
    from django.db import connection

    from integrations.models import WebhookEvent

    account = make_account("bench-webhooks")
    connection.close()  # the workers are the writers now
    port = _free_port()
    proc = _start_gunicorn(port)
    try:
        path = f"/webhooks/{account.slug}/"
        # Warm both paths in every worker (imports, connections).
        _blast_small(port, path)
        bare_sent, bare_ok, bare_wall, _ = _blast(port, "/bench/bare/", account.slug)
        WebhookEvent.objects.all().delete()
        sent, ok, wall, ids = _blast(port, path, account.slug)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    hooks_rate = ok / wall
    bare_rate = bare_ok / bare_wall
    ratio = hooks_rate / bare_rate
    report(
        "webhook intake (gunicorn)",
        f"{hooks_rate:7.0f} webhooks/s",
        f"bare view {bare_rate:.0f} req/s",
        ratio,
        ">= 0.6",
    )
    stored = list(
        WebhookEvent.objects.filter(account=account).values_list(
            "dedupe_key", flat=True
        )
    )
    exact = len(stored) == len(set(stored)) == len(ids) and set(stored) == ids
    note(
        f"{sent} webhooks sent ({len(ids)} unique, {sent - len(ids)} duplicates), "
        f"{ok} answered 2xx; {len(stored)} rows stored; bare: {bare_ok}/{bare_sent} "
        f"2xx; {WORKERS} sync workers, {LOADERS} loaders"
    )
    if not exact or ok != sent or bare_ok != bare_sent:
        note("CHECK FAILED: every unique webhook stored exactly once, every answer 2xx")
        raise WebhookLoss(1)
    note("check passed: every unique webhook stored exactly once, every answer 2xx")
    return ratio >= 0.6


def _blast_small(port: int, path: str) -> None:
    """Warm every worker (imports, connections) on both paths."""
    from integrations.webhooks.verification import signed_headers

    for _ in range(WORKERS * 4):
        for target in ("/bench/bare/", path):
            body = b'{"type": "bench.warmup", "data": {}}'
            headers = signed_headers(
                secret=WEBHOOK_SECRET, webhook_id=uuid.uuid4().hex, body=body
            )
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            conn.request("POST", target, body=body, headers=headers)
            conn.getresponse().read()
            conn.close()
