"""Every ModelAdmin of our apps, as a careless staff member and as an attacker
with a staff login: hostile query strings, hostile form posts, odd action
selections and every change page. Built from ``admin.site._registry``, so an
admin added later is covered without touching this module.

Expected everywhere: no 500 (a form error or a 4xx), nothing half-saved, no
secret rendered, and a view-only staff member changes nothing."""

import datetime
import decimal
import re
import uuid
from collections.abc import Iterator
from html.parser import HTMLParser
from typing import Any

import pytest
import responses
from django import forms
from django.contrib import admin
from django.contrib.auth.models import Permission, User
from django.db import connection, models
from django.test import Client, RequestFactory, override_settings
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from integrations.batch.services import batch_job_create
from integrations.models import ProviderAccount
from integrations.money import EXPONENTS
from storefront_hooks.services import endpoint_create
from tests.factories import ApiKeyFactory, ProviderAccountFactory
from tests.platform.rows_once_suite43a import (
    client_on,
    rows_for_the_module,
    session_of,
)

pytestmark = pytest.mark.django_db

OUR_APPS = {
    "payments",
    "shipping",
    "inventory",
    "notifications",
    "integrations",
    "storefront_hooks",
}
MODELS = sorted(
    (m for m in admin.site._registry if m._meta.app_label in OUR_APPS),
    key=lambda m: m._meta.label,
)
CREDENTIALS = {
    "api_key": "sbx_admin21_credential_sentinel_5d1f",
    "webhook_secret": "whsec_YWRtaW4yMXdlYmhvb2tzZWNyZXRzZW50aW5lbA==",
}


# -- one row of every kind ---------------------------------------------------


# Columns a form checks against another column of the row.
VALUES = {"payments.BlocklistEntry.value": "fraud@example.com"}


def _value(field: models.Field) -> Any:
    """A plausible stored value for a required column nobody named."""
    if f"{field.model._meta.label}.{field.name}" in VALUES:
        return VALUES[f"{field.model._meta.label}.{field.name}"]
    if field.choices:
        return field.choices[0][0]
    name = field.name
    if name == "currency":
        return "EUR"
    if "amount" in name:
        return 1000
    checks = [
        (models.EmailField, "someone@example.com"),
        (models.URLField, "https://example.com/"),
        (models.BooleanField, False),
        (models.IntegerField, 1),
        (models.DecimalField, decimal.Decimal("1")),
        (models.DateTimeField, timezone.now()),
        (models.DateField, datetime.date(2026, 12, 1)),
        (models.TimeField, datetime.time(9, 0)),
        (models.DurationField, datetime.timedelta(0)),
        (models.JSONField, {}),
        (models.UUIDField, uuid.uuid4()),
        (models.GenericIPAddressField, "127.0.0.1"),
        (models.BinaryField, b"{}"),
    ]
    for kind, value in checks:
        if isinstance(field, kind):
            return value
    return f"{name}-{uuid.uuid4().hex[:8]}"[: field.max_length or 40]


class Rows:
    """One saved row per registered model, made on demand, with the secrets
    the pages must never show."""

    def __init__(self) -> None:
        self.account = ProviderAccountFactory(
            kind="payments", slug="admin21-payments", credentials=CREDENTIALS
        )
        self.api_key = ApiKeyFactory(name="admin21-key")
        self.endpoint, self.endpoint_secret = endpoint_create(
            url="http://127.0.0.1:9/admin21", event_types=["payment.*"]
        )
        self.made: dict[type, models.Model] = {
            self.account.__class__: self.account,
            self.api_key.__class__: self.api_key,
            self.endpoint.__class__: self.endpoint,
        }
        # model -> the DELETEs (sql, parameters) its tests make (``_alone``).
        self.deletes: dict[type, list[tuple[str, list[Any]]]] = {}
        self.viewer_actions: dict[type, list[str]] = {}

    @property
    def secrets(self) -> list[str]:
        return [
            *CREDENTIALS.values(),
            self.endpoint_secret,
            self.api_key.raw_key,
            self.api_key.key_hash,
        ]

    def of(self, model: type) -> models.Model:
        if model._meta.label in MADE_BY and model not in self.made:
            self.made[model] = MADE_BY[model._meta.label]()
        if model not in self.made:
            values = {}
            for field in model._meta.concrete_fields:
                if _needs_value(field) or (field.unique and not field.primary_key):
                    values[field.attname] = self._value(model, field)
            self.made[model] = model.objects.create(**values)
        return self.made[model]

    def _value(self, model: type, field: models.Field) -> Any:
        if field.related_model is ProviderAccount:
            return self.account_of(ACCOUNT_KINDS.get(model._meta.app_label)).pk
        return self.of(field.related_model).pk if field.is_relation else _value(field)

    def account_of(self, kind: str | None) -> ProviderAccount:
        """An account of the kind the app's rows name (a shipment's carrier)."""
        if kind is None or kind == self.account.kind:
            return self.account
        return ProviderAccount.objects.filter(kind=kind).first() or (
            ProviderAccountFactory(
                kind=kind, slug=f"admin21-{kind}", credentials=CREDENTIALS
            )
        )


