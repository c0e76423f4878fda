"""Every known secret, for redaction: a provider's error text can quote what
we sent (credentials included), and that text must reach neither a log line
nor a stored message.

The secrets are the values ``redaction_secrets()`` gives for every row of the
models named in ``SECRET_REDACTION_MODELS`` (provider accounts' credentials,
storefront webhook endpoints' signing secrets; the setting names the columns
they are stored in). Each process keeps its own copy, and the log filter only
ever reads that copy: a database query inside a logging call could recurse,
deadlock or run inside someone else's transaction. The copy is reloaded

- in this process, once a transaction that saved or deleted a row of those
  models (signals) or wrote a secret column by a queryset update
  (``rows_updated``, from the model's ``SecretRowsQuerySet``: no signal is
  sent for one) commits: one read per transaction, however many rows it
  wrote. Until then the values written are added to the copy and the old
  ones stay: a rollback leaves the old secret live, and masking more for a
  moment is safe, less never;
- in every other process, at its next request or task start (and whenever a
  service calls ``known_secrets(fresh=True)``), when the version stamp in the
  shared cache differs from the one it loaded; those commits bump the stamp
  (before this process reads again, so a secret another process commits
  meanwhile is read here too). Request and task starts look at most every
  ``SECRET_REDACTION_CHECK_SECONDS``. While the cache cannot be reached, a
  digest of the secret columns computed by the database stands in for the
  stamp (one query, rows read and decrypted only when it moved), so what a
  service stores is masked however and wherever the secret was written. The
  first stamp read after an outage reloads (a save elsewhere may have failed
  to bump), and a bump that failed here is retried then.

Secrets that live in no row (an OAuth access token a process uses) are added
with ``remember`` by the process that holds them.
"""

import hashlib
import logging
import threading
import time
import uuid
from collections.abc import Iterable
from typing import Any

from django.apps import apps
from django.conf import settings
from django.core.cache import cache
from django.db import DatabaseError, connection, transaction
from django.db.models.signals import post_delete, post_save
from redis.exceptions import RedisError

from integrations.redis_line import outage
from integrations.secret_masking import MASK as MASK
from integrations.secret_masking import mask_secrets
from integrations.webhooks.messages import storable

# Shorter values (a mode, a flag) would redact ordinary words.
MIN_SECRET_LENGTH = 8
STAMP_KEY = "secrets_registry:stamp"
# Load balancers' and Prometheus' probes answer without the database or the
# cache; the next other request looks at the stamp.
PROBE_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
DEFAULT_MODELS = {"integrations.ProviderAccount": ["credentials_encrypted"]}

logger = logging.getLogger(__name__)
_lock = threading.Lock()
_state: dict[str, Any] = {
    "checked": float("-inf"),
    "stamp": None,
    # The database's digest of the secret columns when the copy was loaded.
    "digest": None,
    # A save here whose stamp bump could not reach the cache.
    "bump_pending": False,
    "loaded": frozenset(),
    # Per thread, what the copy held when that thread wrote a secret in a
    # transaction not yet committed: a reload before the commit sees the
    # uncommitted row, yet a rollback makes the old value live again.
    "held": {},
    "secrets": (),
}
# This thread wrote a secret its next commit must read back.
_local = threading.local()
# Remembered secrets, oldest first; bounded (tokens expire and are replaced).
_remembered: dict[str, None] = {}
REMEMBER_MAX = 256


def known_secrets(*, fresh: bool = False) -> tuple[str, ...]:
    """Every known secret, longest first, from this process's copy.

    ``fresh``: look at the shared stamp now and reload if it moved (a service
    about to store provider text). Without it nothing is read from the
    database or the cache: this is what the log filter calls."""
    if fresh:
        refresh(force_check=True)
    return _state["secrets"]


