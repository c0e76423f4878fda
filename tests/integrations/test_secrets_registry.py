"""The secret registry behind log redaction (issue 17, part 3): the log filter
never touches the database or the cache; saves reload this process's copy at
once, and other processes pick a change up at their next request or task
start through the shared version stamp."""

import logging

import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.db import OperationalError, connection
from django.db.models import QuerySet
from django.test import Client
from django.test.utils import CaptureQueriesContext
from redis.exceptions import ConnectionError as RedisConnectionError

from integrations import secrets_registry
from integrations.logging import SecretRedactionFilter
from integrations.management.base import ProviderCommand
from integrations.models import ProviderAccount
from integrations.secrets_registry import MASK, known_secrets, redact_secrets
from storefront_hooks import services as hooks
from tests.factories import ProviderAccountFactory

pytestmark = pytest.mark.django_db

OLD = "sk_test_registry_old_0001"
NEW = "sk_test_registry_new_0002"


@pytest.fixture(autouse=True)
def _fresh(settings):
    settings.SECRET_REDACTION_CHECK_SECONDS = 0
    secrets_registry.forget()
    cache.delete(secrets_registry.STAMP_KEY)
    yield
    secrets_registry.forget()


def _written_elsewhere(account, **fields) -> None:
    """A write by another process (or a migration, or SQL): nothing of it
    reaches this process but the row."""
    QuerySet(ProviderAccount).filter(pk=account.pk).update(**fields)


def _filtered(message: str) -> str:
    record = logging.makeLogRecord({"msg": message, "levelno": logging.ERROR})
    SecretRedactionFilter().filter(record)
    return record.getMessage()


def test_a_saved_account_is_redacted_in_this_process_at_once():
    ProviderAccountFactory(credentials={"secret_key": OLD})

    assert _filtered(f"boom {OLD}") == f"boom {MASK}"


def test_the_filter_never_queries_even_when_a_check_is_due():
    account = ProviderAccountFactory(credentials={"secret_key": OLD})
    _written_elsewhere(account, credentials_encrypted="")

    with CaptureQueriesContext(connection) as queries:
        logging.getLogger("tests.registry").error("quoting %s", OLD)
        assert _filtered(f"again {OLD}") == f"again {MASK}"

    assert len(queries) == 0


def test_a_change_in_another_process_is_redacted_after_the_next_request(settings):
    account = ProviderAccountFactory(credentials={"secret_key": OLD})
    secrets_registry.refresh(force_check=True)
    # Another process changes the secret: no signal here, only its stamp.
    other = ProviderAccount.objects.get(pk=account.pk)
    other.set_credentials({"secret_key": NEW})
    _written_elsewhere(account, credentials_encrypted=other.credentials_encrypted)
    assert _filtered(NEW) == NEW  # not known yet: the filter reads nothing
    cache.set(secrets_registry.STAMP_KEY, "bumped-elsewhere", None)

    Client().get("/api/v1/nothing/")  # a request start in this process

    assert _filtered(f"{NEW} {OLD}") == f"{MASK} {OLD}"


def test_an_unchanged_stamp_reads_no_accounts():
    ProviderAccountFactory(credentials={"secret_key": OLD})
    secrets_registry.refresh(force_check=True)
    # The stamp is in the cache (with the database cache, one query on it).
    with CaptureQueriesContext(connection) as queries:
        secrets_registry.refresh(force_check=True)
    assert not [q for q in queries if "integrations_provideraccount" in q["sql"]]


def test_the_check_interval_throttles_request_starts(settings):
    settings.SECRET_REDACTION_CHECK_SECONDS = 3600
    account = ProviderAccountFactory(credentials={"secret_key": OLD})
    secrets_registry.refresh(force_check=True)
    other = ProviderAccount.objects.get(pk=account.pk)
    other.set_credentials({"secret_key": NEW})
    _written_elsewhere(account, credentials_encrypted=other.credentials_encrypted)
    cache.set(secrets_registry.STAMP_KEY, "bumped-elsewhere", None)

    Client().get("/api/v1/nothing/")  # a request start in this process
    assert NEW not in known_secrets()  # the next look is an hour away

    secrets_registry.refresh(force_check=True)  # a service storing provider text
    assert NEW in known_secrets()
    assert OLD not in known_secrets()


