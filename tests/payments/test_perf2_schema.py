"""perf2: the serializers' shortcuts leave the API schema as it was."""

from io import StringIO

import yaml
from django.core.management import call_command


def test_payment_components_carry_no_description_of_the_shortcut() -> None:
    out = StringIO()
    call_command("spectacular", stdout=out)
    components = yaml.safe_load(out.getvalue())["components"]["schemas"]
    for name in ("Payment", "PaymentCreateRequest", "Card", "Risk", "Failure"):
        assert "description" not in components[name], name
