"""A staff action on one object's own admin page (payments' and shipping's
"Settle by hand", inventory's "Found at the ERP"): a confirmation page with a
form, open only to those allowed and only while the object is in the state
the action is for. A valid form calls the service; a refusal goes back on the
form, next to what staff typed, and nothing is applied."""

from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.admin import ModelAdmin
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse


class StaffActionForm(forms.Form):
    """Base of a staff action's form."""

    def refuse(self, message: str, field: str | None = None) -> bool:
        """Put the service's refusal on ``field`` (None: the whole form);
        False, so the page is shown again rather than left."""
        self.add_error(field, message)
        return False


class StaffAction:
    """One staff action, bound to its model admin. A subclass names its page
    (``route``, ``form_class``, ``template``, ``object_name``: the object's
    name in the template) and says who may use it, on which objects, and
    what applying the form does."""

    route: str
    form_class: type[StaffActionForm]
    template: str
    object_name: str

    def __init__(self, model_admin: ModelAdmin) -> None:
        self.model_admin = model_admin

    def allowed(self, request: HttpRequest) -> bool:
        raise NotImplementedError

    def refusal(self, obj: Any) -> str:
        """Why ``obj`` cannot take the action now (shown as a warning on its
        page); "" when it can."""
        raise NotImplementedError

    def title(self, obj: Any) -> str:
        raise NotImplementedError

    def apply(self, request: HttpRequest, obj: Any, form: StaffActionForm) -> bool:
        """Call the service; True when done, False when refused (the form
        holds why: ``form.refuse``)."""
        raise NotImplementedError

    def form(self, request: HttpRequest, obj: Any) -> StaffActionForm:
        """The page's form: bound to what staff posted, unbound on a GET."""
        return self.form_class(request.POST if request.method == "POST" else None)

    @property
    def url_name(self) -> str:
        opts = self.model_admin.opts
        return f"{opts.app_label}_{opts.model_name}_{self.route.replace('-', '_')}"

    def url(self) -> URLPattern:
        view = self.model_admin.admin_site.admin_view(self.view)
        return path(f"<path:object_id>/{self.route}/", view, name=self.url_name)

    def view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        admin = self.model_admin
        if not self.allowed(request):
            raise PermissionDenied
        obj = admin.get_object(request, unquote(object_id))
        if obj is None:
            raise Http404(f"No such {admin.opts.verbose_name}.")
        opts = admin.opts
        change = f"admin:{opts.app_label}_{opts.model_name}_change"
        change_url = reverse(change, args=[obj.pk])
        refusal = self.refusal(obj)
        if refusal:
            admin.message_user(request, refusal, messages.WARNING)
            return HttpResponseRedirect(change_url)
        form = self.form(request, obj)
        if form.is_valid() and self.apply(request, obj, form):
            return HttpResponseRedirect(change_url)
        context = {
            **admin.admin_site.each_context(request),
            "title": self.title(obj),
            "opts": opts,
            self.object_name: obj,
            "form": form,
            "change_url": change_url,
        }
        return TemplateResponse(request, self.template, context)
