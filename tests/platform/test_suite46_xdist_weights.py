"""The migration pass's hand-out order (tests/xdist_order.py): a split
file's cases go out by their own measured seconds, the longest ops23 case
before the longest whole file."""

from types import SimpleNamespace

from tests.xdist_order import LongestFirst

OPS23 = "tests/platform/test_ops23_migrations_run_again.py"
CASE = "test_killed_after_each_operation_migrate_again_finishes"


def _scheduler() -> LongestFirst:
    option = SimpleNamespace(
        dist="loadfile", loadscopereorder=True, numprocesses=3, tx=["3*popen"]
    )
    config = SimpleNamespace(getvalue=lambda name: getattr(option, name), option=option)
    return LongestFirst(config, None)


def test_the_longest_case_of_a_split_file_goes_out_first():
    scheduler = _scheduler()
    units = {
        f"{OPS23}::{CASE}[{app}]": [f"{OPS23}::{CASE}[{app}]"]
        for app in ("inventory", "notifications", "integrations")
    }
    units["tests/inventory/test_migrations.py"] = [
        f"tests/inventory/test_migrations.py::test_{n}" for n in range(6)
    ]
    units["tests/x/test_unlisted.py"] = ["tests/x/test_unlisted.py::test_a"]
    for scope, nodeids in units.items():
        scheduler.workqueue[scope] = dict.fromkeys(nodeids, False)
    sent = []

    class Node:
        send_runtest_some = sent.append

    node = Node()
    scheduler.registered_collections[node] = [n for ids in units.values() for n in ids]
    scheduler._assign_work_unit(node)

    assert list(scheduler.workqueue) == [
        "tests/inventory/test_migrations.py",
        f"{OPS23}::{CASE}[notifications]",
        f"{OPS23}::{CASE}[inventory]",
        "tests/x/test_unlisted.py",
    ]
    assert sent == [[2]]  # the integrations case: 23 s against 17 s
