"""r-hooks42: a recurring run keeps the first 200 characters of a fault's
first line for the task result (the admin) and the command's output. The
masker masks whole secrets only (hooks42: a head at the end only where the
caller says it cut the text), so the line is masked before it is cut: a
credential quoted across the cut does not leave its head behind."""

from datetime import timedelta

import pytest
from django.utils import timezone

from integrations.secrets_registry import known_secrets
from payments import services, tasks
from payments.models import RecurringCharge
from payments.providers.sandbox import SandboxPaymentsAdapter

pytestmark = pytest.mark.django_db
SECRET = "sk_live_9f8e7d6c5b4a39281706f5e4d3c2b1a0"
KEPT = 200  # what the run keeps of a fault's first line


def test_a_credential_cut_by_the_runs_bound_leaves_no_head(primary) -> None:
    primary.set_credentials({"api_key": "sbx_test_key", "webhook_secret": SECRET})
    primary.save(update_fields=["credentials_encrypted"])
    assert SECRET in known_secrets(fresh=True)
    method = services.payment_method_save(
        customer_reference="cus_1", source_token="tok_success", idempotency_key="m1"
    )
    RecurringCharge.objects.create(
        saved_method=method,
        amount=1_500,
        currency="EUR",
        interval="month",
        next_run_at=timezone.now() - timedelta(minutes=1),
    )
    # The key runs across the 200th character of the message.
    message = "x" * (KEPT - 20) + f"{SECRET} was refused"

    def broken(self, request):
        raise RuntimeError(message)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(SandboxPaymentsAdapter, "charge_saved", broken)
        report = tasks.run_recurring_charges()

    [line] = report["errors"]
    assert SECRET[:20] not in line, line
    assert SECRET[:8] not in line, line