def refresh(*, force_check: bool = False, strict: bool = False) -> None:
    """Reload the copy if another process changed a secret since it was
    loaded. Called at request and task starts; never from logging.
    ``strict`` (a command's start): a database error is raised, for
    manage.py to say in its one line (a table missing: migrate not run),
    rather than logged before it."""
    interval = getattr(settings, "SECRET_REDACTION_CHECK_SECONDS", 5.0)
    now = time.monotonic()
    if not force_check and now - _state["checked"] < interval:
        return
    try:
        _refresh_now()
    except Exception as exc:
        if strict and isinstance(exc, DatabaseError):
            raise
        # No database (yet): keep what we have, try again later. One line:
        # an outage repeats it at every request and command.
        logger.warning(
            "secret registry refresh failed", extra={"error": type(exc).__name__}
        )
    _state["checked"] = now


def _refresh_now() -> None:
    try:
        stamp = _shared_stamp()
    except Exception as exc:
        if isinstance(exc, RedisError):
            outage.failed(exc)  # the throttle then counts locally, no wait
        # The cache is unreachable, so the database tells whether a secret
        # changed: its digest of them, one query, the rows read only if it
        # moved. Forget the stamp: a save elsewhere meanwhile may not have
        # bumped it.
        with _lock:
            _state["stamp"] = None
        _reload_if_changed()
        return
    if _state["bump_pending"]:
        stamp = _retry_bump()
    if stamp != _state["stamp"]:
        reload(stamp=stamp)


def _reload_if_changed() -> None:
    from integrations.db import savepoint_if_nested

    with savepoint_if_nested():
        digest = _database_digest()
    if digest != _state["digest"]:
        reload()


def _retry_bump() -> str:
    # The cache is back: tell the others about the save they missed. This
    # process reloads too (the stamp it holds is not the new one): it may
    # have missed their saves as well.
    stamp = uuid.uuid4().hex
    cache.set(STAMP_KEY, stamp, timeout=None)
    _state["bump_pending"] = False
    return stamp


def reload(*, stamp: str | None = None, committed: bool = False) -> None:
    """Read every secret again from the database, now (``committed``: after
    this thread's commit, whose written values the read now holds)."""
    from integrations.db import savepoint_if_nested

    values: set[str] = set()
    # Inside a caller's transaction a savepoint: a failing read must not
    # abort that transaction.
    with savepoint_if_nested():
        # The digest first: a write committed between the two reads moves
        # it again, so the next look reloads rather than trust a stale copy.
        digest = _database_digest()
        for model in secret_models():
            for row in model._default_manager.all():
                values.update(_strings(_row_secrets(row)))
    with _lock:
        _state["loaded"] = frozenset(values)
        _state["digest"] = digest
        if committed or not connection.in_atomic_block:
            # Every write of this thread is committed or rolled back now.
            _state["held"].pop(threading.get_ident(), None)
        _publish()
        if stamp is not None:
            _state["stamp"] = stamp


def remember(value: Any) -> None:
    """Mask ``value`` too, in this process: a secret no row holds (an OAuth
    access token). Cheap when it is known already."""
    if not isinstance(value, str) or len(value) < MIN_SECRET_LENGTH:
        return
    if value in _remembered:
        return
    with _lock:
        _remembered[value] = None
        while len(_remembered) > REMEMBER_MAX:
            del _remembered[next(iter(_remembered))]
        _publish()


def _publish() -> None:
    # Called with _lock held.
    values = _state["loaded"].union(_remembered, *_state["held"].values())
    _state["secrets"] = tuple(sorted(values, key=len, reverse=True))


def secret_models() -> list[Any]:
    return [model for model, _ in secret_columns()]


def secret_columns() -> list[tuple[Any, tuple[str, ...]]]:
    """Each model whose rows hold secrets, with the fields they are stored
    in (every concrete field if the setting lists the model only)."""
    names = getattr(settings, "SECRET_REDACTION_MODELS", DEFAULT_MODELS)
    found = []
    for name in names:
        model = apps.get_model(name)
        fields = names[name] if isinstance(names, dict) else None
        if not fields:
            fields = [f.name for f in model._meta.concrete_fields if not f.primary_key]
        found.append((model, tuple(fields)))
    return found