ACCOUNT_KINDS = {
    "shipping": "shipping",
    "inventory": "inventory",
    "notifications": "email",
}


def noop(row: Any) -> None:
    """The handler of the batch job below: it is never run."""


MADE_BY = {
    # A job's row model and handler are read as code: made by the service.
    "integrations.BatchJob": lambda: batch_job_create(
        kind="test.admin21", handler=f"{__name__}.noop", items=[("a", {})], start=False
    ),
}


def _needs_value(field: models.Field) -> bool:
    if field.primary_key or field.null or field.has_default():
        return False
    return not (getattr(field, "auto_now", False) or field.auto_created)


def _made_once() -> tuple[Rows, dict[str, str]]:
    """A row of every model and both logins' sessions, for the whole module."""
    with override_settings(STOREFRONT_WEBHOOK_ALLOW_PRIVATE_ADDRESSES=True):
        made = Rows()
        for model in MODELS:
            made.of(model)
    viewer = User.objects.create_user("admin21-viewer", is_staff=True)
    viewer.user_permissions.set(
        Permission.objects.filter(
            content_type__app_label__in=OUR_APPS, codename__startswith="view_"
        )
    )
    root = User.objects.create_superuser("admin21-root", "root@example.com", "pw")
    return made, {"viewer": session_of(viewer), "superuser": session_of(root)}


@pytest.fixture(scope="module")
def made_once(django_db_setup, django_db_blocker) -> Iterator[tuple[Rows, dict]]:
    # Made per test, the rows and logins were a fifth of the module's time;
    # each test's own changes still roll back with its transaction.
    with rows_for_the_module(django_db_blocker, _made_once) as made:
        yield made


@pytest.fixture
def rows(db, settings, made_once, request) -> Rows:
    # The endpoint points at a closed local port: nothing leaves the machine.
    settings.STOREFRONT_WEBHOOK_ALLOW_PRIVATE_ADDRESSES = True
    model = getattr(getattr(request.node, "callspec", None), "params", {}).get("model")
    if model is not None:
        _alone(made_once[0], model)
    return made_once[0]


def _alone(rows: Rows, model: type) -> None:
    """Only the rows a test of ``model`` had when it made its own: its row,
    what that row names (and so on), and the account, key and endpoint.
    The others are deleted in the test's transaction (rolled back with it),
    so a page that fails on an empty related table (a payment with no
    refund) is still tried."""
    if model in rows.deletes:
        # Every test starts from the same committed rows: the deletes found
        # for the model's first test, again, in one round trip.
        deletes = rows.deletes[model]
        if deletes:
            with connection.cursor() as cursor:
                cursor.execute(
                    ";\n".join(sql for sql, _ in deletes),
                    [value for _, values in deletes for value in values],
                )
        return
    made = {(type(r)._meta.db_table, r.pk): r for r in rows.made.values()}
    for account in ProviderAccount.objects.filter(slug__startswith="admin21-"):
        made.setdefault((ProviderAccount._meta.db_table, account.pk), account)
    keep: set[tuple[str, Any]] = set()
    todo = [rows.made[model], rows.account, rows.api_key, rows.endpoint]
    while todo:
        row = todo.pop()
        key = (type(row)._meta.db_table, row.pk)
        if key in keep:
            continue
        keep.add(key)
        for field in row._meta.concrete_fields:
            named = field.related_model and getattr(row, field.attname)
            target = named and made.get((field.related_model._meta.db_table, named))
            if target is not None:
                todo.append(target)
    gone = [(t, r) for (t, pk), r in made.items() if (t, pk) not in keep]
    done: list[tuple[str, list[Any]]] = []
    with connection.cursor() as cursor:
        seen: set[tuple[str, Any]] = set()
        for table, row in gone:
            value = row._meta.pk.get_db_prep_value(row.pk, connection)
            _delete(cursor, table, row._meta.pk.column, value, seen, done)
    rows.deletes[model] = done


