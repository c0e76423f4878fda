"""Suite-wide fixtures, and the rule for tests that need a service: skipped
locally when the service is missing (counted in the summary), failed in CI."""

import asyncio
import compileall
import os
import resource
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[1]
# What a child Python (manage.py, a worker) started by a test imports.
PACKAGES = ("config", "integrations", "payments", "shipping", "inventory")
PACKAGES += ("notifications", "storefront_hooks", "tests")


def pytest_configure(config: pytest.Config) -> None:
    """Compile the project once, before any worker starts: the children tests
    start never write bytecode (``clean_env``, or PYTHONDONTWRITEBYTECODE in
    the environment), so each compiled every project module again, a quarter
    of its start. Up to date, this reads a few hundred file headers. With
    workers to come, the test modules too (tests/rewrite_ahead.py)."""
    if hasattr(config, "workerinput"):
        return  # an xdist worker: the controller has compiled
    for package in PACKAGES:
        compileall.compile_dir(ROOT / package, quiet=2)
    if getattr(config.option, "numprocesses", None):
        # Workers to come: each would rewrite every test module's asserts.
        from tests import rewrite_ahead

        if reason := rewrite_ahead.unsupported():
            warning = pytest.PytestConfigWarning(f"no rewrite ahead: {reason}")
            config.issue_config_time_warning(warning, stacklevel=2)
            return
        modules = rewrite_ahead.modules_to_rewrite(
            config, lambda path: not pytest_ignore_collect(path, config)
        )
        rewrite_ahead.rewrite_ahead(config, modules)


def _missing_service(marker: str) -> str | None:
    if marker == "postgres":
        engine = settings.DATABASES["default"]["ENGINE"]
        if "postgresql" not in engine:
            return "PostgreSQL not configured (set DATABASE_URL)"
    elif marker == "redis":
        if not settings.REDIS_URL:
            return "Redis not configured (set REDIS_URL)"
    elif marker == "browser" and not shutil.which(CHROMIUM):
        return f"Chromium not found at {CHROMIUM}"
    return None


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """The migration pass (``-m migrations``) runs a dozen tests of ~5,000:
    skip importing test modules that cannot hold one. A test carrying the
    marker names it, so a module without the word "migrations" has none."""
    if config.getoption("markexpr", "") != "migrations":
        return None
    name = collection_path.name
    if not (name.startswith("test_") and name.endswith(".py")):
        return None
    return b"migrations" not in collection_path.read_bytes()


def pytest_collection_modifyitems(config: pytest.Config, items: list) -> None:
    for item in items:
        for marker in ("postgres", "redis", "browser"):
            if item.get_closest_marker(marker) is None:
                continue
            reason = _missing_service(marker)
            if reason is None:
                continue
            if CI:
                # Never skip in CI: the autouse fixture below fails the test.
                item.user_properties.append(("missing_service", reason))
            else:
                item.add_marker(pytest.mark.skip(reason=f"needs service: {reason}"))


@pytest.fixture(autouse=True)
def _no_event_loop_left_running(request: pytest.FixtureRequest) -> None:
    """A loop seen running in this thread (Playwright's sync API, left open
    by a wider-scoped fixture) turns Django's connections context-local: a
    call run in a new contextvars.Context then opens a second connection
    outside the test's transaction (tests/e2e/conftest.py ``browser``)."""
    if request.node.get_closest_marker("browser") is None and _running_loop():
        pytest.fail("an asyncio event loop was left running in this thread")


def _running_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


@pytest.fixture(autouse=True)
def _fail_in_ci_without_service(request: pytest.FixtureRequest) -> None:
    for name, reason in request.node.user_properties:
        if name == "missing_service":
            pytest.fail(f"CI=true but a required service is missing: {reason}")


