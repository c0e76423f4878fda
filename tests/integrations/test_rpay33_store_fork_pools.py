"""r-pay33: a forked child does not use its parent's clients. Each holds a
keep-alive pool of sockets the fork shares with the parent: the child's
request on one and the parent's on the same (or its TLS session, whose
sequence numbers the two would each advance) cross each other's answers.
The child builds its own; the parent's stay open and its own."""

from integrations.client import client_for, core, store
from integrations.models import ProviderAccount
from tests.integrations.test_pay33_store_fork import forked_status


def test_a_forked_child_builds_its_own_client():
    account = ProviderAccount(pk=2_147_480_133, slug="fork-rpay33", settings={})
    parents = client_for(account)

    def child() -> None:
        assert account.pk not in core._clients
        assert all(not s.entries for s in store._stores)
        mine = client_for(account)
        assert mine is not parents

    assert forked_status(child) == 0
    # The parent keeps its own client.
    assert client_for(account) is parents