def _delete(
    cursor: Any, table: str, column: str, value: Any, seen: set, done: list
) -> None:
    """Delete the row and, first, the rows naming it (a batch job's items):
    the test's teardown checks every foreign key before its rollback. Each
    DELETE made is added to ``done``."""
    if (table, value) in seen:  # a row naming itself, or one gone already
        return
    seen.add((table, value))
    for child, child_column, child_pk, parent_column in _keys_to(table):
        if parent_column != column:
            continue
        q = connection.ops.quote_name
        # Names from the catalog, quoted; values are parameters.
        sql = f"SELECT {q(child_pk)} FROM {q(child)} WHERE {q(child_column)} = %s"  # noqa: S608
        cursor.execute(sql, [value])
        for (pk,) in cursor.fetchall():
            _delete(cursor, child, child_pk, pk, seen, done)
    q = connection.ops.quote_name
    done.append((f"DELETE FROM {q(table)} WHERE {q(column)} = %s", [value]))  # noqa: S608
    cursor.execute(*done[-1])


_KEYS_TO: dict[str, list[tuple[str, str, str, str]]] = {}


def _keys_to(table: str) -> list[tuple[str, str, str, str]]:
    """(table, column, its pk column, the column named in ``table``) of each
    foreign key to ``table``, read from the catalog once."""
    if not _KEYS_TO:
        _KEYS_TO[""] = []
        with connection.cursor() as cursor:
            cursor.execute(
                """
                SELECT ct.relname, ca.attname, pa.attname, rt.relname, ra.attname
                FROM pg_constraint c
                JOIN pg_class ct ON ct.oid = c.conrelid
                JOIN pg_class rt ON rt.oid = c.confrelid
                JOIN pg_attribute ca ON ca.attrelid = c.conrelid
                     AND ca.attnum = c.conkey[1]
                JOIN pg_attribute ra ON ra.attrelid = c.confrelid
                     AND ra.attnum = c.confkey[1]
                JOIN pg_index i ON i.indrelid = c.conrelid AND i.indisprimary
                JOIN pg_attribute pa ON pa.attrelid = c.conrelid
                     AND pa.attnum = i.indkey[0]
                WHERE c.contype = 'f'
                """
            )
            for child, column, child_pk, parent, parent_column in cursor.fetchall():
                _KEYS_TO.setdefault(parent, []).append(
                    (child, column, child_pk, parent_column)
                )
    return _KEYS_TO.get(table, [])


@pytest.fixture
def viewer(made_once, request) -> Client:
    """Staff with every view permission of our apps and nothing else."""
    return client_on(made_once[1]["viewer"], context=_reads_context(request))


@pytest.fixture
def superuser(made_once, request) -> Client:
    return client_on(made_once[1]["superuser"], context=_reads_context(request))


# Tests that read status and HTML only: their clients record no template
# context (copied at each of a page's few hundred template renders).
CONTEXT_UNREAD = {
    "test_changelist_with_hostile_query_strings_is_never_a_500",
    "test_view_only_staff_cannot_change_add_or_delete",
    "test_an_admins_own_page_with_hostile_input_is_never_a_500",
    "test_a_changelist_refuses_a_lookup_on_a_secret_column",
    "test_the_index_pages_open_for_both_logins_and_show_no_secret",
}


def _reads_context(request: pytest.FixtureRequest) -> bool:
    return request.node.originalname not in CONTEXT_UNREAD


def _url(model: type, page: str, *args: Any) -> str:
    opts = model._meta
    return reverse(f"admin:{opts.app_label}_{opts.model_name}_{page}", args=args)


def _assert_safe(response, rows: Rows, what: str) -> None:
    assert response.status_code < 500, what
    body = response.content.decode(errors="replace")
    shown = [s for s in rows.secrets if s in body]
    assert not shown, f"{what} shows a secret"


