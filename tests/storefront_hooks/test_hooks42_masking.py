"""hooks42 items 3-5: one masker everywhere.

3. What staff read of a provider's text (``staff_text``) and what django-q
   stores of a task's result mask a secret in every form the masker knows
   (URL-encoded, base64url, ...), not only as written.
4. Only real occurrences are masked: a log line, a staff text or a task
   result that merely ends with a credential's first characters is kept as
   written. A secret's head cut off at the end is masked only in a
   receiver's stored answer, which the bound, our deadline or a dropped
   connection cut (its documented reason).
5. After the registry changes, the masker's index is updated for what
   changed, not built again for every secret."""

import base64
import logging
import secrets
import time
from urllib.parse import quote, quote_plus

import pytest

from integrations import secrets_registry
from integrations.logging import SecretRedactionFilter
from integrations.secret_masking import mask_secrets
from integrations.secrets_registry import MASK, staff_text
from storefront_hooks import services
from storefront_hooks.services.excerpt import staff_excerpt
from tests.factories import ProviderAccountFactory

pytestmark = pytest.mark.django_db
CREDENTIAL = "merchant-0042-eu-west"


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


def _task_result(text: str) -> str:
    from django_q.signals import post_execute_in_worker

    task = {"result": text, "success": False}
    post_execute_in_worker.send(sender="django_q", func=None, task=task)
    return task["result"]


def _forms(secret: str) -> dict[str, str]:
    key = secret.removeprefix("whsec_")
    urlsafe = base64.urlsafe_b64encode(base64.b64decode(key)).decode()
    return {
        "url_encoded": f"refused body=x&secret={quote_plus(secret)}&y=1",
        "url_encoded_key": f"GET /cb?k={quote(key, safe='')} 401",
        "base64url": f"key {urlsafe} refused",
        "plus_as_space": f"got secret={secret.replace('+', ' ')} bad",
    }


@pytest.mark.parametrize(
    "form", ["url_encoded", "url_encoded_key", "base64url", "plus_as_space"]
)
def test_staff_text_and_a_task_result_mask_every_form(secret, form) -> None:
    text = _forms(secret)[form]
    key = secret.removeprefix("whsec_")
    for masked in (staff_text(text), _task_result(text)):
        assert MASK in masked
        assert key[:10] not in masked
        assert quote(key, safe="")[:10] not in masked
        assert key.replace("+", "-").replace("/", "_")[:10] not in masked


def test_a_credential_whole_is_still_masked_everywhere() -> None:
    ProviderAccountFactory(credentials={"username": CREDENTIAL})
    secrets_registry.refresh(force_check=True)
    text = f"login {CREDENTIAL} refused"
    for masked in (_logged(text), staff_text(text), _task_result(text)):
        assert masked == f"login {MASK} refused"


def test_text_ending_with_a_credentials_head_is_kept_as_written() -> None:
    ProviderAccountFactory(credentials={"username": CREDENTIAL})
    secrets_registry.refresh(force_check=True)
    # An ordinary line that happens to end with the credential's first 13
    # characters: no secret in it, so nothing to mask.
    text = "stock synced for merchant-0042"
    assert CREDENTIAL.startswith(text[-13:])
    assert _logged(text) == text
    assert staff_text(text) == text
    assert _task_result(text) == text


def test_a_receivers_answer_cut_at_its_end_still_masks_the_head(secret) -> None:
    # The stored answer's documented reason: cut by its bound, our deadline
    # or a dropped connection, a secret's head at its end is masked.
    key = secret.removeprefix("whsec_")
    assert staff_excerpt(f"secret={key[:20]}") == f"secret={MASK}"


def _endpoint_like_secrets(count: int) -> list[str]:
    """What the registry holds for ``count`` endpoints (each as given, its
    bare key, both JSON-escaped)."""
    found = []
    for _ in range(count):
        key = base64.b64encode(secrets.token_bytes(32)).decode()
        for form in (f"whsec_{key}", key):
            found += [form, form.replace("/", "\\/")]
    return list(dict.fromkeys(found))


def test_a_registry_change_updates_the_index_not_rebuilds_it() -> None:
    endpoints = [_endpoint_like_secrets(1) for _ in range(1000)]
    known = [form for forms in endpoints for form in forms]
    text = "webhook delivery attempted 200 in 12 ms"
    started = time.perf_counter()
    mask_secrets(text, tuple(known))  # the first copy: the whole index
    built = time.perf_counter() - started

    added = _endpoint_like_secrets(1)
    changed = tuple(known[len(endpoints[0]) :] + added)  # one made, one gone
    started = time.perf_counter()
    logged = mask_secrets(text, changed)
    updated = time.perf_counter() - started

    assert logged == text
    assert updated < built / 4, (updated, built)
    assert mask_secrets(f"k {added[0]} x", changed) == f"k {MASK} x"
    assert mask_secrets(f"k {quote(added[1], safe='')}", changed) == f"k {MASK}"
    # The endpoint gone is not masked any more; the ones kept still are.
    gone, kept = endpoints[0][0], endpoints[1][0]
    assert mask_secrets(f"k {gone} x", changed) == f"k {gone} x"
    assert mask_secrets(f"k {kept} x", changed) == f"k {MASK} x"
