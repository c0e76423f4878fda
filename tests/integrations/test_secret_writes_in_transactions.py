"""The secret registry and writes inside a transaction: what was written is
masked at once (added to the copy), the copy is read again once when the
transaction commits, and a rollback never unmasks a secret that is still
live."""

from io import StringIO

import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction
from django.db.models import QuerySet

from integrations import secrets_registry
from integrations.leases import describe_error
from integrations.models import ProviderAccount
from integrations.secrets_registry import MASK
from storefront_hooks.models import WebhookEndpoint
from tests.factories import ProviderAccountFactory

pytestmark = pytest.mark.django_db

LIVE = "sk_live_registry_still_valid_0001"
NEW = "sk_live_registry_never_committed_02"
THEIRS = "sk_live_registry_theirs_0004"


@pytest.fixture(autouse=True)
def _fresh(settings):
    settings.SECRET_REDACTION_CHECK_SECONDS = 0
    secrets_registry.forget()
    cache.delete(secrets_registry.STAMP_KEY)
    yield
    secrets_registry.forget()


class _Failed(Exception):
    pass


class _UnreachableCache:
    def __getattr__(self, name):
        def fail(*args, **kwargs):
            from redis.exceptions import ConnectionError as RedisConnectionError

            raise RedisConnectionError("Error 111")

        return fail


@pytest.mark.parametrize("how", ["update", "bulk_update", "save"])
def test_a_rolled_back_rotation_keeps_the_live_secret_masked(how):
    account = ProviderAccountFactory(credentials={"secret_key": LIVE})
    secrets_registry.refresh(force_check=True)
    assert secrets_registry.staff_text(f"said {LIVE}") == f"said {MASK}"

    rotated = ProviderAccount.objects.get(pk=account.pk)
    rotated.set_credentials({"secret_key": NEW})
    with pytest.raises(_Failed), transaction.atomic():
        if how == "update":
            ProviderAccount.objects.filter(pk=account.pk).update(
                credentials_encrypted=rotated.credentials_encrypted
            )
        elif how == "bulk_update":
            ProviderAccount.objects.bulk_update([rotated], ["credentials_encrypted"])
        else:
            rotated.save()
        # Masked at once, before any commit: the writer may call with it.
        assert secrets_registry.redact_secrets(f"said {NEW}") == f"said {MASK}"
        raise _Failed  # the rotation's next step failed: nothing committed

    # LIVE is still the account's credential: a provider quoting it back
    # must still be masked in what is stored.
    assert ProviderAccount.objects.get(pk=account.pk).get_credentials() == {
        "secret_key": LIVE
    }
    assert secrets_registry.staff_text(f"said {LIVE}") == f"said {MASK}"


def test_a_secret_committed_elsewhere_while_our_write_was_open_is_masked(
    django_capture_on_commit_callbacks,
):
    # This process writes a secret in a transaction; another one commits
    # its own and bumps the stamp meanwhile; then ours commits and bumps.
    mine = ProviderAccountFactory(credentials={"secret_key": LIVE})
    theirs = ProviderAccountFactory(slug="theirs", credentials={"secret_key": "x" * 9})
    secrets_registry.refresh(force_check=True)
    changed = ProviderAccount.objects.get(pk=mine.pk)
    changed.set_credentials({"secret_key": "sk_live_registry_mine_rotated_03"})
    other = ProviderAccount.objects.get(pk=theirs.pk)
    other.set_credentials({"secret_key": THEIRS})

    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        ProviderAccount.objects.filter(pk=mine.pk).update(
            credentials_encrypted=changed.credentials_encrypted
        )
        QuerySet(ProviderAccount).filter(pk=theirs.pk).update(
            credentials_encrypted=other.credentials_encrypted
        )
        cache.set(secrets_registry.STAMP_KEY, "bumped-by-the-other", None)

    assert secrets_registry.staff_text(f"said {THEIRS}") == f"said {MASK}"


def test_a_committed_rotation_forgets_the_old_secret_once_committed(
    django_capture_on_commit_callbacks,
):
    account = ProviderAccountFactory(credentials={"secret_key": LIVE})
    secrets_registry.refresh(force_check=True)
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        account.set_credentials({"secret_key": NEW})
        account.save()
        # Until the commit both are masked: more, never less.
        assert secrets_registry.redact_secrets(f"{LIVE} {NEW}") == f"{MASK} {MASK}"
    assert secrets_registry.redact_secrets(f"{LIVE} {NEW}") == f"{LIVE} {MASK}"


def test_rotating_reads_the_secrets_once_not_once_per_row(
    monkeypatch, django_capture_on_commit_callbacks
):
    for i in range(30):
        account = ProviderAccountFactory(
            slug=f"rot-{i}", credentials={"secret_key": f"sk_live_rotation_{i:06}"}
        )
        endpoint = WebhookEndpoint(url="http://127.0.0.1:9/h", account=account)
        endpoint.store_secrets(current=f"whsec_rotation_{i:06}")
        endpoint.save()
    reloads = []
    real = secrets_registry.reload
    monkeypatch.setattr(
        secrets_registry, "reload", lambda **kw: (reloads.append(1), real(**kw))[1]
    )

    with django_capture_on_commit_callbacks() as callbacks:
        call_command("rotate_credentials", stdout=StringIO())
    assert reloads == []  # 60 rows written, nothing read or decrypted again
    for callback in callbacks:
        callback()
    # The commit reads every secret once, not once per row written.
    assert len(reloads) == 1
    assert secrets_registry.redact_secrets("whsec_rotation_000029") == MASK


def test_staff_text_in_an_aborted_transaction_with_redis_down(monkeypatch):
    ProviderAccountFactory(credentials={"secret_key": LIVE})
    secrets_registry.refresh(force_check=True)
    monkeypatch.setattr(secrets_registry, "cache", _UnreachableCache())
    with transaction.atomic():
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1/0")
        except DatabaseError as exc:
            text = describe_error(RuntimeError(f"{exc} {LIVE}"))
        transaction.set_rollback(True)
    assert LIVE not in text and "division by zero" in text


def test_the_list_form_setting_still_masks_with_redis_down(settings, monkeypatch):
    settings.SECRET_REDACTION_MODELS = [
        "integrations.ProviderAccount",
        "storefront_hooks.WebhookEndpoint",
    ]
    account = ProviderAccountFactory(credentials={"secret_key": LIVE})
    secrets_registry.refresh(force_check=True)
    monkeypatch.setattr(secrets_registry, "cache", _UnreachableCache())
    other = ProviderAccount.objects.get(pk=account.pk)
    other.set_credentials({"secret_key": NEW})
    QuerySet(ProviderAccount).filter(pk=account.pk).update(
        credentials_encrypted=other.credentials_encrypted
    )
    assert secrets_registry.staff_text(f"said {NEW}") == f"said {MASK}"
