"""The worker with its Redis broker unusable at start: one line on stderr
naming where, exit 1, no traceback, nothing spawned, no password shown
(django-q2's sentinel dies with two tracebacks otherwise)."""

import pytest

from tests.platform.test_readme_commands import _manage, _said

# The tables exist: only Redis is wrong.
pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

REDIS_PASSWORD = "readme-redis-pass-9c1e"


def _env(redis_url: str) -> dict[str, str]:
    import os

    from django.db import connection

    from tests.platform.conftest import ROOT

    s = connection.settings_dict
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="tests.settings",
        PYTHONPATH=str(ROOT),
        DATABASE_URL=(
            f"postgres://{s['USER']}:{s['PASSWORD']}@{s['HOST']}:"
            f"{s['PORT'] or 5432}/{s['NAME']}"
        ),
        REDIS_URL=redis_url,
        Q_SYNC="false",
    )
    return env


def test_the_worker_says_one_line_when_redis_is_unreachable():
    result = _manage("qcluster", env=_env(f"redis://:{REDIS_PASSWORD}@127.0.0.1:1/0"))

    assert result.returncode == 1, result.stdout[-400:] + result.stderr[-800:]
    assert "Traceback" not in result.stderr, result.stderr[-800:]
    said = _said(result)
    assert len(said) == 1, said[-5:]
    assert said[0].startswith("cannot reach Redis (127.0.0.1:1): "), said
    assert REDIS_PASSWORD not in result.stdout + result.stderr


@pytest.mark.redis
def test_the_worker_says_one_line_when_redis_refuses_its_password():
    from django.conf import settings

    # The suite's Redis has no such user: AUTH is refused (WRONGPASS); a
    # password alone is accepted by a server that sets none.
    host_port = settings.REDIS_URL.split("://", 1)[1].split("/", 1)[0]
    url = f"redis://no-such-user:{REDIS_PASSWORD}@{host_port}/0"
    result = _manage("qcluster", env=_env(url))

    assert result.returncode == 1, result.stdout[-400:] + result.stderr[-800:]
    assert "Traceback" not in result.stderr, result.stderr[-800:]
    said = _said(result)
    assert len(said) == 1, said[-5:]
    assert said[0].startswith(f"Redis ({host_port}) refused the worker: "), said
    assert REDIS_PASSWORD not in result.stdout + result.stderr
