"""Every project command given an argument it does not take, or missing one
it needs: one line on stderr naming it (not argparse's whole usage), a
non-zero exit, never a traceback."""

from functools import partial

import pytest
from django.db import connection

from tests.platform.conftest import side_by_side
from tests.platform.forkstart import manage as _manage
from tests.platform.test_readme_commands import _env_unreachable

COMMANDS = [
    ["check_integrations", "--kind", "bogus"],
    ["batch_jobs", "--bogus"],
    ["refresh_tracking", "--bogus"],
    ["sync_inventory", "--bogus"],
    ["create_purchase_orders", "--bogus"],
    ["reconcile_payments", "extra"],
    ["run_recurring_charges", "--bogus"],
    ["prune_idempotency_keys", "extra"],
    ["rotate_credentials", "extra"],
    ["setup_schedules", "extra"],
    ["setup_demo", "extra"],
    ["revoke_api_key"],
    ["create_api_key", "--name", "shop"],
    ["send_bulk", "--workers", "x"],
    ["rekey_addresses", "extra"],
    ["serve", "--stop-timeout", "abc"],
]
# serve connects before its arguments are read (its children would only
# fail later): given a database it reaches.
REACHABLE = {"serve"}


def _env(command: str) -> dict[str, str]:
    env = _env_unreachable()
    if command in REACHABLE:
        s = connection.settings_dict
        env["DATABASE_URL"] = (
            f"postgres://{s['USER']}:{s['PASSWORD']}@{s['HOST']}:{s['PORT']}/postgres"
        )
    return env


@pytest.fixture(scope="module")
def ran() -> dict:
    """Each of COMMANDS run side by side once, by its arguments."""
    return side_by_side(
        {tuple(a): partial(_manage, *a, env=_env(a[0])) for a in COMMANDS}
    )


@pytest.mark.parametrize("args", COMMANDS, ids=[" ".join(a) for a in COMMANDS])
def test_a_bad_argument_is_one_line(ran, args):
    result = ran[tuple(args)]

    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 2, result.stderr[-800:]
    assert "Traceback" not in result.stderr, result.stderr[-800:]
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"{args[0]}: "), lines
    assert lines[0].endswith(" (see --help)"), lines
