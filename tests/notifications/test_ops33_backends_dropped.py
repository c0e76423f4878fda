"""ops33: the anymail backends an email adapter keeps per thread (its
account's options and client session, ``esp.AnymailAdapter.build_backend``)
were held in a thread-local dict for the thread's life: once the account was
disabled or deleted its closed session and backend stayed, one per account
per worker thread. They are now dropped with the account's client: on
disable or delete once that commits, and by the idle sweep when the account
changed in another process."""

import gc
import threading
import weakref

import pytest

from integrations.client import client_for, store
from integrations.models import ProviderAccount
from integrations.registry import get_adapter
from tests.factories import ProviderAccountFactory

pytestmark = pytest.mark.django_db


def _postmark(slug: str) -> ProviderAccount:
    return ProviderAccountFactory(
        kind="email",
        provider="postmark",
        slug=slug,
        credentials={"server_token": "pm-token-ops33"},
        settings={"message_stream": "outbound", "broadcast_stream": "broadcast"},
    )


def _held(account: ProviderAccount) -> weakref.ref:
    adapter = get_adapter(account)
    backend = adapter.build_backend()
    # Kept while the account is unchanged: built once per thread.
    assert adapter.build_backend() is backend
    return weakref.ref(backend)


def _gone(ref: weakref.ref) -> bool:
    gc.collect()
    return ref() is None


@pytest.mark.parametrize("how", ["disabled", "deleted"])
def test_a_backend_goes_with_its_account(how, django_capture_on_commit_callbacks):
    account = _postmark("pm-gone")
    ref = _held(account)

    with django_capture_on_commit_callbacks(execute=True):
        if how == "disabled":
            account.enabled = False
            account.save()
        else:
            account.delete()

    assert _gone(ref)


def test_a_backend_of_an_account_disabled_elsewhere_goes_when_idle(monkeypatch):
    account, other = _postmark("pm-idle"), _postmark("pm-other")
    ref = _held(account)
    # Another process disabled it: no signal here, no call either.
    ProviderAccount.objects.filter(pk=account.pk).update(enabled=False)
    later = store.clock() + store.IDLE_SECONDS + store.SWEEP_SECONDS + 1
    monkeypatch.setattr(store, "clock", lambda: later)

    client_for(other)  # any account's next call sweeps every store

    assert _gone(ref)


def test_a_backend_used_within_the_idle_time_stays(monkeypatch):
    account, other = _postmark("pm-busy"), _postmark("pm-other")
    ref = _held(account)
    start = store.clock()
    monkeypatch.setattr(store, "clock", lambda: start + store.IDLE_SECONDS / 2)
    assert get_adapter(account).build_backend() is ref()  # a send, meanwhile
    later = start + store.IDLE_SECONDS + store.SWEEP_SECONDS + 1
    monkeypatch.setattr(store, "clock", lambda: later)

    client_for(other)

    assert not _gone(ref)
    assert get_adapter(account).build_backend() is ref()


def test_each_thread_keeps_its_own_backend():
    account = _postmark("pm-threads")
    mine = get_adapter(account).build_backend()
    theirs = []
    worker = threading.Thread(
        target=lambda: theirs.append(get_adapter(account).build_backend())
    )
    worker.start()
    worker.join()
    assert theirs[0] is not mine
    # The other thread's did not push this one's out.
    assert get_adapter(account).build_backend() is mine