def _snapshot(model: type) -> list[dict]:
    return list(model.objects.order_by("pk").values())


def _counts() -> tuple[int, ...]:
    """Rows of every model, in one round trip (it runs around every post)."""
    tables = [connection.ops.quote_name(m._meta.db_table) for m in MODELS]
    # Our own table names, quoted: nothing typed reaches this SQL.
    counts = ", ".join(f"(SELECT count(*) FROM {t})" for t in tables)  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {counts}")
        return cursor.fetchone()


# -- changelists with hostile query strings -----------------------------------


def _hostile_queries(model: type) -> list[dict[str, str]]:
    model_admin = admin.site._registry[model]
    queries: list[dict[str, str]] = [
        {"q": "a\x00b"},
        {"q": "x" * 10_000},
        {"o": "999"},
        {"o": "-999.1.x"},
        {"p": "-1"},
        {"p": "9" * 30},
        {"all": "", "p": "2"},
        {"_popup": "1", "_to_field": "secret"},
        {"_to_field": "credentials_encrypted"},
    ]
    for name in _filter_parameters(model, model_admin):
        for bad in ("\x00", "9" * 30):
            queries.append({name: bad})
    hierarchy = model_admin.date_hierarchy
    if hierarchy:
        for part, bad in [
            ("year", "99999"),
            ("year", "x"),
            ("year", "-1"),
            ("month", "13"),
            ("day", "0"),
            ("day", "\x00"),
        ]:
            queries.append({f"{hierarchy}__year": "2026", f"{hierarchy}__{part}": bad})
    return queries


def _filter_parameters(model: type, model_admin: admin.ModelAdmin) -> list[str]:
    """The query parameter names a changelist's filters read."""
    names = []
    for item in model_admin.list_filter:
        if isinstance(item, tuple):
            item = item[0]
        if not isinstance(item, str):
            names.append(getattr(item, "parameter_name", None) or "")
            continue
        field = model._meta.get_field(item.split("__")[0])
        if field.is_relation:
            names.append(f"{item}__id__exact")
        elif isinstance(field, (models.DateField, models.DateTimeField)):
            names += [f"{item}__gte", f"{item}__lt"]
        else:
            names.append(f"{item}__exact")
    return [name for name in names if name]


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m._meta.label)
def test_changelist_with_hostile_query_strings_is_never_a_500(
    superuser, viewer, rows, model
):
    rows.of(model)
    url = _url(model, "changelist")
    for query in _hostile_queries(model):
        response = superuser.get(url, query)
        _assert_safe(response, rows, f"{url} {query!r:.80}")
    for query in _hostile_queries(model)[:3]:
        _assert_safe(viewer.get(url, query), rows, f"viewer {url} {query!r:.80}")


# -- the change page of every kind --------------------------------------------


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m._meta.label)
def test_every_page_of_a_row_opens_and_shows_no_secret(superuser, viewer, rows, model):
    row = rows.of(model)
    pages = [("change", row.pk), ("history", row.pk), ("delete", row.pk), ("add",)]
    add_form = None
    for page, *args in pages:
        try:
            url = _url(model, page, *args)
        except NoReverseMatch:
            continue
        forms_of = {}
        for who, client in (("superuser", superuser), ("viewer", viewer)):
            response = client.get(url)
            _assert_safe(response, rows, f"{who} GET {url}")
            forms_of[who] = _form(response)
        # The superuser's page as fetched above: the same GET, not made twice.
        form = forms_of["superuser"]
        if page == "add":
            add_form = form
        if form is not None:
            initial = repr({n: form[n].value() for n in form.fields})
            assert not [s for s in rows.secrets if s in initial], url
    for bad in ("0", "x", "9" * 30, "a\x00b", "-1"):
        response = superuser.get(f"{_url(model, 'changelist')}{bad}/change/")
        _assert_safe(response, rows, f"change page of pk {bad!r}")
    _assert_odd_page_parameters(superuser, rows, model, row, add_form)


