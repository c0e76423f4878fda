"""The database going away while a command runs (a restart, a failover, an
administrator ending the session): one line on stderr, exit 1, never a
traceback, as for a database not reachable at the start. A statement's own
fault (a lock refused, a statement cancelled) stays a traceback
(test_ops26_fault_after_connecting)."""

import pytest
from django.db import connection

from tests.platform.conftest import clean_env, dev_secrets
from tests.platform.forkstart import manage  # forked: settings read afresh

pytestmark = pytest.mark.postgres

# What a restart does to every session: "terminating connection due to
# administrator command" (57P01), here to the command's own session only.
ENDED = (
    "from django.db import connection\n"
    "with connection.cursor() as cursor:\n"
    "    cursor.execute('SELECT pg_terminate_backend(pg_backend_pid())')\n"
)


def _env() -> dict[str, str]:
    if connection.vendor != "postgresql":
        pytest.skip("a PostgreSQL session to end")
    s = connection.settings_dict
    # The maintenance database: the command reads no table before it ends.
    url = f"postgres://{s['USER']}:{s['PASSWORD']}@{s['HOST']}:{s['PORT']}/postgres"
    return clean_env(**dev_secrets(), DEBUG="true", DATABASE_URL=url)


def test_a_session_ended_mid_command_is_one_line_not_a_traceback():
    s = connection.settings_dict

    result = manage("shell", "-c", ENDED, env=_env())

    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 1, result.stderr[-800:]
    assert len(lines) == 1, lines[-5:]
    assert lines[0].startswith(
        f"lost the database connection ({s['HOST']}:{s['PORT']}) during the command: "
        "terminating connection due to administrator command"
    ), lines
    assert s["PASSWORD"] not in lines[0]
