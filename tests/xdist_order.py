"""The order `make test` hands test files to its xdist workers (``--dist
loadfile``): the longest first, so no long file starts last while the other
workers stand idle, and a few files whose cases each take tens of seconds
split per case (a file is otherwise one worker's).

xdist orders files by their number of tests; a file of one 55-second test
then came last. Seconds per file below were measured with ``--durations=0``
(setup + call + teardown, CI-like host, 2026-12-07); a file not listed counts
0.2 s a test. Stale figures only cost balance, never a result."""

from typing import Any

from xdist.scheduler import LoadFileScheduling

SECONDS_PER_TEST = 0.2
# The six suite44 files: CI's seconds (814 s run) times the before/after
# ratio measured side by side on a loaded host after suite44's changes.
# The eight suite45 files: the 872 s run's seconds, less suite45's cuts
# (bulk_crash one Django start, serve runserver's checks, NetSuite's
# ANALYZEs: measured as CPU or side by side, the host at load 9 to 15).
MEASURED_SECONDS = {
    "tests/platform/test_admin21_hostile.py": 120,
    "tests/platform/test_api_fuzz.py": 45,
    "tests/platform/test_admin_odd_input.py": 64,
    "tests/notifications/test_bulk_crash.py": 54,
    "tests/platform/test_commands_odd_input.py": 29,
    "tests/shipping/providers/test_answer_shapes.py": 25,
    "tests/payments/test_fault_matrix.py": 38,
    "tests/platform/test_serve.py": 40,
    "tests/platform/test_config_truth.py": 26,
    "tests/inventory/test_inv2_netsuite_paging.py": 30,
    "tests/platform/test_ops41_serve_ctrl_c.py": 20,
    "tests/payments/hardening/test_canary.py": 17,
    "tests/inventory/test_revinv22_paging_property.py": 16,
    "tests/integrations/test_core21_redis_timeouts.py": 15,
    "tests/integrations/oauth/test_multiprocess.py": 15,
    "tests/e2e/test_storefront_webhooks.py": 15,
    "tests/platform/test_r_ops35_serve_probe.py": 15,
    "tests/platform/test_suite42_serve_orphans.py": 13,
    "tests/integrations/test_revcore24_qcluster.py": 12,
    "tests/e2e/test_inventory_staff.py": 12,
    "tests/e2e/test_bulk_progress.py": 12,
    "tests/integrations/test_core_command_lines.py": 12,
    "tests/test_ops3_commands_unreachable.py": 11,
    "tests/platform/test_suite40a_forkstart.py": 11,
    "tests/platform/test_ops35_serve_port_race.py": 11,
    "tests/notifications/test_mailx_mail_from_refusals.py": 11,
    "tests/test_core3_commands_not_migrated.py": 10,
    "tests/integrations/batch/test_crash.py": 10,
    "tests/integrations/breaker/test_multiprocess.py": 9,
    "tests/e2e/test_email_staff.py": 9,
    "tests/platform/test_readme_serve.py": 9,
    "tests/platform/test_r_ops35_serve_ipv6.py": 9,
    "tests/e2e/test_admin_priorities.py": 8,
    "tests/e2e/test_payment_refund.py": 6,
    "tests/e2e/test_shipping_compare.py": 5,
    # The second pass (--migrations): the 1,618 s loaded run's seconds
    # (2026-12-07, --durations=0) scaled to ops23's 76 CI seconds, without
    # the worker's test database migrated from zero (its first file's set-up,
    # whichever file that is: the three files first had counted it).
    "tests/platform/test_ops23_migrations_run_again.py": 76,
    "tests/inventory/test_migrations.py": 17,
    "tests/storefront_hooks/test_migrations.py": 13,
    "tests/storefront_hooks/test_ops24_0006_lock_setting.py": 8,
    "tests/storefront_hooks/test_revhooks22_migration.py": 7,
    "tests/inventory/test_inv4_migrations.py": 7,
    "tests/payments/test_fraud21_migration.py": 7,
    "tests/shipping/test_migrations.py": 6,
    "tests/payments/test_pay32_migration.py": 6,
}
# Files whose cases are independent and each long: one case per hand-out.
SPLIT_PER_CASE = ("tests/platform/test_ops23_migrations_run_again.py",)
# Their cases' seconds by parameter id, as above: at a third of the file
# each, the longest case went out behind three files then listed at 43 to
# 45 s (their workers' database set-up counted) and ended the pass.
CASE_SECONDS = {
    "tests/platform/test_ops23_migrations_run_again.py": {
        "integrations": 23,
        "storefront_hooks": 20,
        "payments": 18,
        "notifications": 12,
        "inventory": 2,
    },
}


class LongestFirst(LoadFileScheduling):
    """``--dist loadfile`` with the work queue in the order above."""

    ordered = False

    def _split_scope(self, nodeid: str) -> str:
        file = nodeid.split("::", 1)[0]
        return nodeid if file in SPLIT_PER_CASE else file

    def _assign_work_unit(self, node: Any) -> None:
        # The queue is complete when the first unit is handed out.
        if not self.ordered:
            ordered = sorted(self.workqueue.items(), key=_weight, reverse=True)
            self.workqueue.clear()
            self.workqueue.update(ordered)
            self.ordered = True
        super()._assign_work_unit(node)


def _weight(unit: tuple[str, dict[str, bool]]) -> float:
    scope, cases = unit
    file = scope.split("::", 1)[0]
    case = scope.rsplit("[", 1)[-1].rstrip("]") if scope != file else None
    if case in CASE_SECONDS.get(file, {}):
        return CASE_SECONDS[file][case]
    if file not in MEASURED_SECONDS:
        return len(cases) * SECONDS_PER_TEST
    # A case of a split file not listed: a third of the file, roughly its longest.
    return MEASURED_SECONDS[file] / (3 if scope != file else 1)


def scheduler_for(config: Any, log: Any) -> LongestFirst | None:
    """The scheduler for ``--dist loadfile``; xdist's own for the others."""
    if config.getvalue("dist") != "loadfile":
        return None
    return LongestFirst(config, log)