@pytest.fixture(scope="session", autouse=True)
def _flush_by_delete() -> Iterator[None]:
    """Transactional tests end in a flush: by DELETE on PostgreSQL, of the
    tables read once per schema version, and its post_migrate skips
    re-reading unchanged setup rows (tests/pg.py)."""
    from django.core.management.commands import flush
    from django.db.backends.postgresql.operations import DatabaseOperations

    from tests.pg import (
        flush_by_delete,
        post_migrate_unless_kept,
        tables_unless_changed,
    )

    with pytest.MonkeyPatch.context() as patch:
        original = DatabaseOperations.sql_flush
        patch.setattr(DatabaseOperations, "sql_flush", flush_by_delete(original))
        patch.setattr(flush, "sql_flush", tables_unless_changed(flush.sql_flush))
        emit = post_migrate_unless_kept(flush.emit_post_migrate_signal)
        patch.setattr(flush, "emit_post_migrate_signal", emit)
        yield


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup: None, django_db_blocker: Any) -> None:
    """pytest-django's, then on PostgreSQL the content types and permissions
    it wrote are kept by every flush (tests/pg.py: ``SETUP_ROWS``)."""
    from django.db import connection

    from tests.pg import record_setup_rows

    if connection.vendor == "postgresql":
        with django_db_blocker.unblock():
            record_setup_rows()


@pytest.fixture(scope="session", autouse=True)
def _own_redis_database() -> Iterator[None]:
    """This run's Redis database is no other run's (tests/redis_owner.py)."""
    if not settings.REDIS_URL:
        yield
        return
    from tests.redis_owner import owned_database

    with owned_database(settings.REDIS_URL):
        yield


_DB_FIXTURES = {"db", "transactional_db", "live_server", "django_db_reset_sequences"}


class _RedisWrites:
    """Whether this run's Redis database may hold anything since the last
    flush: a command sent from this process (any thread, any client), or a
    child process started (a reaped one changes the children's CPU times; a
    live or unreaped one is listed by /proc). Without either the flush, one
    round trip in every test's set-up, would find the database empty."""

    def __init__(self) -> None:
        self.dirty = True  # the session's first test flushes
        self.children = self._children_times()
        self.local = threading.local()  # this thread's own FLUSHDB is no write

    @staticmethod
    def _children_times() -> tuple[float, float]:
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        return usage.ru_utime, usage.ru_stime

    @staticmethod
    def _children_alive() -> bool:
        try:
            tasks = os.listdir("/proc/self/task")
        except OSError:
            return True  # no /proc: assume the worst
        for task in tasks:
            try:
                with open(f"/proc/self/task/{task}/children") as listing:
                    if listing.read().strip():
                        return True
            except FileNotFoundError:
                continue  # the thread ended meanwhile
            except OSError:
                return True
        return False

    def maybe_written(self) -> bool:
        return (
            self.dirty
            or self._children_times() != self.children
            or self._children_alive()
        )

    def sent(self) -> None:
        if not getattr(self.local, "clearing", False):
            self.dirty = True

    def clear(self, cache: Any) -> None:
        """Marked clean before the FLUSHDB, so a write from another thread
        or a child reaped while it runs makes the next test flush again."""
        self.dirty = False
        self.children = self._children_times()
        self.local.clearing = True
        try:
            cache.clear()
        except BaseException:
            self.dirty = True
            raise
        finally:
            self.local.clearing = False


_REDIS_WRITES = _RedisWrites()


@pytest.fixture(scope="session", autouse=True)
def _redis_writes_watched() -> Iterator[None]:
    from redis.connection import AbstractConnection

    original = AbstractConnection.send_packed_command

    def send_packed_command(self: Any, *args: Any, **kwargs: Any) -> Any:
        # Before and after: a send that began before a flush and ended after
        # its start may land after it.
        _REDIS_WRITES.sent()
        try:
            return original(self, *args, **kwargs)
        finally:
            _REDIS_WRITES.sent()

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(AbstractConnection, "send_packed_command", send_packed_command)
        yield


