"""The keyed-attempt recorder, driven with the payments attempt model (any
``KeyedAttempt`` subclass behaves the same)."""

import pytest

from integrations.attempts import attempt_run
from integrations.errors import NotProcessed, ProviderError, Rejected, Unknown
from payments.models import Payment, PaymentAttempt
from tests.factories import ProviderAccountFactory

pytestmark = pytest.mark.django_db


class Result:
    def __init__(self, provider_reference: str = "") -> None:
        self.provider_reference = provider_reference


@pytest.fixture
def owner() -> dict:
    return {
        "payment": Payment.objects.create(order_id="o-1", amount=100, currency="EUR")
    }


def _run(owner, call, **extra):
    return attempt_run(
        PaymentAttempt,
        owner=owner,
        account=ProviderAccountFactory(slug="acct"),
        operation="authorize",
        idempotency_key="key-1",
        call=call,
        **extra,
    )


def test_key_is_stored_before_the_call_and_result_after(owner):
    seen = []

    def call(key: str) -> Result:
        # The row and its key exist while the provider is being called.
        seen.append(PaymentAttempt.objects.get().outcome)
        assert key == "key-1"
        return Result("ch_1")

    result = _run(owner, call)
    attempt = PaymentAttempt.objects.get()
    assert result.provider_reference == "ch_1"
    assert seen == ["in_progress"]
    assert attempt.idempotency_key == "key-1"
    assert attempt.payment == owner["payment"]
    assert (attempt.outcome, attempt.provider_reference) == ("succeeded", "ch_1")
    assert attempt.finished_at is not None and attempt.duration_ms is not None


def test_reference_known_before_the_call_is_kept_when_the_result_has_none(owner):
    _run(owner, lambda key: Result(""), reference="order-9")
    assert PaymentAttempt.objects.get().provider_reference == "order-9"


def test_reference_of_reads_the_domain_result(owner):
    _run(owner, lambda key: {"id": "lbl_7"}, reference_of=lambda r: r["id"])
    assert PaymentAttempt.objects.get().provider_reference == "lbl_7"


@pytest.mark.parametrize(
    ("error", "outcome"),
    [
        (NotProcessed("refused", code="connect_refused"), "not_processed"),
        (Unknown("read timeout", code="read_timeout"), "unknown"),
        (Rejected("declined", code="card_declined"), "rejected"),
    ],
)
def test_provider_error_is_recorded_passed_to_on_error_and_raised(
    owner, error, outcome
):
    handled: list[ProviderError] = []

    def call(key: str) -> Result:
        raise error

    with pytest.raises(type(error)):
        _run(owner, call, on_error=handled.append)
    attempt = PaymentAttempt.objects.get()
    assert attempt.outcome == outcome
    assert attempt.error_code == error.code
    assert attempt.error_message == error.message
    assert attempt.finished_at is not None
    assert handled == [error]


def test_other_exceptions_leave_the_attempt_in_progress(owner):
    # A bug is not a provider outcome: the row says the call never finished.
    def call(key: str) -> Result:
        raise RuntimeError("bug")

    with pytest.raises(RuntimeError):
        _run(owner, call)
    assert PaymentAttempt.objects.get().outcome == "in_progress"
