"""r-suite45: serve starts runserver with --skip-checks, so serve's own
system checks are the ones a developer sees: run before any child starts,
an error stops serve, a warning is shown and serve goes on, and the lines
runserver printed ("Performing system checks...", the count) are still
printed. Each case stops at serve's port refusal, which comes before any
child is spawned, so nothing is started."""

import io
from collections.abc import Iterator

import pytest
from django.core import checks
from django.core.management import call_command
from django.core.management.base import CommandError, SystemCheckError

PORT_REFUSED = "--addr must be host:port"


def _serve() -> tuple[CommandError, str, str]:
    """serve as `manage.py serve` runs it (checks on), port 0: refused."""
    out, err = io.StringIO(), io.StringIO()
    with pytest.raises(CommandError) as raised:
        call_command(
            "serve",
            "--addr",
            "127.0.0.1:0",
            skip_checks=False,
            stdout=out,
            stderr=err,
        )
    return raised.value, out.getvalue(), err.getvalue()


@pytest.fixture
def registered() -> Iterator[list[checks.CheckMessage]]:
    """A system check that reports what the test puts in the list."""
    found: list[checks.CheckMessage] = []

    def reported(app_configs=None, **kwargs):
        return list(found)

    checks.register(reported)
    yield found
    checks.registry.registry.registered_checks.discard(reported)


def test_serve_prints_the_check_lines_its_runserver_no_longer_does():
    error, out, _ = _serve()
    assert not isinstance(error, SystemCheckError)
    assert PORT_REFUSED in str(error)
    assert "Performing system checks..." in out
    assert "System check identified no issues (0 silenced)." in out


def test_a_check_error_stops_serve_before_anything_starts(registered):
    registered.append(checks.Error("broken on purpose", id="r_suite45.E001"))
    error, _, _ = _serve()
    assert isinstance(error, SystemCheckError)
    assert "r_suite45.E001" in str(error)
    assert PORT_REFUSED not in str(error)


def test_a_check_warning_is_shown_and_serve_goes_on(registered):
    registered.append(checks.Warning("odd on purpose", id="r_suite45.W001"))
    error, out, err = _serve()
    assert not isinstance(error, SystemCheckError)
    assert PORT_REFUSED in str(error)
    assert "r_suite45.W001" in err
    assert "System check identified 1 issue (0 silenced)." in out + err