@pytest.fixture(autouse=True)
def _fresh_cache(request: pytest.FixtureRequest) -> None:
    """Breaker, limiter, throttle and secret-registry state must not leak
    between tests: a credential one test saved would be masked in the next."""
    from django.core.cache import cache, caches
    from django.core.cache.backends.redis import RedisCache

    # The embedded default caches in a database table: only reachable (and
    # only dirty) in tests that have the database.
    has_db = bool(_DB_FIXTURES & set(request.fixturenames)) or (
        request.node.get_closest_marker("django_db") is not None
    )
    from integrations.breaker.store import forget_recent
    from integrations.oauth import forget_kept_tokens
    from integrations.redis_line import outage
    from integrations.secrets_registry import forget as forget_secrets

    forget_recent()
    forget_secrets()
    forget_kept_tokens()
    outage.forget()
    if isinstance(caches["default"], RedisCache):
        if _REDIS_WRITES.maybe_written():
            _REDIS_WRITES.clear(cache)
    elif settings.REDIS_URL or has_db:
        cache.clear()


@pytest.fixture(autouse=True)
def _close_provider_clients() -> Iterator[None]:
    """``client_for`` (and Amazon SES) keeps a client per account for the
    process; every test makes new accounts, so without this each test's
    keep-alive connection (and, to a stopped fault server, its handler
    thread) lives to the end."""
    yield
    # Amazon SES keeps a boto3 client (its own urllib3 pool) in a store too.
    from integrations.client import store

    store.close_all()


# What WhiteNoise's index of the finders' files is made from.
_STATIC_SETTINGS = ("DEBUG", "FORCE_SCRIPT_NAME", "INSTALLED_APPS", "STATIC_ROOT")
_STATIC_SETTINGS += (
    "STATIC_URL",
    "STATICFILES_DIRS",
    "STATICFILES_FINDERS",
    "STORAGES",
)


def _static_key() -> tuple:
    names = [
        *_STATIC_SETTINGS,
        *(n for n in dir(settings) if n.startswith("WHITENOISE_")),
    ]
    return tuple((name, repr(getattr(settings, name, None))) for name in names)


@pytest.fixture(scope="session", autouse=True)
def _static_files_indexed_once() -> Iterator[None]:
    """WhiteNoise (WHITENOISE_USE_FINDERS) lists, stats and reads the headers
    of every static file each time a middleware chain is built: in each test
    with a client, ~0.2 s. The files do not change during the run, so the
    index is made once per settings that shape it and copied after."""
    from whitenoise.middleware import WhiteNoiseMiddleware

    original = WhiteNoiseMiddleware.add_files_from_finders
    indexed: dict[tuple, dict[str, Any]] = {}

    def add_files_from_finders(self: Any) -> None:
        key = _static_key()
        if key not in indexed:
            before = dict(self.files)
            original(self)
            indexed[key] = {
                url: found
                for url, found in self.files.items()
                if before.get(url) is not found
            }
        self.files.update(indexed[key])

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(
            WhiteNoiseMiddleware, "add_files_from_finders", add_files_from_finders
        )
        yield


def _release_caches(*, setting: str, **kwargs: Any) -> None:
    """Before Django drops the cache backends on a CACHES change: close their
    Redis connections and take them out of this thread's storage. Django only
    swaps in a new ``Local``; the old one's backends stay reachable from the
    thread's context (asgiref keeps them in a ContextVar) to the session end."""
    if setting != "CACHES":
        return
    from django.core.cache import caches

    from integrations.redis_line import close_thread_connections

    close_thread_connections()
    for alias in list(caches.settings):
        if getattr(caches._connections, alias, None) is not None:
            delattr(caches._connections, alias)


@pytest.fixture(scope="session", autouse=True)
def _caches_released_on_change() -> Iterator[None]:
    # Ahead of Django's receiver, which forgets the backends it replaces.
    from django.core.signals import setting_changed
    from django.test.signals import clear_cache_handlers

    setting_changed.disconnect(clear_cache_handlers)
    setting_changed.connect(_release_caches)
    setting_changed.connect(clear_cache_handlers)
    yield
    setting_changed.disconnect(_release_caches)


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """Longest test files first (tests/xdist_order.py)."""
    from tests.xdist_order import scheduler_for

    return scheduler_for(config, log)
