"""pay45: the payment serializer shows its moments as DRF's DateTimeField
does (ISO 8601, in the current time zone, ``Z`` for UTC) for any aware
moment, any time zone the request runs in, and any output format set."""

import zoneinfo
from datetime import UTC, datetime, timedelta, timezone

import pytest
from django.test import override_settings
from django.utils import timezone as django_timezone
from hypothesis import given, settings
from hypothesis import strategies as st

from payments.models import Payment
from payments.serializers import payment_data
from tests.payments.test_perf2_serializer_equivalence import drf_machinery

_SINCE = datetime(1, 1, 2)  # noqa: DTZ001 (hypothesis bounds are naive)
_UNTIL = datetime(9999, 12, 30)  # noqa: DTZ001
zones = st.one_of(
    st.just(UTC),
    st.builds(
        lambda minutes: timezone(timedelta(minutes=minutes)),
        st.integers(-23 * 60, 23 * 60),
    ),
    st.sampled_from(["Europe/Paris", "America/St_Johns", "Asia/Kathmandu"]).map(
        zoneinfo.ZoneInfo
    ),
)
moments = st.one_of(
    st.none(),
    st.datetimes(min_value=_SINCE, max_value=_UNTIL, timezones=zones),
)


def _payment(created: datetime | None, updated: datetime | None) -> Payment:
    return Payment(
        public_id="pay_m", currency="EUR", created_at=created, updated_at=updated
    )


def _same(payment: Payment) -> None:
    def shown() -> object:
        try:
            return payment_data(payment)
        except Exception as exc:  # the error is the answer
            return type(exc).__name__, str(exc)

    new = shown()
    with drf_machinery():
        old = shown()
    assert repr(new) == repr(old)


@settings(max_examples=300, deadline=None)
@given(created=moments, updated=moments, active=st.none() | zones)
def test_moments_are_shown_as_drf_shows_them(created, updated, active) -> None:
    if active is None:
        _same(_payment(created, updated))
        return
    with django_timezone.override(active):
        _same(_payment(created, updated))


@pytest.mark.parametrize("output", [None, "%Y-%m-%d %H:%M", "ISO-8601"])
def test_an_output_format_of_the_settings_is_kept(settings, output) -> None:
    moment = datetime(2026, 3, 1, 12, 30, tzinfo=UTC)
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DATETIME_FORMAT": output}
    _same(_payment(moment, moment))


def test_the_server_time_zone_is_kept() -> None:
    moment = datetime(2026, 3, 1, 12, 30, tzinfo=UTC)
    with override_settings(TIME_ZONE="Asia/Kathmandu"):
        _same(_payment(moment, moment))
        assert payment_data(_payment(moment, moment))["created_at"] == (
            "2026-03-01T18:15:00+05:45"
        )
    with override_settings(USE_TZ=False):
        _same(_payment(moment, moment))
