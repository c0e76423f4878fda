"""Content negotiation: DRF's, with its answer to a request that states no
preference given without parsing one."""

from typing import Any

from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import BaseRenderer
from rest_framework.request import Request


class ApiContentNegotiation(DefaultContentNegotiation):
    def select_renderer(
        self,
        request: Request,
        renderers: list[BaseRenderer],
        format_suffix: str | None = None,
    ) -> tuple[BaseRenderer, Any]:
        # No Accept (or */*) and no format: DRF picks the first renderer at its
        # own media type, after parsing and ranking (~100 Python calls).
        first = renderers[0] if renderers else None
        if (
            first is not None
            and not format_suffix
            and request.META.get("HTTP_ACCEPT", "*/*") == "*/*"
            and not request.query_params.get(self.settings.URL_FORMAT_OVERRIDE)
            and not first.media_type.startswith("*")
        ):
            return first, first.media_type
        return super().select_renderer(request, renderers, format_suffix)