def _database_digest() -> str:
    """A digest of every stored secret column, made by the database: it
    moves with any write to one, however made (a save, a queryset update,
    SQL, a migration). Ciphertexts only: nothing is decrypted."""
    tables = secret_columns()
    if connection.vendor != "postgresql":
        return _digest_in_python(tables)
    quote = connection.ops.quote_name
    parts = []
    for model, fields in tables:
        opts = model._meta
        names = (opts.pk.name, *fields)
        columns = ", ".join(quote(opts.get_field(f).column) for f in names)
        # Names from the models' metadata, not from input.
        parts.append(
            f"(SELECT md5(coalesce(string_agg(row({columns})::text, ','"  # noqa: S608
            f" ORDER BY {quote(opts.pk.column)}), '')) FROM {quote(opts.db_table)})"
        )
    with connection.cursor() as cursor:
        cursor.execute("SELECT " + ", ".join(parts))
        return ":".join(cursor.fetchone())


def _digest_in_python(tables: list[tuple[Any, tuple[str, ...]]]) -> str:
    digest = hashlib.sha256()
    for model, fields in tables:
        rows = model._default_manager.order_by("pk").values_list("pk", *fields)
        for row in rows:
            digest.update(repr(row).encode())
        digest.update(b"|")
    return digest.hexdigest()


def _row_secrets(row: Any) -> Iterable[Any]:
    try:
        return list(row.redaction_secrets())
    except Exception:
        # An undecryptable row (a retired key) holds nothing we could mask.
        logger.warning("secret registry skipped a row", extra={"row": repr(row)})
        return []


def _shared_stamp() -> str:
    outage.check()  # a Redis that just failed costs no second timeout
    stamp = cache.get(STAMP_KEY)
    if stamp is None:
        cache.add(STAMP_KEY, uuid.uuid4().hex, timeout=None)
        stamp = cache.get(STAMP_KEY)
    outage.answered()  # else the next outage here would go unwarned
    return str(stamp)


def bump_stamp() -> str:
    """Tell every other process to reload (after a secret changed); the new
    stamp. Not adopted here: a secret another process committed before this
    bump is in no copy this process read before it."""
    stamp = uuid.uuid4().hex
    cache.set(STAMP_KEY, stamp, timeout=None)
    return stamp


def rows_written(rows: Iterable[Any], *, using: str) -> None:
    """``rows``' secrets were written (or rows deleted: none given), maybe
    in a transaction still open: mask their values now, and read every
    secret again and bump the stamp once it commits (at once without one)."""
    values = set()
    for row in rows:
        values.update(_strings(_row_secrets(row)))
    me = threading.get_ident()
    with _lock:
        loaded, held = _state["loaded"], _state["held"].get(me, frozenset())
        if not (loaded <= held and values <= loaded):  # a rotation: both are
            _state["held"][me] = held | loaded
            _state["loaded"] = loaded | values
            _publish()
    _local.unread = True
    # One read when it commits, however many callbacks: the first one run
    # reads, the rest find nothing unread (a rotation writes hundreds).
    transaction.on_commit(_committed, using=using)


def rows_updated(
    model: Any, fields: Iterable[str], *, using: str, values: dict | None = None
) -> None:
    """A queryset update of ``fields`` of ``model``'s rows (to ``values``
    where known): as ``rows_written``, if a secret field is one. A value the
    database computes (an expression) is read from the rows."""
    stored = dict(secret_columns()).get(model._meta.concrete_model, ())
    written = set(stored).intersection(fields)
    if not written:
        return
    values = values or {}
    if all(isinstance(values.get(name), str) for name in written):
        rows = [model(**{name: values[name] for name in written})]
    else:
        rows = _rows_of(model, using)
    rows_written(rows, using=using)


