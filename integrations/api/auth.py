"""API-key authentication for the storefront.

Keys are sent as ``Authorization: Bearer sy_<prefix>_<secret>`` (or in an
``X-API-Key`` header). The prefix finds the row; the hash of the whole key is
compared in constant time. Wrong, malformed and revoked keys are a 401 with
distinct codes; the key itself never appears in a response or a log line.
"""

import hmac
import logging
from datetime import timedelta

from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from integrations.api.scopes import SCOPES
from integrations.models import ApiKey
from integrations.models.api import KEY_PREFIX, hash_secret
from integrations.row_sql import rows_select

logger = logging.getLogger(__name__)

# Generated keys are ~60 characters; anything far longer is not one of ours and
# is rejected before hashing.
_MAX_KEY_LENGTH = 200
# last_used_at is informational: write it at most this often per key.
_LAST_USED_RESOLUTION = timedelta(seconds=60)


class ApiKeyUser:
    """The caller behind an API key, as DRF expects a user."""

    is_authenticated = True
    is_active = True
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
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer":
        return value.strip()
    return request.META.get("HTTP_X_API_KEY")


class ApiKeyAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request: Request) -> tuple[ApiKeyUser, ApiKey] | None:
        raw = _key_from_request(request)
        if raw is None:
            return None
        parts = raw.split("_", 2)
        if len(raw) > _MAX_KEY_LENGTH or len(parts) != 3 or parts[0] != KEY_PREFIX:
            logger.info("api key malformed")
            raise exceptions.AuthenticationFailed(
                "Malformed API key: expected 'Bearer sy_<prefix>_<secret>'.",
                code="api_key_malformed",
            )
        prefix = parts[1]
        # The prefix is unique; one hand-built SELECT on every API request
        # (the ORM's queryset cost ~1k Python calls).
        found = rows_select(ApiKey, '"prefix" = %s', [prefix])
        api_key = found[0] if found else None
        if api_key is None or not hmac.compare_digest(
            api_key.key_hash, hash_secret(raw)
        ):
            logger.info("api key invalid", extra={"key_prefix": prefix[:16]})
            raise exceptions.AuthenticationFailed(
                "Invalid API key.", code="api_key_invalid"
            )
        if not api_key.is_active:
            logger.info("api key revoked used", extra={"key_prefix": prefix})
            raise exceptions.AuthenticationFailed(
                "This API key has been revoked.", code="api_key_revoked"
            )
        self._touch(api_key)
        return ApiKeyUser(api_key), api_key

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="api"'

    @staticmethod
    def _touch(api_key: ApiKey) -> None:
        now = timezone.now()
        if api_key.last_used_at is None or (
            now - api_key.last_used_at >= _LAST_USED_RESOLUTION
        ):
            ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
            api_key.last_used_at = now


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    """Documents API keys in the OpenAPI schema (the docs' Authorize button)."""

    target_class = ApiKeyAuthentication
    name = "ApiKey"

    def get_security_definition(self, auto_schema: object) -> dict:
        scopes = "; ".join(f"`{name}`: {text}" for name, text in SCOPES.items())
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "sy_<prefix>_<secret>",
            "description": (
                "An API key created in the admin or with `manage.py create_api_key`,"
                " sent as `Authorization: Bearer <key>`. Each endpoint names the"
                f" scopes it needs. Scopes: {scopes}."
            ),
        }
