"""API-key authentication for the storefront.

Keys are sent as ``Authorization: Bearer sy_<prefix>_<secret>`` (or
``X-API-Key``). The prefix finds the row; the hash is compared in constant time.
"""

import hmac

from django.utils import timezone
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from integrations.models import ApiKey
from integrations.models.api import KEY_PREFIX, hash_secret


class ApiKeyUser:
    """The caller behind an API key, as DRF expects a user."""

    is_authenticated = True
    is_staff = False
    is_superuser = False
    is_anonymous = False

    def __init__(self, api_key: ApiKey) -> None:
        self.api_key = api_key
        self.pk = self.id = f"api-key:{api_key.pk}"

    def __str__(self) -> str:
        return f"api key {self.api_key.name}"


def _key_from_request(request: Request) -> str | None:
    header = request.META.get("HTTP_AUTHORIZATION", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    return request.META.get("HTTP_X_API_KEY") or None


class ApiKeyAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request: Request) -> tuple[ApiKeyUser, ApiKey] | None:
        raw = _key_from_request(request)
        if raw is None:
            return None
        parts = raw.split("_", 2)
        if len(parts) != 3 or parts[0] != KEY_PREFIX:
            raise exceptions.AuthenticationFailed("Malformed API key.")
        api_key = ApiKey.objects.filter(prefix=parts[1]).first()
        if api_key is None or not hmac.compare_digest(
            api_key.key_hash, hash_secret(raw)
        ):
            raise exceptions.AuthenticationFailed("Invalid API key.")
        if not api_key.is_active:
            raise exceptions.AuthenticationFailed("This API key has been revoked.")
        now = timezone.now()
        # Bounded write rate: last_used_at is informational.
        if api_key.last_used_at is None or (now - api_key.last_used_at).seconds > 60:
            ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
        return ApiKeyUser(api_key), api_key

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="api"'
