"""serve's worker, ``serve_worker``, says one line when the database cannot
be reached, as ``qcluster`` does (entry.py's database-first check)."""

import pytest

from tests.platform import test_readme_commands as readme


@pytest.mark.parametrize("broker", [{}, {"REDIS_URL": ""}], ids=["redis", "orm"])
def test_serve_worker_says_one_line_when_the_database_is_unreachable(broker):
    env = readme._env_unreachable(Q_SYNC="false", **broker)
    result = readme._manage("serve_worker", env=env)
    assert result.returncode == 1, result.stdout[-400:] + result.stderr[-800:]
    assert "Traceback" not in result.stderr, result.stderr[-800:]
    said = readme._said(result)
    assert len(said) == 1, said[-5:]
    assert said[0].startswith("cannot reach the database ("), said
    assert readme.SECRET_PASSWORD not in result.stdout + result.stderr
