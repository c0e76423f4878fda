"""`make test`'s hand-out order (tests/xdist_order.py): longest files first,
the listed long files split per case, any other dist mode left to xdist."""

from types import SimpleNamespace

from tests.xdist_order import SPLIT_PER_CASE, LongestFirst, scheduler_for


def _config(dist: str) -> SimpleNamespace:
    option = SimpleNamespace(
        dist=dist, loadscopereorder=True, numprocesses=2, tx=["2*popen"]
    )
    return SimpleNamespace(getvalue=lambda name: getattr(option, name), option=option)


def test_only_loadfile_gets_the_longest_first_scheduler():
    assert scheduler_for(_config("load"), None) is None
    assert isinstance(scheduler_for(_config("loadfile"), None), LongestFirst)


def test_a_long_file_of_one_test_goes_before_a_short_file_of_many():
    scheduler = LongestFirst(_config("loadfile"), None)
    many = {f"tests/x/test_many.py::test_{n}": False for n in range(40)}
    scheduler.workqueue.update(
        {
            "tests/x/test_many.py": many,
            "tests/notifications/test_bulk_crash.py": {
                "tests/notifications/test_bulk_crash.py::test_a": False
            },
        }
    )
    sent = []

    class Node:
        send_runtest_some = sent.append

    node = Node()
    scheduler.registered_collections[node] = [
        "tests/notifications/test_bulk_crash.py::test_a",
        *many,
    ]
    scheduler._assign_work_unit(node)
    assert sent == [[0]]  # the crash test (56 s) before 40 x 0.2 s
    assert list(scheduler.workqueue) == ["tests/x/test_many.py"]


def test_a_split_file_is_handed_out_case_by_case():
    scheduler = LongestFirst(_config("loadfile"), None)
    (split,) = SPLIT_PER_CASE
    assert scheduler._split_scope(f"{split}::test_a[x]") == f"{split}::test_a[x]"
    assert scheduler._split_scope("tests/y/test_z.py::test_a[x]") == "tests/y/test_z.py"
