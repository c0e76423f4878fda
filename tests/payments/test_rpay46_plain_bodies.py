"""r-pay46: the plain-body shortcut leaves to DRF a field whose missing value
DRF answers by the field's own ``get_default`` (its validate_empty_values
calls it); the shortcut read ``field.default`` itself and skipped it."""

from rest_framework import serializers

from integrations.api import plain_bodies


class _Stamped(serializers.CharField):
    """A field whose default is the field's own answer, not ``default``."""

    def get_default(self):
        return "from-get-default"


class _Order(serializers.Serializer):
    order_id = serializers.CharField()
    channel = _Stamped(required=False, default="web")


def test_a_field_with_its_own_get_default_is_answered_as_drf_answers_it() -> None:
    body = {"order_id": "o-1"}
    drf = _Order().run_validation(body)
    assert drf == {"order_id": "o-1", "channel": "from-get-default"}
    assert plain_bodies.validated(_Order(), body) in (None, drf)


def test_a_present_value_of_that_field_still_takes_the_shortcut() -> None:
    body = {"order_id": "o-1", "channel": " app "}
    assert plain_bodies.validated(_Order(), body) == {
        "order_id": "o-1",
        "channel": "app",
    }