def test_a_deleted_account_is_forgotten_and_a_task_start_refreshes(
    django_capture_on_commit_callbacks,
):
    account = ProviderAccountFactory(credentials={"secret_key": OLD})
    # Forgotten once the delete commits: until then a rollback keeps it live.
    with django_capture_on_commit_callbacks(execute=True):
        account.delete()
        assert OLD in known_secrets()
    assert OLD not in known_secrets()
    ProviderAccountFactory(credentials={"secret_key": NEW})
    secrets_registry.forget()
    from django_q.signals import pre_execute

    pre_execute.send(sender="django_q", func=None, task={})

    assert NEW in known_secrets()


def test_storefront_webhook_signing_secrets_are_redacted():
    endpoint, secret = hooks.endpoint_create(
        url="https://shop.example/hooks", event_types=["payment.*"]
    )
    rotated = hooks.endpoint_secret_rotate(endpoint=endpoint)

    assert redact_secrets(f"{secret} {rotated}") == f"{MASK} {MASK}"
    secrets_registry.forget()
    secrets_registry.refresh(force_check=True)
    assert redact_secrets(f"{secret} {rotated}") == f"{MASK} {MASK}"


def test_a_remembered_token_is_masked_and_the_memory_is_bounded():
    token = "A21AAFakeAccessToken0123456789"
    secrets_registry.remember(token)
    assert redact_secrets(f"Bearer {token}") == f"Bearer {MASK}"

    for n in range(secrets_registry.REMEMBER_MAX):
        secrets_registry.remember(f"token-{n:08d}")
    assert token not in known_secrets()
    assert len(known_secrets()) == secrets_registry.REMEMBER_MAX


def test_an_account_reload_keeps_remembered_tokens():
    secrets_registry.remember("A21AAFakeAccessToken0123456789")
    ProviderAccountFactory(credentials={"secret_key": OLD})

    assert {OLD, "A21AAFakeAccessToken0123456789"} <= set(known_secrets())


def test_a_failed_tasks_stored_text_is_masked():
    from django_q.signals import post_execute_in_worker

    ProviderAccountFactory(credentials={"secret_key": OLD})
    task = {"result": f"ProviderError: refused {OLD} : Traceback ...", "success": False}

    post_execute_in_worker.send(sender="django_q", func=None, task=task)

    assert task["result"] == f"ProviderError: refused {MASK} : Traceback ..."


def test_a_failed_rows_stored_error_is_masked():
    # What webhook events, outbox deliveries and batch rows keep of a failure.
    from integrations.leases import describe_error

    ProviderAccountFactory(credentials={"secret_key": OLD})

    assert describe_error(RuntimeError(f"refused {OLD}")) == (
        f"RuntimeError: refused {MASK}"
    )


def test_probes_do_not_refresh(django_assert_num_queries):
    cache.set(secrets_registry.STAMP_KEY, "bumped-elsewhere", None)
    ProviderAccountFactory(credentials={"secret_key": OLD})
    secrets_registry.forget()

    with django_assert_num_queries(0):
        Client().get("/healthz")

    assert known_secrets() == ()


def test_a_provider_command_loads_the_registry_before_it_runs():
    ProviderAccountFactory(credentials={"secret_key": OLD})
    secrets_registry.forget()  # a fresh command process: nothing loaded yet
    assert _filtered(OLD) == OLD
    seen: dict[str, str] = {}

    class Quoting(ProviderCommand):
        def handle(self, *args: object, **options: object) -> None:
            seen["line"] = _filtered(f"provider said {OLD}")

    call_command(Quoting())

    assert seen["line"] == f"provider said {MASK}"


class _UnreachableCache:
    """The shared cache while Redis is down: every call fails."""

    def __getattr__(self, name: str):
        def fail(*args, **kwargs):
            raise RedisConnectionError("Error 111 connecting to 127.0.0.1:6379.")

        return fail


