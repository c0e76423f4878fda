"""The timeline on an admin change page: a ModelAdmin mixin that puts
``timeline`` (``integrations.timeline`` entries, oldest first) into the
change page's context, and a template that shows it."""

from typing import Any

from django.contrib.admin.utils import unquote
from django.http import HttpRequest, HttpResponse

from integrations.timeline import TimelineEntry


class TimelineAdminMixin:
    """Put it before ``admin.ModelAdmin`` and define ``get_timeline``.

    The page renders with ``change_form_template`` (default: the stock change
    form plus the timeline); a custom template includes
    ``admin/integrations/timeline.html``.
    """

    change_form_template = "admin/integrations/change_form_timeline.html"

    def get_timeline(self, obj: Any) -> list[TimelineEntry]:
        raise NotImplementedError("a timeline admin says what its timeline is")

    def change_page_context(self, request: HttpRequest, obj: Any) -> dict[str, Any]:
        """More context for the change page of ``obj`` (e.g. action URLs)."""
        return {}

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        obj = self.get_object(request, unquote(object_id))  # type: ignore[attr-defined]
        context = dict(extra_context or {})
        if obj is not None:
            context.update(self.change_page_context(request, obj))
            context["timeline"] = self.get_timeline(obj)
        return super().change_view(  # type: ignore[misc]
            request, object_id, form_url, context
        )
