"""Provider text kept for staff (a ProviderError's message, a timeline's
details, a failure message) is masked by the same masker as the log filter:
a credential a provider quotes percent-encoded, form-decoded ("+" read as a
space) or JSON-escaped is masked too, not only its exact form."""

from urllib.parse import quote

import pytest

from integrations.errors import ProviderError
from integrations.health import safe_text
from integrations.secrets_registry import MASK, redact_secrets
from tests.factories import ProviderAccountFactory

SECRET = "lead42key/with+plus=end"


def _forms() -> list[str]:
    return [
        SECRET,
        quote(SECRET, safe=""),
        SECRET.replace("+", " "),
        SECRET.replace("/", "\\/"),
    ]


FORM_IDS = ["exact", "percent", "plus-space", "json"]


@pytest.fixture
def account():
    return ProviderAccountFactory(credentials={"api_key": SECRET})


@pytest.mark.django_db
@pytest.mark.parametrize("form", _forms(), ids=FORM_IDS)
def test_a_provider_error_quoting_a_secret_in_any_form_is_masked(account, form):
    error = ProviderError(f"bad request: api_key={form} refused")

    assert form not in error.message
    assert MASK in error.message
    assert form not in str(error)


@pytest.mark.django_db
@pytest.mark.parametrize("form", _forms(), ids=FORM_IDS)
def test_redact_secrets_masks_every_form(account, form):
    masked = redact_secrets(f"echo: {form}.")

    assert form not in masked
    assert masked.startswith("echo: ") and MASK in masked


@pytest.mark.django_db
def test_text_without_a_secret_is_kept_as_written(account):
    text = "card declined: insufficient_funds (lead42 key)"

    assert redact_secrets(text) == text
    assert ProviderError(text).message == text


@pytest.mark.django_db
@pytest.mark.parametrize("form", _forms(), ids=FORM_IDS)
def test_a_health_probe_text_quoting_a_secret_in_any_form_is_masked(account, form):
    kept = safe_text(f"401 for key={form}", account)

    assert form not in kept
    assert MASK in kept
