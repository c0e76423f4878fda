"""Rate limits per API key, in the shared cache (Redis in production), so every
web process counts against the same bucket."""

from typing import TYPE_CHECKING

from rest_framework.request import Request
from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle

from integrations.models import ApiKey

if TYPE_CHECKING:
    from rest_framework.views import APIView


class ApiKeyRateThrottle(SimpleRateThrottle):
    """One bucket per API key (per user for staff sessions, per IP otherwise).

    The rate is ``DEFAULT_THROTTLE_RATES["api_key"]`` (``API_RATE``). A 429
    carries ``Retry-After`` and the API's JSON error shape.
    """

    scope = "api_key"

    def get_rate(self) -> str | None:
        # Read at request time rather than at import (DRF's default), so a
        # settings change (and a test's override) takes effect.
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)

    def get_cache_key(self, request: Request, view: "APIView") -> str:
        if isinstance(request.auth, ApiKey):
            ident = f"key-{request.auth.pk}"
        elif request.user is not None and request.user.is_authenticated:
            ident = f"user-{request.user.pk}"
        else:
            ident = f"ip-{self.get_ident(request)}"
        return self.cache_format % {"scope": self.scope, "ident": ident}