def _assert_odd_page_parameters(client, rows, model, row, form) -> None:
    """A pasted link: the list's filters kept by a row's page, a popup, and
    an add page's fields (``form``, the superuser's add form) prefilled
    from the query string."""
    kept = {"_changelist_filters": "q=\x00&o=999&p=-1", "_popup": "x"}
    change = _url(model, "change", row.pk)
    _assert_safe(client.get(change, kept), rows, f"GET {change} {kept}")
    add = _url(model, "add")
    for bad in ("a\x00b", BEYOND_BIGINT, "-5", "{", "1,x"):
        prefilled = {name: bad for name in (form.fields if form else [])}
        _assert_safe(client.get(add, prefilled), rows, f"GET {add} with {bad!r}")


def _form(response) -> Any:
    context = getattr(response, "context", None)
    if response.status_code != 200 or context is None or "adminform" not in context:
        return None
    return context["adminform"].form


# -- hostile form posts --------------------------------------------------------


class _FormFields(HTMLParser):
    """The name/value pairs a browser would post from the page's main form."""

    def __init__(self) -> None:
        super().__init__()
        self.pairs: list[tuple[str, str]] = []
        self._inside = False
        self._select: str | None = None
        self._textarea: str | None = None

    def handle_starttag(self, tag: str, attrs: list) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form" and a.get("method", "").lower() == "post":
            self._inside = True
        if not self._inside or ("name" not in a and tag != "option"):
            return
        if tag == "input" and a.get("type") not in {"submit", "button", "file"}:
            ticked = a.get("type") in {"checkbox", "radio"}
            if not ticked or "checked" in a:
                self.pairs.append((a["name"], a.get("value", "on" if ticked else "")))
        elif tag == "select":
            self._select = a["name"]
        elif tag == "option" and self._select and "selected" in a:
            self.pairs.append((self._select, a.get("value", "")))
        elif tag == "textarea":
            self._textarea = a["name"]
            self.pairs.append((a["name"], ""))

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._inside = False
        elif tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None

    def handle_data(self, data: str) -> None:
        if self._textarea:
            name, text = self.pairs[-1]
            self.pairs[-1] = (
                name,
                text + data.lstrip("\n") if not text else text + data,
            )


def _posted(response) -> dict[str, list[str]]:
    parser = _FormFields()
    parser.feed(response.content.decode())
    data: dict[str, list[str]] = {}
    for name, value in parser.pairs:
        data.setdefault(name, []).append(value)
    data.pop("csrfmiddlewaretoken", None)
    return data


BEYOND_BIGINT = "9" * 25
LONG_EMAIL = "a" * 290 + "@example.com"


def _hostile_values(name: str, field: forms.Field) -> list[str]:
    values = ["a\x00b"]
    if isinstance(field, (forms.IntegerField, forms.DecimalField, forms.FloatField)):
        values += [BEYOND_BIGINT, "-5", "NaN"]
    if isinstance(field, forms.JSONField):
        values += ["{", '{"a": 1e999}']
    if "currency" in name:
        values += ["eur", "ZZZ"]
    if isinstance(field, forms.EmailField) or "email" in name:
        values += [LONG_EMAIL]
    if isinstance(field, (forms.DateField, forms.DateTimeField, forms.TimeField)):
        values += ["99999-01-01"]
    return values


def _saved_badly(row: models.Model | None, name: str, value: str) -> str | None:
    """What a hostile value that was saved left behind, if it is wrong."""
    if row is None:
        return None
    stored = getattr(row, name, None)
    if "currency" in name and stored not in EXPONENTS:
        return f"{name} saved as {stored!r}"
    if "amount" in name and isinstance(stored, int) and stored < 0:
        return f"{name} saved negative"
    return None


def _form_pages(model: type, rows: Rows) -> list[tuple[str, Any]]:
    model_admin = admin.site._registry[model]
    pages = [("change", rows.of(model).pk)]
    if model_admin.has_add_permission(_root_request()):
        pages.append(("add", None))
    return pages


def _root_request() -> Any:
    request = RequestFactory().get("/admin/")
    request.user = User(is_superuser=True, is_active=True, is_staff=True)
    return request


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m._meta.label)
def test_a_hostile_form_post_is_a_form_error_and_saves_nothing(superuser, rows, model):
    problems = []
    for page, pk in _form_pages(model, rows):
        url = _url(model, page, *([pk] if pk else []))
        response = superuser.get(url)
        form = _form(response)
        if form is None:
            continue
        baseline = _posted(response)
        if pk is None:
            baseline = _as_new(model, form, baseline, superuser, rows)
        last: dict[str, tuple] = {}  # the rows as the last refused post left them
        for name, field in form.fields.items():
            if name not in baseline and not isinstance(field, forms.BooleanField):
                continue
            for value in _hostile_values(name, field):
                sent = {**baseline, name: [value]}
                problems += _post_once(superuser, rows, model, url, sent, name, last)
    assert not problems


