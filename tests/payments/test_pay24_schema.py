"""pay24 (schema): the resume and the method change of a recurring charge
document a 400 example for ``payment_method_retries_exhausted`` beside the
one for ``payment_method_declined``."""

import pytest
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/recurring-charges/{public_id}/resume/",
        "/api/v1/recurring-charges/{public_id}/payment-method/",
    ],
)
def test_the_schema_has_a_400_example_of_each_refusal_of_the_method(path):
    schema = APIClient().get("/api/schema/", {"format": "json"}).json()
    bad = schema["paths"][path]["post"]["responses"]["400"]["content"]
    examples = bad["application/json"]["examples"].values()
    codes = {example["value"]["error"]["code"] for example in examples}

    assert {"payment_method_declined", "payment_method_retries_exhausted"} <= codes
    exhausted = next(
        example["value"]["error"]
        for example in examples
        if example["value"]["error"]["code"] == "payment_method_retries_exhausted"
    )
    assert exhausted["param"] == "payment_method"
    assert exhausted["type"] == "invalid_request_error"