def test_a_secret_saved_elsewhere_is_masked_while_the_cache_is_unreachable(
    monkeypatch, caplog
):
    account = ProviderAccountFactory(credentials={"secret_key": OLD})
    secrets_registry.refresh(force_check=True)
    # Another process saves a new secret; its stamp bump cannot reach Redis.
    other = ProviderAccount.objects.get(pk=account.pk)
    other.set_credentials({"secret_key": NEW})
    _written_elsewhere(account, credentials_encrypted=other.credentials_encrypted)
    monkeypatch.setattr(secrets_registry, "cache", _UnreachableCache())

    with caplog.at_level(logging.WARNING):
        stored = secrets_registry.staff_text(f"provider said {NEW}")
        Client().get("/api/v1/nothing/")  # a request start

    assert stored == f"provider said {MASK}"
    assert _filtered(f"{NEW} {OLD}") == f"{MASK} {OLD}"
    assert not [r for r in caplog.records if r.exc_info]


def test_a_failed_refresh_is_one_line_and_keeps_the_copy(monkeypatch, caplog):
    ProviderAccountFactory(credentials={"secret_key": OLD})
    secrets_registry.refresh(force_check=True)
    monkeypatch.setattr(secrets_registry, "cache", _UnreachableCache())

    def no_database(**kwargs):
        raise OperationalError("connection refused")

    monkeypatch.setattr(secrets_registry, "reload", no_database)
    # While the cache is down the database's digest is read first.
    monkeypatch.setattr(secrets_registry, "_database_digest", no_database)
    with caplog.at_level(logging.WARNING):
        secrets_registry.refresh(force_check=True)

    [record] = [r for r in caplog.records if r.name == secrets_registry.__name__]
    assert record.getMessage() == "secret registry refresh failed"
    assert record.exc_info is None
    assert record.error == "OperationalError"
    assert _filtered(OLD) == MASK


def _save_new_secret_elsewhere(account) -> None:
    # Another process saves NEW; no bump of the stamp reaches this one.
    other = ProviderAccount.objects.get(pk=account.pk)
    other.set_credentials({"secret_key": NEW})
    _written_elsewhere(account, credentials_encrypted=other.credentials_encrypted)


def test_a_secret_saved_elsewhere_in_an_outage_is_learned_when_the_cache_is_back(
    monkeypatch,
):
    account = ProviderAccountFactory(credentials={"secret_key": OLD})
    secrets_registry.refresh(force_check=True)  # stamp s1, OLD

    with monkeypatch.context() as m:
        m.setattr(secrets_registry, "cache", _UnreachableCache())
        secrets_registry.refresh(force_check=True)  # reads the database
        _save_new_secret_elsewhere(account)  # its bump failed: s1 stays
    secrets_registry.refresh(force_check=True)  # the cache is back, still s1

    assert redact_secrets(f"said {NEW}") == f"said {MASK}"


def test_a_stamp_bump_that_failed_in_an_outage_is_made_when_the_cache_is_back(
    monkeypatch, django_capture_on_commit_callbacks
):
    account = ProviderAccountFactory(credentials={"secret_key": OLD})
    secrets_registry.refresh(force_check=True)
    before = cache.get(secrets_registry.STAMP_KEY)

    with monkeypatch.context() as m:
        m.setattr(secrets_registry, "cache", _UnreachableCache())
        with django_capture_on_commit_callbacks(execute=True):
            account.set_credentials({"secret_key": NEW})
            account.save()
    secrets_registry.refresh(force_check=True)  # this process's next request

    # Every process idle through the outage holds ``before``: a moved stamp
    # makes each of them reload and learn NEW.
    assert cache.get(secrets_registry.STAMP_KEY) not in (None, before)
    assert redact_secrets(f"said {NEW}") == f"said {MASK}"


def test_while_the_cache_is_down_staff_text_reads_the_secrets_only_once_changed(
    settings, monkeypatch
):
    """Each failed provider attempt stores staff_text(error): while Redis is
    down that must not read and decrypt every secret row each time, only
    look at the database's digest of them (one query)."""
    settings.SECRET_REDACTION_CHECK_SECONDS = 5.0
    for n in range(5):
        account = ProviderAccountFactory(credentials={"secret_key": f"{OLD}{n}"})
    secrets_registry.refresh(force_check=True)  # the copy is current now
    monkeypatch.setattr(secrets_registry, "cache", _UnreachableCache())
    reloads = []
    monkeypatch.setattr(secrets_registry, "reload", lambda **kw: reloads.append(kw))

    with CaptureQueriesContext(connection) as queries:
        for _ in range(50):
            secrets_registry.staff_text("provider said no")

    # The digest, once a call (and its savepoint: the test runs in a
    # transaction, as a service storing provider text may).
    reads = [q for q in queries if "SAVEPOINT" not in q["sql"]]
    assert len(reads) == 50, reads[:3]
    assert reloads == []
    # Once a secret changed, the next one reads them again.
    _save_new_secret_elsewhere(account)
    secrets_registry.staff_text("provider said no")
    assert len(reloads) == 1


