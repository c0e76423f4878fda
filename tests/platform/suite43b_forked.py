"""`manage.py` forked (tests/platform/forkstart) and left to run while a test
watches the database, as lock tests did with a new interpreter (Popen): the
same fresh read of the settings, without an interpreter's start each."""

from concurrent.futures import Future, ThreadPoolExecutor

from tests.platform import forkstart


def in_background(*args: str, env: dict[str, str], timeout: float) -> Future:
    """A Future of ``manage.py *args``' CompletedProcess (text): not done
    while the command runs; ``timeout`` kills a command that never ends."""
    pool = ThreadPoolExecutor(1)
    try:
        return pool.submit(forkstart.manage, *args, env=env, timeout=timeout)
    finally:
        pool.shutdown(wait=False)
