"""The project's admin site. Every ModelAdmin registered on it (ours, auth's,
django_q's) gets ``OddInputGuard``: a pasted or tampered URL or form is a
message in the admin, never a 500; ``UndeclaredActionGuard``: an action
that names no permission is offered only to who may change the model; and
``SecretLookupGuard``: no URL filters a changelist on a secret column."""

import copy
import functools
import logging
import re
from collections.abc import Callable
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.options import IncorrectLookupParameters
from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.db import DataError, ProgrammingError, models, transaction
from django.db.models.constants import LOOKUP_SEP
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, QueryDict
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme

from integrations import registry
from integrations.secrets_registry import staff_text

logger = logging.getLogger(__name__)

# What the driver or database raise for a lookup Django built but cannot run:
# ``id__range=1``, text for a bytea or inet column fail in the driver's
# parameter binding (IndexError, TypeError, ValueError); a date drill-down
# past year 9999 overflows Python's datetime (OverflowError). Any of them is
# converted only if the page runs without the parameters.
_LOOKUP_REFUSALS = (
    DataError,
    ProgrammingError,
    IndexError,
    TypeError,
    ValueError,
    OverflowError,
)


class OddInputGuard:
    """Mixed into every registered ModelAdmin by ``SwitchyardAdminSite``."""

    def get_changelist_instance(self, request: HttpRequest) -> Any:
        # Django refuses a lookup it cannot build; one it builds but the
        # driver or database refuses (``id__range=1``, text for a bytea or
        # inet column) fails when the page is counted: the same refusal.
        # Only a fault the parameters cause is theirs: if the page fails
        # without them too, it is the server's and stays a 500.
        try:
            return self._evaluated_changelist(request)
        except _LOOKUP_REFUSALS as exc:
            if not request.GET or not self._runs_without_parameters(request):
                raise
            logger.warning(
                "admin lookup refused",
                extra={"model": self.opts.label, "error": type(exc).__name__},
                exc_info=True,
            )
            raise IncorrectLookupParameters(type(exc).__name__) from None

    def _evaluated_changelist(self, request: HttpRequest) -> Any:
        with transaction.atomic():
            changelist = super().get_changelist_instance(request)
            len(changelist.result_list)  # run its query inside the guard
            return changelist

    def _runs_without_parameters(self, request: HttpRequest) -> bool:
        bare = copy.copy(request)
        bare.GET = QueryDict()
        try:
            self._evaluated_changelist(bare)
        except Exception:  # any failure here means the fault is not the URL's
            return False
        return True

    def changelist_view(
        self, request: HttpRequest, extra_context: dict | None = None
    ) -> HttpResponse:
        if request.method == "POST" and ACTION_CHECKBOX_NAME in request.POST:
            # A selection naming no possible row is no selection: Django then
            # says "Items must be selected", not a ValueError from pk__in.
            request.POST = _without_unparsable_pks(request.POST, self.opts.pk)
        return super().changelist_view(request, extra_context)


def _without_unparsable_pks(data: QueryDict, pk: models.Field) -> QueryDict:
    data = data.copy()
    selected = data.getlist(ACTION_CHECKBOX_NAME)
    data.setlist(ACTION_CHECKBOX_NAME, [v for v in selected if _is_pk(pk, v)])
    data._mutable = False
    return data


def _is_pk(pk: models.Field, value: str) -> bool:
    """Whether ``value`` could be a stored primary key (type, range, no NUL)."""
    if "\x00" in value:
        return False
    target = getattr(pk, "target_field", None) or pk
    try:
        target.run_validators(target.to_python(value))
    except ValidationError:
        return False
    return True


class UndeclaredActionGuard:
    """Mixed into every registered ModelAdmin by ``SwitchyardAdminSite``.

    Django offers an action declared without ``permissions=`` to anyone who
    can see the changelist, view-only staff included; such actions change
    things (a third-party one too: django_q's resubmit re-runs a task), so
    they need the model's change permission."""

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        actions = super().get_actions(request)
        if self.has_change_permission(request):
            return actions
        return {
            name: action
            for name, action in actions.items()
            if hasattr(action[0], "allowed_permissions")
        }


# A column named so holds a secret or what stands for one (an API key's hash,
# encrypted credentials and signing secrets, a password hash).
_SECRET_NAME = re.compile(r"secret|credential|hash|password")


class SecretLookupGuard:
    """Mixed into every registered ModelAdmin by ``SwitchyardAdminSite``.

    Django lets a changelist filter on any column of its own model from the
    URL; on a secret one (``?key_hash__startswith=8f`` answers "1 result" or
    none) a view-only login would read it a character at a time. Refused:
    Django answers 400."""

    def lookup_allowed(self, lookup: str, value: str, request: Any = None) -> bool:
        model = self.model
        for part in lookup.split(LOOKUP_SEP):
            try:
                field = model._meta.get_field(part)
            except FieldDoesNotExist:
                break
            if _is_secret(field):
                return False
            if not field.is_relation or field.related_model is None:
                break
            model = field.related_model
        return super().lookup_allowed(lookup, value, request)


def _is_secret(field: Any) -> bool:
    text = isinstance(field, (models.CharField, models.TextField))
    return text and bool(_SECRET_NAME.search(field.name))


_GUARDS = (OddInputGuard, UndeclaredActionGuard, SecretLookupGuard)


class SwitchyardAdminSite(admin.AdminSite):
    """Django's admin site, its registered ModelAdmins guarded."""

    def register(
        self, model_or_iterable: Any, admin_class: Any = None, **options: Any
    ) -> None:
        admin_class = admin_class or admin.ModelAdmin
        missing = tuple(g for g in _GUARDS if not issubclass(admin_class, g))
        if missing:
            admin_class = type(
                admin_class.__name__,
                (*missing, admin_class),
                {
                    "__module__": admin_class.__module__,
                    "__qualname__": admin_class.__qualname__,
                },
            )
        super().register(model_or_iterable, admin_class, **options)

    def admin_view(self, view: Callable, cacheable: bool = False) -> Callable:
        return super().admin_view(_uncallable_said(self, view), cacheable)


def _uncallable_said(site: admin.AdminSite, view: Callable) -> Callable:
    """A button on a row whose provider account this deploy cannot call (a
    retired provider, credentials no key opens): nothing was sent, so staff
    are told on the page they came from, not shown a 500."""

    @functools.wraps(view)
    def inner(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            return view(request, *args, **kwargs)
        except registry.ACCOUNT_UNCALLABLE as error:
            logger.error("admin %s: provider account cannot be called", request.path)
            messages.error(
                request,
                "Nothing was done: the provider account cannot be called "
                f"({staff_text(str(error))}). Mend or re-enable the account "
                "under Provider accounts, then try again.",
            )
            return HttpResponseRedirect(_back(request, site))

    return inner


def _back(request: HttpRequest, site: admin.AdminSite) -> str:
    """The admin page the request came from, else the admin's index."""
    referer = request.headers.get("referer", "")
    if referer and url_has_allowed_host_and_scheme(
        referer, {request.get_host()}, require_https=request.is_secure()
    ):
        return referer
    return reverse(f"{site.name}:index")
