"""Encryption of provider credentials at rest.

Keys come from ``CREDENTIALS_ENCRYPTION_KEYS`` (newest first). Every key
decrypts; only the newest encrypts, so rotating is: put a new key in front,
run ``manage.py rotate_credentials``, then drop the old key.
"""

import copy
import json
from functools import cache, lru_cache
from typing import TYPE_CHECKING, Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

if TYPE_CHECKING:
    from integrations.errors import ConfigurationError


class CredentialsDecryptError(Exception):
    """Stored credentials cannot be read with any configured key."""


# The code of the ``ConfigurationError`` it becomes at a provider call
# (nothing sent): the client's classify, failover, attempts, shipping's hook.
CREDENTIALS_UNREADABLE = "credentials_unreadable"


def credentials_unreadable(exc: CredentialsDecryptError) -> "ConfigurationError":
    """``exc`` met at a provider call: the account's configuration, not a
    bug, and nothing went out (the key is read before the request). Its
    fixed text names neither the token nor the keys."""
    from integrations.errors import ConfigurationError

    return ConfigurationError(str(exc), code=CREDENTIALS_UNREADABLE)


@cache
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    try:
        return MultiFernet([Fernet(k.encode()) for k in keys])
    except ValueError as exc:
        raise ImproperlyConfigured(
            "CREDENTIALS_ENCRYPTION_KEYS holds a key that is not a Fernet key "
            "(32 url-safe base64-encoded bytes)"
        ) from exc


def fernet() -> MultiFernet:
    return _fernet(tuple(settings.CREDENTIALS_ENCRYPTION_KEYS))


def encrypt_json(data: dict[str, Any]) -> str:
    return fernet().encrypt(json.dumps(data, sort_keys=True).encode()).decode()


def decrypt_json(token: str) -> dict[str, Any]:
    if not token:
        return {}
    # A copy: callers may change what they are given, nested values too. Most
    # credentials are flat (strings): a dict copy then does (a deep copy cost
    # ~30 Python calls on every provider call).
    data, flat = _decrypted(token, tuple(settings.CREDENTIALS_ENCRYPTION_KEYS))
    return dict(data) if flat else copy.deepcopy(data)


# Values a caller cannot change in place.
_ATOMS = (str, int, float, bool, type(None))


@lru_cache(maxsize=256)
def _decrypted(token: str, keys: tuple[str, ...]) -> tuple[dict[str, Any], bool]:
    # Every provider call reads its account's credentials, often more than
    # once: decrypting (HMAC, AES, JSON) each time cost ~0.1 ms per read. Keyed
    # by the key list too, so a key removed in settings stops decrypting.
    try:
        data = json.loads(_fernet(keys).decrypt(token.encode()))
    except InvalidToken as exc:
        # Deliberately says nothing about the token or the keys.
        raise CredentialsDecryptError(
            "stored credentials cannot be decrypted with the configured keys"
        ) from exc
    flat = isinstance(data, dict) and all(type(v) in _ATOMS for v in data.values())
    return data, flat


def rotate(token: str) -> str:
    """Re-encrypt ``token`` with the newest key."""
    if not token:
        return token
    try:
        return fernet().rotate(token.encode()).decode()
    except InvalidToken as exc:
        raise CredentialsDecryptError(
            "stored credentials cannot be decrypted with the configured keys"
        ) from exc


def generate_key() -> str:
    return Fernet.generate_key().decode()
