"""MIGRATION_LOCK_TIMEOUT_MS beyond what PostgreSQL's lock_timeout takes
(2147483647 ms) stops the start in one line, as a negative one does, rather
than `migrate` failing with a traceback once it sets it."""

from tests.platform.conftest import clean_env, dev_secrets
from tests.platform.forkstart import manage  # forked: settings read afresh


def test_a_lock_timeout_postgresql_cannot_take_stops_the_start(tmp_path):
    env = clean_env(
        **dev_secrets(),
        DEBUG="true",
        DATABASE_URL=f"sqlite:///{tmp_path / 'db'}",
        MIGRATION_LOCK_TIMEOUT_MS="2147483648",
    )
    result = manage("check", env=env)

    assert result.returncode != 0
    assert result.stderr.strip().splitlines() == [
        "switchyard: configuration error: "
        "MIGRATION_LOCK_TIMEOUT_MS must be at most 2147483647 (about 24 days)"
    ]


def test_the_largest_lock_timeout_postgresql_takes_starts(tmp_path):
    env = clean_env(
        **dev_secrets(),
        DEBUG="true",
        DATABASE_URL=f"sqlite:///{tmp_path / 'db'}",
        MIGRATION_LOCK_TIMEOUT_MS="2147483647",
    )
    result = manage("check", env=env)

    assert result.returncode == 0, result.stderr[-800:]
