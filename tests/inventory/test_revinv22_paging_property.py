"""The TradeGecko listing cursor against random listings and random writes
at TradeGecko between any two requests (creations with the newest id, soft
deletions, restores with an old id), page sizes of 1 to 12, failed pages
stepped past and runs resumed from their saved cursor: every variant live
during the whole run is read at least once, or a page says ``shifted`` (the
run is partial) or failed. The cursor always moves on, and the run ends."""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.inventory.paged_erp import RandomGecko, read_listing

pytestmark = pytest.mark.django_db

WRITES = st.lists(
    st.tuples(st.sampled_from(["create", "delete", "restore"]), st.integers(0, 999)),
    max_size=4,
)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    size=st.integers(1, 12),
    count=st.integers(0, 60),
    archived=st.sets(st.integers(1, 200), max_size=8),
    script=st.lists(WRITES, max_size=30),
    failing=st.sets(st.integers(2, 12), max_size=2),
    resume_at=st.integers(1, 10),
)
def test_every_variant_live_for_the_whole_run_is_read_or_the_run_is_partial(
    size, count, archived, script, failing, resume_at
):
    live = [i for i in range(1, 201) if i not in archived][:count]
    gecko = RandomGecko(live, sorted(archived - set(live)), script, failing)

    skipped, partial = read_listing(gecko, size, resume_at)

    assert partial or not skipped, f"skipped {sorted(skipped)} unsaid"