def _as_new(model, form, baseline, client, rows) -> dict[str, list[str]]:
    """The add form filled as the existing row is, its unique values new and
    its empty required fields filled: a post valid but for the hostile one."""
    existing = _posted(client.get(_url(model, "change", rows.of(model).pk)))
    data = {**baseline, **{k: v for k, v in existing.items() if k in baseline}}
    unique = {f.name for f in model._meta.concrete_fields if f.unique}
    for constraint in model._meta.total_unique_constraints:
        unique |= set(constraint.fields)
    for name, field in form.fields.items():
        choosing = isinstance(field, forms.ChoiceField)
        if name in unique and not choosing and any(data.get(name, [])):
            data[name] = [_another(name, data[name][0])]
        if field.required and not any(data.get(name, [])):
            data[name] = [_filled(field)]
    return data


def _another(name: str, value: str) -> str:
    if name == "currency":
        return "USD" if value != "USD" else "GBP"
    return "new-" + value if "@" in value else value + "2"


def _filled(field: forms.Field) -> str:
    choices = [str(v) for v, _ in getattr(field, "choices", []) if v != ""]
    if choices:
        return choices[0]
    if isinstance(field, forms.EmailField):
        return "new@example.com"
    return "filled-by-admin21"


def _post_once(client, rows, model, url, data, name, last: dict) -> list[str]:
    # Only posts ran since the last refused one: the rows it left, not read again.
    before, counts = last.pop("rows", None) or (_snapshot(model), _counts())
    value = data[name][0]
    data = {**data, "_save": ["Save"]}
    response = client.post(url, data)
    what = f"POST {url} {name}={value!r:.40}"
    _assert_safe(response, rows, what)
    if response.status_code == 302:
        row = model.objects.order_by("-pk").first() if "add" in url else None
        row = (
            row if "add" in url else model.objects.filter(pk=rows.of(model).pk).first()
        )
        bad = _saved_badly(row, name, value)
        return [f"{what}: {bad}"] if bad else []
    last["rows"] = (_snapshot(model), _counts())
    if last["rows"] != (before, counts):
        return [f"{what}: refused ({response.status_code}) but rows changed"]
    return []


# -- view-only staff -----------------------------------------------------------


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m._meta.label)
def test_view_only_staff_cannot_change_add_or_delete(superuser, viewer, rows, model):
    row = rows.of(model)
    before, counts = _snapshot(model), _counts()
    change = _url(model, "change", row.pk)
    baseline = _posted(superuser.get(change))
    for url, data in [
        (change, {**baseline, "_save": ["Save"]}),
        (_url(model, "add"), {**baseline, "_save": ["Save"]}),
        (_url(model, "delete", row.pk), {"post": "yes"}),
    ]:
        response = viewer.post(url, data)
        _assert_safe(response, rows, f"viewer POST {url}")
        # A page that only lists (the review queue) sends to another page.
        elsewhere = response.get("Location", _url(model, "changelist"))
        assert response.status_code == 403 or not elsewhere.startswith(
            _url(model, "changelist")
        ), url
    assert _snapshot(model) == before
    assert _counts() == counts


# -- actions with empty or odd selections --------------------------------------


def _actions(model: type) -> list[str]:
    return list(admin.site._registry[model].get_actions(_root_request()))


ACTIONS = [(m, a) for m in MODELS for a in _actions(m)]


