"""tests.platform.forkstart: a start whose environment sets PYTHONHASHSEED
hashes as a new interpreter given the same seed does (the waiting Python is
started with it), the exact case its docstring promises."""

import subprocess
import sys

from tests.platform import forkstart
from tests.platform.conftest import ROOT, clean_env

CODE = "print(hash('switchyard'), sorted({'a', 'b'}) == ['a', 'b'])"


def test_a_set_hash_seed_reaches_the_forked_start():
    seen = set()
    for seed in ("0", "4711"):
        env = clean_env(PYTHONHASHSEED=seed)
        forked = forkstart.start(["-c", CODE], env)
        new = subprocess.run(
            [sys.executable, "-c", CODE],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert (forked.returncode, forked.stdout) == (0, new.stdout), forked.stderr
        seen.add(forked.stdout)
    assert len(seen) == 2  # each seed its own hashes
