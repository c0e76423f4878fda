"""`check` given a tag no system check has (or an app label no installed app
has), and the other commands taking app labels (`dumpdata` and its
`--exclude`, `loaddata --app`, `sqlsequencereset`, `optimizemigration`)
given one no installed app has: one line naming the command and ending
"(see --help)", exit 2, as every other argument error (README). Test labels
are out of scope. ``call_command`` gets a CommandError."""

from unittest import mock

import pytest
from django.core.management import CommandError, call_command

from integrations.management.entry import OneLineUtility
from tests.platform.forkstart import manage  # forked: settings read afresh


def _run(argv: list[str], capsys: pytest.CaptureFixture) -> tuple[int, list[str]]:
    # django.setup() again would point the log handlers at this test's
    # captured stderr, closed when it ends (Django is set up already).
    with mock.patch("django.setup"), pytest.raises(SystemExit) as stopped:
        OneLineUtility(["manage.py", *argv]).execute()
    err = capsys.readouterr().err
    return stopped.value.code, err.splitlines()


REFUSED = [
    (["check", "--tag", "ops26_no_tag"], "no system check with tag 'ops26_no_tag'"),
    (
        ["check", "--tag", "ops26_a", "--tag", "urls", "--tag", "ops26_b"],
        "no system checks with tags 'ops26_a', 'ops26_b'",
    ),
    (["check", "ops26_no_app"], "no installed app with label 'ops26_no_app'"),
    (["dumpdata", "ops26_no_app"], "no installed app with label 'ops26_no_app'"),
    (
        ["dumpdata", "ops26_no_app.Thing", "integrations"],
        "no installed app with label 'ops26_no_app'",
    ),
    (
        ["dumpdata", "integrations.Ops26Nothing"],
        "no model with label 'integrations.Ops26Nothing'",
    ),
    (
        ["dumpdata", "--exclude", "ops26_no_app", "integrations"],
        "no installed app with label 'ops26_no_app'",
    ),
    (
        ["dumpdata", "-e", "integrations.Ops26Nothing"],
        "no model with label 'integrations.Ops26Nothing'",
    ),
    (
        ["loaddata", "--app", "ops26_no_app", "ops26_fixture"],
        "no installed app with label 'ops26_no_app'",
    ),
    (
        ["sqlsequencereset", "ops26_a", "ops26_b"],
        "no installed app with labels 'ops26_a', 'ops26_b'",
    ),
    (
        ["optimizemigration", "ops26_no_app", "0001"],
        "no installed app with label 'ops26_no_app'",
    ),
]


@pytest.mark.parametrize(
    ("argv", "said"), REFUSED, ids=[" ".join(a) for a, _ in REFUSED]
)
# Transactional: run_from_argv closes the connections when it ends.
@pytest.mark.django_db(transaction=True)
def test_an_unknown_label_or_tag_is_one_argument_error_line(argv, said, capsys):
    status, lines = _run(argv, capsys)

    assert status == 2, lines
    assert lines == [f"{argv[0]}: {said} (see --help)"]


@pytest.mark.parametrize(
    "argv",
    [
        ["check", "--tag", "urls", "integrations"],
        ["check", "--deploy", "--tag", "security"],
        ["dumpdata", "integrations.ProviderAccount", "--exclude", "auth"],
        ["sqlsequencereset", "integrations"],
    ],
    ids=" ".join,
)
@pytest.mark.django_db(transaction=True)
def test_known_labels_and_tags_still_work(argv, capsys):
    with mock.patch("django.setup"):
        OneLineUtility(["manage.py", *argv]).execute()
    assert "(see --help)" not in capsys.readouterr().err


@pytest.mark.django_db
def test_call_command_raises_a_command_error():
    with pytest.raises(CommandError, match="no system check with tag 'ops26_x'"):
        call_command("check", tags=["ops26_x"])


def test_manage_py_says_it_in_one_line(sqlite_env):
    result = manage("check", "--tag", "ops26_no_tag", env=sqlite_env)

    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 2, result.stderr[-800:]
    assert lines == ["check: no system check with tag 'ops26_no_tag' (see --help)"]