@pytest.mark.parametrize(
    ("model", "action"), ACTIONS, ids=[f"{m._meta.label}.{a}" for m, a in ACTIONS]
)
def test_an_action_on_an_empty_or_odd_selection_is_never_a_500(
    superuser, viewer, rows, model, action
):
    row = rows.of(model)
    url = _url(model, "changelist")
    # The viewer first: after the superuser's run (a charge paused) the
    # viewer's run of the same action would change nothing anyway.
    before, counts = _snapshot(model), _counts()
    for extra in ({"post": "yes"}, {"select_across": "1"}):
        data = {"action": action, "index": "0", "_selected_action": [str(row.pk)]}
        response = viewer.post(url, {**data, **extra})
        _assert_safe(response, rows, f"viewer {action}")
    if action not in _viewer_actions(viewer, rows, model):
        assert _snapshot(model) == before, f"viewer ran {action}"
        assert _counts() == counts
    odd = [
        ([], {}),
        ([], {"post": "yes"}),
        (["", " "], {"post": "yes"}),
        ([str(row.pk), str(row.pk), "-1"], {"index": "x", "select_across": "x"}),
    ]
    for selected, extra in odd:
        data = {"action": action, "index": "0", "_selected_action": selected}
        response = superuser.post(url, {**data, **extra})
        _assert_safe(response, rows, f"{action} on {selected} {extra}")


def _viewer_actions(viewer: Client, rows: Rows, model: type) -> list[str]:
    """The actions the viewer's changelist offers; read once per model (they
    follow from the login's permissions, the same in every test)."""
    if model not in rows.viewer_actions:
        response = viewer.get(_url(model, "changelist"))
        form = response.context.get("action_form") if response.context else None
        choices = form.fields["action"].choices if form else []
        rows.viewer_actions[model] = [value for value, _ in choices]
    return rows.viewer_actions[model]


# -- the admins' own pages (get_urls beyond Django's) --------------------------


def _own_pages() -> list[tuple[type, str]]:
    """Each ModelAdmin's extra URLs by name; those of one row take its id."""
    pages = []
    for model in MODELS:
        model_admin = admin.site._registry[model]
        standard = {p.name for p in admin.ModelAdmin.get_urls(model_admin)}
        for pattern in model_admin.get_urls():
            if pattern.name and pattern.name not in standard:
                pages.append((model, pattern.name))
    return pages


def _own_url(name: str, pk: Any) -> str:
    try:
        return reverse(f"admin:{name}")
    except NoReverseMatch:
        return reverse(f"admin:{name}", args=[pk])


OWN_PAGES = _own_pages()


HOSTILE_POST = {
    "amount": "-5",
    "currency": "eur",
    "reason": "a\x00b",
    "key": "\x00",
    "id": "9" * 30,
    "ids": "1,x,\x00",
    "account": "a\x00b",
    "quote_id": "\x00",
    "status": "x" * 300,
}


@pytest.mark.parametrize(
    ("model", "name"), OWN_PAGES, ids=[name for _, name in OWN_PAGES]
)
def test_an_admins_own_page_with_hostile_input_is_never_a_500(
    superuser, viewer, rows, model, name
):
    url = _own_url(name, rows.of(model).pk)
    hostile = {"q": "a\x00b", "ids": "1,x,\x00", "days": "9" * 30, "p": "-1"}
    with responses.RequestsMock(assert_all_requests_are_fired=False):
        for who, client in (("superuser", superuser), ("viewer", viewer)):
            _assert_safe(client.get(url), rows, f"{who} GET {url}")
            _assert_safe(client.get(url, hostile), rows, f"{who} GET {url} hostile")
        before, counts = _snapshot(model), _counts()
        for data in ({}, HOSTILE_POST):
            _assert_safe(viewer.post(url, data), rows, f"viewer POST {url}")
        assert _snapshot(model) == before and _counts() == counts, url
        for data in ({}, HOSTILE_POST, {**HOSTILE_POST, "amount": "9" * 25}):
            _assert_safe(superuser.post(url, data), rows, f"POST {url} {data}")
        if url != _own_url(name, "0"):  # a row's page: ids naming no row
            for bad in ("x", "9" * 30, "a\x00b"):
                odd = url.replace(f"/{rows.of(model).pk}/", f"/{bad}/")
                _assert_safe(superuser.get(odd), rows, f"GET {odd!r}")
                _assert_safe(superuser.post(odd, {}), rows, f"POST {odd!r}")