def test_while_the_cache_is_down_a_secret_saved_elsewhere_is_masked_at_once(
    settings, monkeypatch
):
    # The check interval is no window: what a service stores is masked.
    settings.SECRET_REDACTION_CHECK_SECONDS = 5.0
    account = ProviderAccountFactory(credentials={"secret_key": OLD})
    secrets_registry.refresh(force_check=True)
    monkeypatch.setattr(secrets_registry, "cache", _UnreachableCache())
    assert secrets_registry.staff_text(f"said {OLD}") == f"said {MASK}"

    _save_new_secret_elsewhere(account)

    assert secrets_registry.staff_text(f"said {NEW}") == f"said {MASK}"


@pytest.mark.parametrize("how", ["update", "bulk_update", "bulk_create"])
def test_a_secret_set_by_a_queryset_update_is_masked_here_and_told_to_others(
    how, django_capture_on_commit_callbacks
):
    """No post_save for a queryset update (a command, a bulk action) or a
    bulk_create: the secret is masked in this process's next log line and
    the shared stamp moves, so every other process reloads."""
    account = ProviderAccountFactory(credentials={"secret_key": OLD})
    secrets_registry.refresh(force_check=True)
    before = cache.get(secrets_registry.STAMP_KEY)
    changed = ProviderAccount.objects.get(pk=account.pk)
    changed.set_credentials({"secret_key": NEW})

    with django_capture_on_commit_callbacks(execute=True):
        if how == "update":
            ProviderAccount.objects.filter(pk=account.pk).update(
                credentials_encrypted=changed.credentials_encrypted
            )
        elif how == "bulk_update":
            ProviderAccount.objects.bulk_update([changed], ["credentials_encrypted"])
        else:
            changed.pk, changed.slug = None, "another"
            ProviderAccount.objects.bulk_create([changed])

    assert _filtered(f"said {NEW}") == f"said {MASK}"
    assert cache.get(secrets_registry.STAMP_KEY) not in (None, before)


def test_a_queryset_update_of_other_fields_reads_no_secrets(
    django_capture_on_commit_callbacks,
):
    # Enabling, disabling, reordering accounts is frequent; no secret moved.
    account = ProviderAccountFactory(credentials={"secret_key": OLD})
    secrets_registry.refresh(force_check=True)
    before = cache.get(secrets_registry.STAMP_KEY)

    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        CaptureQueriesContext(connection) as queries,
    ):
        ProviderAccount.objects.filter(pk=account.pk).update(enabled=False)

    assert len(queries) == 1
    assert callbacks == []
    assert cache.get(secrets_registry.STAMP_KEY) == before


def test_a_signing_secret_set_by_a_queryset_update_is_masked_at_once(
    django_capture_on_commit_callbacks, settings
):
    # Storefront endpoints' signing secrets are masked like credentials; a
    # queryset update of them (key rotation writes that way) sends no signal.
    from storefront_hooks import services as hooks
    from storefront_hooks.models import WebhookEndpoint

    settings.STOREFRONT_WEBHOOK_ALLOW_PRIVATE_ADDRESSES = True
    endpoint, _ = hooks.endpoint_create(
        url="http://127.0.0.1:9/hook", event_types=["payment.*"]
    )
    secrets_registry.refresh(force_check=True)
    fresh = "whsec_registry_fresh_0003"
    endpoint.store_secrets(current=fresh)

    with django_capture_on_commit_callbacks(execute=True):
        WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
            secrets_encrypted=endpoint.secrets_encrypted
        )

    assert _filtered(f"said {fresh}") == f"said {MASK}"
