"""Every project command, the database unreachable: exactly one line on
stderr (no log record before it either), exit 1, never a traceback."""

from functools import partial

import pytest

from tests.platform.conftest import side_by_side
from tests.platform.forkstart import manage as _manage
from tests.platform.test_readme_commands import _env_unreachable

pytestmark = pytest.mark.postgres

COMMANDS = [
    ["check_integrations"],
    ["batch_jobs"],
    ["batch_jobs", "list"],
    ["refresh_tracking"],
    ["sync_inventory"],
    ["create_purchase_orders"],
    ["reconcile_payments"],
    ["run_recurring_charges"],
    ["prune_idempotency_keys"],
    ["rotate_credentials"],
    ["setup_schedules"],
    ["setup_demo"],
    ["revoke_api_key", "sk_live_x"],
    ["create_api_key", "--name", "shop", "--scopes", "payments:read"],
    ["migrate"],
    # Unreachable before it starts: the shared line, not "re-keying stopped".
    ["rekey_addresses"],
]


@pytest.fixture(scope="module")
def ran() -> dict:
    """Each of COMMANDS run side by side once, by its arguments."""
    return side_by_side(
        {tuple(a): partial(_manage, *a, env=_env_unreachable()) for a in COMMANDS}
    )


@pytest.mark.parametrize("args", COMMANDS, ids=[" ".join(a) for a in COMMANDS])
def test_a_command_says_exactly_one_line_when_the_database_is_unreachable(ran, args):
    result = ran[tuple(args)]

    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 1, result.stderr[-800:]
    assert len(lines) == 1, lines[-5:]
    assert lines[0].startswith("cannot reach the database ("), lines


def test_send_bulk_says_exactly_one_line_when_the_database_is_unreachable(tmp_path):
    csv = tmp_path / "r.csv"
    csv.write_text("email\na@example.com\n")
    args = ["send_bulk", "newsletter", str(csv), "--no-wait"]

    result = _manage(*args, env=_env_unreachable())

    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 1, result.stderr[-800:]
    assert len(lines) == 1, lines[-5:]
    assert lines[0].startswith("cannot reach the database ("), lines
