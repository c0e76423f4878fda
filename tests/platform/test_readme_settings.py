"""README, "Configuration": every variable its tables name is one the code
reads, and a plain default it states is the one a clean start gets."""

import json
import re

from tests.platform.conftest import ROOT, clean_env, dev_secrets
from tests.platform.forkstart import start

# env.int("NAME", ...), and config/domains.py's _keyed_ints("NAME", ...).
_ENV_READ = re.compile(r'\b(?:env(?:\.\w+)?|_keyed_ints)\(\s*"([A-Z][A-Z0-9_]*)"')
_ROW = re.compile(
    r"^\| (`[A-Z][A-Z0-9_]*`(?: / `[A-Z][A-Z0-9_]*`)*) \| ([^|]+) \|", re.M
)
# Read outside config/ (prometheus_client, requests) or by the bootstrap.
_READ_ELSEWHERE = {"PROMETHEUS_MULTIPROC_DIR", "ENV_FILE"}


def _rows() -> list[tuple[str, str]]:
    readme = (ROOT / "README.md").read_text()
    pairs = []
    for names, defaults in _ROW.findall(readme):
        names = re.findall(r"`([A-Z0-9_]+)`", names)
        values = [value.strip() for value in defaults.split(" / ")]
        if len(values) != len(names):
            values = [defaults.strip()] * len(names)
        pairs += zip(names, values, strict=True)
    return pairs


def test_every_variable_in_the_readme_tables_is_read():
    source = "".join(
        (ROOT / "config" / name).read_text()
        for name in ("env.py", "settings.py", "outbox.py", "domains.py")
    )
    read = set(_ENV_READ.findall(source)) | _READ_ELSEWHERE
    named = {name for name, _ in _rows()}
    assert len(named) > 80
    assert sorted(named - read) == []


def test_plain_defaults_in_the_readme_are_what_a_clean_start_gets(tmp_path):
    plain = {
        name: value.strip("`")
        for name, value in _rows()
        if re.fullmatch(r"`-?[0-9.]+`|`(true|false)`", value)
    }
    assert len(plain) > 60
    code = (
        "import django, json; django.setup(); from django.conf import settings as s;"
        f"print(json.dumps({{n: getattr(s, n, None) for n in {sorted(plain)!r}}}))"
    )
    env = clean_env(
        **dev_secrets(),
        DATABASE_URL=f"sqlite:///{tmp_path / 'db'}",
        EMAIL_PUBLIC_BASE_URL="https://switchyard.example.com",
    )
    result = start(["-c", code], env)  # forked: settings read afresh
    assert result.returncode == 0, result.stderr[-800:]
    actual = json.loads(result.stdout.strip().splitlines()[-1])
    wrong = {}
    for name, documented in plain.items():
        value = actual[name]
        if value is None:
            continue  # read into a structure (DATABASES, Q_CLUSTER): not a setting
        expected = {"true": True, "false": False}.get(documented, documented)
        if isinstance(value, bool) or isinstance(expected, bool):
            same = value is expected
        else:
            same = float(value) == float(expected)
        if not same:
            wrong[name] = (documented, value)
    assert wrong == {}
