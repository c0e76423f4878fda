"""README, "Production": gunicorn with several workers behind one /metrics.
The documented config file loads, and with PROMETHEUS_MULTIPROC_DIR set the
answer sums every process's counts, never one worker's."""

import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

from tests.platform.conftest import ROOT, clean_env, dev_secrets

GUNICORN = str(Path(sys.executable).with_name("gunicorn"))
CONFIG = "config/gunicorn.py"

_RECORD = (
    "from integrations.metrics import record_call;"
    "record_call(account_slug='acct', operation='op', outcome='success',"
    " duration_seconds=0.01, attempts=1)"
)
_RENDER = (
    "import django; django.setup();"
    "from integrations.metrics import render_metrics;"
    "print(render_metrics()[0].decode())"
)


def _python(code: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _env(tmp_path: Path, directory: Path) -> dict[str, str]:
    return clean_env(
        **dev_secrets(),
        DEBUG="true",
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        PROMETHEUS_MULTIPROC_DIR=str(directory),
        PYTHONPATH=str(ROOT),
    )


def test_the_documented_gunicorn_config_loads(tmp_path):
    result = subprocess.run(
        [GUNICORN, "--check-config", "-c", CONFIG, "config.wsgi", "-w", "4"],
        env=_env(tmp_path, tmp_path / "metrics"),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-800:] + result.stderr[-800:]


def test_metrics_sum_every_worker_after_the_start_wiped_an_old_run(
    tmp_path, monkeypatch
):
    from config import gunicorn

    directory = tmp_path / "metrics"
    env = _env(tmp_path, directory)
    _python(_RECORD, env)  # a previous run's count, which must not be summed
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(directory))
    gunicorn.on_starting(None)
    for _worker in range(2):
        assert _python(_RECORD, env).returncode == 0
    body = _python(_RENDER, env).stdout
    line = 'switchyard_provider_calls_total{account="acct",operation="op",'
    assert line + 'outcome="success"} 2.0' in body, body[-1500:]


def test_a_dead_workers_file_is_marked_for_the_sum(tmp_path, monkeypatch):
    from config import gunicorn

    directory = tmp_path / "metrics"
    directory.mkdir()
    (directory / "gauge_livesum_4242.db").write_bytes(b"")
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(directory))
    gunicorn.child_exit(None, SimpleNamespace(pid=4242))
    assert not (directory / "gauge_livesum_4242.db").exists()
