"""The intake's in-process account cache (integrations/webhooks/accounts.py).

These tests commit (transactional_db): the cache only holds committed rows,
so inside the usual test transaction it is bypassed on purpose.
"""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from integrations.models import ProviderAccount, WebhookEvent
from integrations.task_batcher import shared_broker
from integrations.webhooks import accounts
from tests.factories import ProviderAccountFactory
from tests.integrations.webhooks.conftest import make_body, sw_headers

pytestmark = pytest.mark.django_db(transaction=True)

NEW_SECRET = "whsec_bmV3LXNlY3JldC0y"


@pytest.fixture(autouse=True)
def _empty_cache(settings):
    settings.WEBHOOK_ACCOUNT_CACHE_SECONDS = 60
    accounts.clear()
    yield
    accounts.clear()


@pytest.fixture
def account():
    return ProviderAccountFactory(slug="cached-pay")


def _account_queries(ctx: CaptureQueriesContext) -> int:
    # The intake's lookup, not the processing task's join (Q_SYNC runs it).
    source = f'FROM "{ProviderAccount._meta.db_table}"'
    return sum(1 for q in ctx.captured_queries if source in q["sql"])


def _post(post_webhook, *, secret=None, webhook_id=None):
    body = make_body(id="pay_1")
    kwargs = {"webhook_id": webhook_id} if webhook_id else {}
    if secret:
        kwargs["secret"] = secret
    return post_webhook("cached-pay", body, sw_headers(body, **kwargs))


def _change_elsewhere(account: ProviderAccount, **fields) -> None:
    """Change the row the way another process would: no signal reaches us."""
    ProviderAccount.objects.filter(pk=account.pk).update(**fields)


def test_second_webhook_does_not_read_the_account_again(account, post_webhook):
    assert _post(post_webhook).status_code == 200
    with CaptureQueriesContext(connection) as ctx:
        assert _post(post_webhook).status_code == 200
    assert _account_queries(ctx) == 0
    assert WebhookEvent.objects.count() == 2


def test_secret_changed_in_the_admin_takes_effect_at_once(account, post_webhook):
    assert _post(post_webhook).status_code == 200  # cached with the old secret
    account.set_credentials({"api_key": "sbx_k", "webhook_secret": NEW_SECRET})
    account.save()  # what the admin does: the signal empties the cache
    assert _post(post_webhook).status_code == 401
    assert _post(post_webhook, secret=NEW_SECRET).status_code == 200


def test_secret_changed_by_another_process_is_picked_up_on_mismatch(
    account, post_webhook
):
    assert _post(post_webhook).status_code == 200
    rotated = ProviderAccount(pk=account.pk)
    rotated.set_credentials({"api_key": "sbx_k", "webhook_secret": NEW_SECRET})
    _change_elsewhere(account, credentials_encrypted=rotated.credentials_encrypted)
    # The cached secret fails, the row is read again, the new secret verifies.
    assert _post(post_webhook, secret=NEW_SECRET).status_code == 200
    # From then on the cache holds the new row.
    assert _post(post_webhook).status_code == 401
    assert WebhookEvent.objects.count() == 2


def test_forged_request_reads_the_row_once_and_is_still_refused(account, post_webhook):
    assert _post(post_webhook).status_code == 200
    with CaptureQueriesContext(connection) as ctx:
        response = _post(post_webhook, secret=NEW_SECRET)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_signature"
    assert _account_queries(ctx) == 1
    assert WebhookEvent.objects.count() == 1


def test_account_disabled_elsewhere_is_refused_once_the_ttl_passes(
    account, post_webhook, settings, monkeypatch
):
    assert _post(post_webhook).status_code == 200
    _change_elsewhere(account, enabled=False)
    clock = accounts.time.monotonic() + settings.WEBHOOK_ACCOUNT_CACHE_SECONDS + 1
    monkeypatch.setattr(accounts.time, "monotonic", lambda: clock)
    assert _post(post_webhook).status_code == 404


def test_account_disabled_elsewhere_refuses_a_mismatching_request(
    account, post_webhook
):
    assert _post(post_webhook).status_code == 200
    _change_elsewhere(account, enabled=False)
    response = _post(post_webhook, secret=NEW_SECRET)
    assert response.status_code == 404
    assert accounts.get("cached-pay") == (None, False)


def test_unknown_slugs_are_not_cached(post_webhook):
    assert _post(post_webhook).status_code == 404
    assert accounts._cache == {}
    ProviderAccountFactory(slug="cached-pay")
    assert _post(post_webhook).status_code == 200


def test_not_used_inside_a_transaction(account):
    from django.db import transaction

    accounts.get("cached-pay")
    with transaction.atomic():
        ProviderAccount.objects.filter(pk=account.pk).update(enabled=False)
        assert accounts.get("cached-pay") == (None, False)


def test_credentials_are_decrypted_once_and_copied(account, monkeypatch):
    cached, _ = accounts.get("cached-pay")
    calls = []
    original = ProviderAccount.get_credentials

    def counting(self):
        calls.append(1)
        return original(self)

    monkeypatch.setattr(ProviderAccount, "get_credentials", counting)
    accounts.clear()
    cached, _ = accounts.get("cached-pay")
    first = cached.get_credentials()
    first["webhook_secret"] = "changed by a caller"
    assert cached.get_credentials()["webhook_secret"] == "whsec_dGVzdHNlY3JldA=="
    assert len(calls) == 1


def test_one_broker_per_process():
    assert shared_broker() is shared_broker()