@pytest.mark.parametrize(
    ("model", "name"), OWN_PAGES, ids=[name for _, name in OWN_PAGES]
)
def test_an_admins_own_form_with_one_hostile_field_is_refused(
    superuser, rows, model, name
):
    url = _own_url(name, rows.of(model).pk)
    with responses.RequestsMock(assert_all_requests_are_fired=False):
        response = superuser.get(url)
        form = (response.context or {}).get("form") if response.context else None
        if not isinstance(form, forms.BaseForm):
            return
        baseline = _posted(response)
        accepted = []
        for field_name, field in form.fields.items():
            for value in [*_hostile_values(field_name, field), *_amounts(field_name)]:
                sent = {**baseline, field_name: [value]}
                response = superuser.post(url, sent)
                _assert_safe(response, rows, f"POST {url} {field_name}={value!r:.40}")
                if response.status_code == 302 and value in {"-5", "eur", "ZZZ"}:
                    accepted.append((field_name, value))
    assert not accepted


def _amounts(name: str) -> list[str]:
    return ["-5", "0", BEYOND_BIGINT] if "amount" in name else []


# -- no secret column can be read by filtering on it ---------------------------

SECRET_NAME = re.compile(r"secret|credential|hash|password")


def _secret_columns() -> list[tuple[type, str]]:
    """Text columns named as secrets (an API key's hash, encrypted
    credentials and signing secrets) of every registered model, and the
    same reached through a row's foreign key (a call's account)."""

    def own(model: type) -> list[str]:
        return [
            field.name
            for field in model._meta.concrete_fields
            if SECRET_NAME.search(field.name)
            and isinstance(field, (models.CharField, models.TextField))
        ]

    found = []
    for model in MODELS:
        found += [(model, name) for name in own(model)]
        for field in model._meta.concrete_fields:
            if field.is_relation and field.related_model is not None:
                related = own(field.related_model)
                found += [(model, f"{field.name}__{name}") for name in related]
    return found


SECRET_COLUMNS = _secret_columns()


@pytest.mark.parametrize(
    ("model", "column"),
    SECRET_COLUMNS,
    ids=[f"{m._meta.label}.{c}" for m, c in SECRET_COLUMNS],
)
def test_a_changelist_refuses_a_lookup_on_a_secret_column(viewer, rows, model, column):
    # Otherwise ``?key_hash__startswith=8f`` answers "1 result" or "0": a
    # view-only login reads the column one character at a time.
    stored: Any = rows.of(model)
    for part in column.split("__"):  # an empty foreign key: any prefix
        stored = getattr(stored, part, None) or "gA"
    url = _url(model, "changelist")
    for lookup in ("__startswith", "__regex", "", "__gt"):
        response = viewer.get(url, {f"{column}{lookup}": stored[:2]})
        refused = response.status_code == 400 or response.get("Location", "").endswith(
            "?e=1"
        )
        assert refused, f"{url}?{column}{lookup}= answers {response.status_code}"


# -- a secret typed into a form is never shown back ----------------------------

TYPED = "typed_admin21_secret_value_0f9e"


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m._meta.label)
def test_a_secret_typed_into_a_form_is_never_shown_back(superuser, rows, model):
    url = _url(model, "change", rows.of(model).pk)
    response = superuser.get(url)
    form = _form(response)
    secret_fields = [
        name
        for name, field in (form.fields.items() if form is not None else [])
        if isinstance(field.widget, forms.PasswordInput)
    ]
    baseline = _posted(response)
    for name in secret_fields:
        # Refused for another field: the page drawn again keeps it blank.
        wrong = next(n for n in baseline if n not in secret_fields)
        again = superuser.post(url, {**baseline, name: TYPED, wrong: "\x00"})
        assert TYPED not in again.content.decode(), f"{name} drawn again"
        saved = superuser.post(url, {**baseline, name: TYPED + name, "_save": "1"})
        assert saved.status_code == 302, name
        for page in ("change", "history"):
            shown = superuser.get(_url(model, page, rows.of(model).pk))
            assert TYPED not in shown.content.decode(), f"{page} shows {name}"
        listed = superuser.get(_url(model, "changelist"))
        assert TYPED not in listed.content.decode()


@pytest.mark.parametrize("app", ["", *sorted(OUR_APPS)])
def test_the_index_pages_open_for_both_logins_and_show_no_secret(
    superuser, viewer, rows, app
):
    url = reverse("admin:app_list", args=[app]) if app else reverse("admin:index")
    for model in MODELS:
        rows.of(model)
    for who, client in (("superuser", superuser), ("viewer", viewer)):
        _assert_safe(client.get(url, {"q": "a\x00b"}), rows, f"{who} GET {url}")
