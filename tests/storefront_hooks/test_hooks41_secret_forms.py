"""hooks41 item 4: one masker for the stored answer and the log filter. A
signing secret quoted back in any form the stored answer masks (no padding,
HTML character references, JSON-escaped then URL-encoded, \\u escapes) is
masked in a log line too; and in both places its "+" read as a space (a
receiver that form-decoded our body) and its base64url alphabet form
("-" and "_" for "+" and "/")."""

import base64
import json
import logging
from urllib.parse import quote_plus

import pytest

from integrations import secrets_registry
from integrations.logging import SecretRedactionFilter
from integrations.secrets_registry import MASK
from storefront_hooks import services
from storefront_hooks.services.excerpt import staff_excerpt

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_registry(settings):
    settings.SECRET_REDACTION_CHECK_SECONDS = 0
    secrets_registry.forget()
    yield
    secrets_registry.forget()


@pytest.fixture
def secret(make_endpoint) -> str:
    """A signing secret whose key holds "+", "/" and "=" padding."""
    endpoint, secret = make_endpoint()
    while "+" not in secret or "/" not in secret or not secret.endswith("="):
        secret = services.endpoint_secret_rotate(endpoint=endpoint, overlap_hours=0)
    secrets_registry.refresh(force_check=True)
    return secret


def _logged(message: str) -> str:
    record = logging.makeLogRecord({"msg": message, "levelno": logging.ERROR})
    SecretRedactionFilter().filter(record)
    return record.getMessage()


def _base64url(secret: str) -> str:
    key = secret.removeprefix("whsec_")
    return base64.urlsafe_b64encode(base64.b64decode(key)).decode()


def _escaped_forms(secret: str) -> dict[str, str]:
    key = secret.removeprefix("whsec_")
    json_escaped = json.dumps(secret)[1:-1].replace("/", "\\/")
    return {
        "unpadded": f'{{"key":"{key.rstrip("=")}"}}',
        "html_go": "<p>" + secret.replace("+", "&#43;") + "</p>",
        "html_owasp": "<p>" + key.replace("/", "&#x2F;").replace("+", "&#x2B;"),
        "json_then_url": f"echo={quote_plus(json_escaped)}&x=1",
        "json_unicode": key.replace("+", "\\u002B").replace("/", "\\u002F"),
    }


def _new_forms(secret: str) -> dict[str, str]:
    key = secret.removeprefix("whsec_")
    return {
        "plus_as_space": f"got secret={secret.replace('+', ' ')} bad",
        "plus_as_space_bare": f"key {key.replace('+', ' ')} refused",
        "base64url": f"key {_base64url(secret)} refused",
        "base64url_unpadded": f'{{"k":"{_base64url(secret).rstrip("=")}"}}',
    }


@pytest.mark.parametrize(
    "form", ["unpadded", "html_go", "html_owasp", "json_then_url", "json_unicode"]
)
def test_the_log_filter_masks_what_the_stored_answer_masks(secret, form) -> None:
    text = _escaped_forms(secret)[form]
    assert MASK in staff_excerpt(text)  # the stored answer's masking

    logged = _logged(f"receiver said {text}")

    assert MASK in logged
    assert secret.removeprefix("whsec_")[:12] not in logged.replace("&#43;", "+")


@pytest.mark.parametrize(
    "form", ["plus_as_space", "plus_as_space_bare", "base64url", "base64url_unpadded"]
)
def test_a_plus_read_as_space_and_the_base64url_form_are_masked_in_both(
    secret, form
) -> None:
    text = _new_forms(secret)[form]
    key = secret.removeprefix("whsec_")
    for masked in (staff_excerpt(text), _logged(text)):
        assert MASK in masked
        assert key[:10] not in masked
        assert _base64url(secret)[:10] not in masked
        assert key.replace("+", " ")[:10] not in masked


def test_a_line_without_a_secret_is_logged_as_written(secret) -> None:
    line = "webhook delivery attempted 200 in 12 ms, a+b=c %2B &#43; \\u002B"
    assert _logged(line) == line