def _rows_of(model: Any, using: str) -> list[Any]:
    from integrations.db import savepoint_if_nested

    with savepoint_if_nested(using):
        return list(model._default_manager.db_manager(using).all())


def _committed() -> None:
    if not getattr(_local, "unread", False):
        return
    _local.unread = False
    stamp = None
    try:
        stamp = bump_stamp()
    except Exception as exc:
        # Other processes read the database while the cache is unreachable;
        # the bump is retried at this process's next readable stamp.
        with _lock:
            _state["bump_pending"] = True
        logger.warning(
            "secret registry stamp bump failed", extra={"error": type(exc).__name__}
        )
    try:
        # After the bump: what another process committed before it is read.
        reload(stamp=stamp, committed=True)
    except Exception as exc:
        # The written values stay masked; the next look reads again.
        with _lock:
            _state["stamp"] = None
        logger.warning(
            "secret registry reload failed", extra={"error": type(exc).__name__}
        )


def _secret_row_changed(sender: Any, **kwargs: Any) -> None:
    using = kwargs.get("using") or "default"
    if "created" not in kwargs:  # post_delete: nothing new to mask
        rows_written([], using=using)
        return
    fields = kwargs.get("update_fields")
    if fields is None:
        rows_written([kwargs["instance"]], using=using)
    else:  # a save of named fields: a secret moved only if one is named
        rows_updated(sender, fields, using=using, values=vars(kwargs["instance"]))


def _request_or_task_started(**kwargs: Any) -> None:
    environ = kwargs.get("environ") or {}
    if environ.get("PATH_INFO") in PROBE_PATHS:
        return
    refresh()


def _task_finished(task: dict[str, Any] | None = None, **kwargs: Any) -> None:
    # django-q2 stores a failed task's exception text and traceback (and any
    # returned text) in its Task row: mask there what logs mask, as logs do.
    if task is not None and isinstance(task.get("result"), str):
        task["result"] = mask_secrets(task["result"], known_secrets())


def connect_signals() -> None:
    """From ``IntegrationsConfig.ready``: reload on saves, refresh at request
    and task starts."""
    from django.core.signals import request_started
    from django_q.signals import post_execute_in_worker, pre_execute

    for model in secret_models():
        uid = f"secrets_registry.{model._meta.label}"
        post_save.connect(_secret_row_changed, sender=model, dispatch_uid=uid)
        post_delete.connect(_secret_row_changed, sender=model, dispatch_uid=uid)
    request_started.connect(
        _request_or_task_started, dispatch_uid="secrets_registry.request"
    )
    pre_execute.connect(_request_or_task_started, dispatch_uid="secrets_registry.task")
    post_execute_in_worker.connect(
        _task_finished, dispatch_uid="secrets_registry.task_result"
    )


def _strings(values: Iterable[Any]) -> Iterable[str]:
    for value in values:
        if isinstance(value, str) and len(value) >= MIN_SECRET_LENGTH:
            yield value


def staff_text(text: str) -> str:
    """A provider's ``text`` to store for staff: every known secret masked
    in every form the log filter masks (``integrations.secret_masking``),
    after looking at the shared stamp (a service, never logging), and what
    PostgreSQL cannot store (NUL, a lone surrogate) replaced, so the record
    that carries it is kept."""
    return storable(mask_secrets(text, known_secrets(fresh=True)))


def redact_secrets(text: str, secrets: Iterable[str] | None = None) -> str:
    """``text`` with every known secret (or each of ``secrets``) masked in
    every form the log filter masks: a provider may quote what we sent
    URL-encoded or base64-encoded."""
    if not text:
        return text
    return mask_secrets(text, known_secrets() if secrets is None else tuple(secrets))


def forget() -> None:
    """Drop this process's copy (tests; a rotation run in this process)."""
    with _lock:
        _remembered.clear()
        _state.update(
            checked=float("-inf"),
            stamp=None,
            digest=None,
            bump_pending=False,
            loaded=frozenset(),
            held={},
            secrets=(),
        )
    _local.unread = False
