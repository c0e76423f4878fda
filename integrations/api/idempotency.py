"""``Idempotency-Key`` for DRF handlers that must not run twice: the first
response is stored and replayed (docs/api.md has the life cycle of a key)."""

import functools
import hashlib
import json
import logging
import re
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any, NamedTuple, TypeVar

from django.conf import settings
from django.db import IntegrityError, connection
from django.db.models.functions import Now
from django.http import HttpResponseBase
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema
from psycopg.types.json import Jsonb
from rest_framework import exceptions, status
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from integrations.api.errors import ApiError
from integrations.commits import (
    commit_group,
    connection_for,
    group_held,
    group_join,
    group_rollback,
)
from integrations.db import drop_if_busy, savepoint_if_nested
from integrations.db import reads_ahead as db_reads_ahead
from integrations.models import ApiKey, IdempotencyRecord
from integrations.reruns import rerunning
from integrations.row_new import row_new
from integrations.row_sql import Prepared, row_insert, row_update_later

logger = logging.getLogger(__name__)

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
# HEADER as the server hands it in: read from META, request.headers would
# first copy every header (~70 Python calls on a request that reads no other).
_META_NAME = "HTTP_" + HEADER.upper().replace("-", "_")
MAX_KEY_LENGTH = 255
# Printable ASCII: anything else in a header is a client bug, not a key.
_VALID_KEY = re.compile(r"^[\x20-\x7e]+$")
# What _check_key enforces, declared in the schema: 1-255 printable ASCII
# characters, not all spaces.
KEY_SCHEMA = {
    "type": "string",
    "minLength": 1,
    "maxLength": MAX_KEY_LENGTH,
    "pattern": r"^[\x20-\x7e]*[\x21-\x7e][\x20-\x7e]*$",
}
# Response headers worth replaying (a 201's Location).
_STORED_HEADERS = ("Location",)

Handler = TypeVar("Handler", bound=Callable[..., HttpResponseBase])
# A read as ``integrations.db.execute_rows`` takes it: (sql, params).
Statement = tuple[str, Sequence[Any]]


def idempotent(
    handler: Handler | None = None,
    *,
    required: bool = True,
    share_commits: bool = False,
    reads_ahead: Callable[[Request], Sequence[Statement]] | None = None,
) -> Handler | Callable[[Handler], Handler]:
    """Decorate a DRF view method (``post``, ``create``, ...) with the mechanism.

    With ``required=False`` a request without the header runs as usual.
    With ``share_commits=True`` the handler runs in an ``integrations.commits``
    group: the claim joins the handler's first commit (made durable before
    its first provider call, so a concurrent request sees it in flight) and
    the response its last. For handlers that call no provider (everything
    then commits at once with the response) or call one only through
    ``integrations.attempts.attempt_run``. ``reads_ahead(request)``: the
    reads such a handler makes first, sent with the claim (``_run_shared``).

    Without it the handler commits on its own and the response after it: a
    worker dying in between leaves the record in flight, and the retry after
    ``IDEMPOTENCY_IN_FLIGHT_TIMEOUT_SECONDS`` runs the handler again. Only
    for handlers whose second run finds what the first did: a service keyed
    by the Idempotency-Key, or a state change a second run refuses or answers
    (docs/api.md, "A worker that dies").
    """

    options = _Options(required, share_commits, reads_ahead)

    def decorate(func: Handler) -> Handler:
        @functools.wraps(func)
        def wrapper(
            view: APIView, request: Request, *args: Any, **kwargs: Any
        ) -> HttpResponseBase:
            return _handle(view, request, func, (args, kwargs), options)

        parameter = OpenApiParameter(
            name=HEADER,
            type=KEY_SCHEMA,
            location=OpenApiParameter.HEADER,
            required=required,
            description=(
                "A unique string per operation: 1-255 printable ASCII characters, "
                "not all spaces. A retry "
                "with the same key and body replays the first response "
                f"(header `{REPLAYED_HEADER}: true`); a different body is a 422, "
                "a request still in progress a 409."
            ),
        )
        # Read by the test that every endpoint chose how it survives a death.
        wrapper.idempotent_shares_commits = share_commits  # type: ignore[attr-defined]
        return extend_schema(parameters=[parameter])(wrapper)  # type: ignore[return-value]

    if handler is not None:
        return decorate(handler)
    return decorate


class _Options(NamedTuple):
    required: bool
    share_commits: bool
    reads_ahead: Callable[[Request], Sequence[Statement]] | None


def _handle(
    view: APIView,
    request: Request,
    handler: Callable[..., HttpResponseBase],
    arguments: tuple[tuple, dict],
    options: _Options,
) -> HttpResponseBase:
    args, kwargs = arguments
    key = key_sent(request)
    if key is None:
        if options.required:
            raise ApiError(
                f"This endpoint requires an {HEADER} header.",
                code="idempotency_key_required",
                param=HEADER,
            )
        return handler(view, request, *args, **kwargs)
    _check_key(key)
    owner = _owner(request)
    # Parsing the body here means malformed JSON is a 400 before any record.
    fingerprint = _fingerprint(request)
    if options.share_commits:
        claim = (owner, key, fingerprint)
        ahead = options.reads_ahead
        # The handler's first reads, sent with the claim (integrations.db).
        reads = ahead(request) if ahead is not None else ()
        return _run_shared(claim, reads, view, request, handler, args, kwargs)
    claimed = _claim(owner, key, request, fingerprint)
    if isinstance(claimed, Response):
        return claimed
    return _run(claimed, view, request, handler, args, kwargs)


def key_sent(request: Request) -> str | None:
    """The request's Idempotency-Key header, if it has one."""
    return request.META.get(_META_NAME)


def _check_key(key: str) -> None:
    if len(key) > MAX_KEY_LENGTH:
        raise ApiError(
            f"{HEADER} is longer than {MAX_KEY_LENGTH} characters.",
            code="idempotency_key_invalid",
            param=HEADER,
        )
    if not key.strip() or not _VALID_KEY.match(key):
        raise ApiError(
            f"{HEADER} must be non-empty printable ASCII.",
            code="idempotency_key_invalid",
            param=HEADER,
        )


def _owner(request: Request) -> str:
    if isinstance(request.auth, ApiKey):
        return f"api-key:{request.auth.pk}"
    user = request.user
    if user is not None and user.is_authenticated:
        return f"user:{user.pk}"
    # Without an owner, one anonymous caller could replay another's response.
    raise exceptions.NotAuthenticated()


def _canonical(data: Any) -> Any:
    if hasattr(data, "lists"):  # QueryDict from a form parser
        return {k: v for k, v in data.lists()}
    return data


def _fingerprint(request: Request) -> str:
    body = json.dumps(
        _canonical(request.data),
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        default=str,
    )
    material = "\n".join([request.method or "", request.get_full_path(), body])
    return hashlib.sha256(material.encode()).hexdigest()


def _is_stale(record: IdempotencyRecord) -> bool:
    # The database's time (read with the record, ``_existing``), as the
    # record's created_at is: the claim and this retry run on two machines.
    now = getattr(record, "database_time", None) or timezone.now()
    if record.created_at < now - timedelta(hours=settings.IDEMPOTENCY_KEY_TTL_HOURS):
        return True
    if record.state == IdempotencyRecord.State.ABANDONED:
        return True
    timeout = timedelta(seconds=settings.IDEMPOTENCY_IN_FLIGHT_TIMEOUT_SECONDS)
    return (
        record.state == IdempotencyRecord.State.IN_FLIGHT
        and record.created_at < now - timeout
    )


def _claim(
    owner: str, key: str, request: Request, fingerprint: str
) -> IdempotencyRecord | Response:
    """Insert the in-flight record, or answer from the one already there."""
    for _attempt in range(3):
        try:
            with savepoint_if_nested():
                record = _new_record(owner, key, request, fingerprint)
            return record
        except IntegrityError:
            existing = _existing(owner, key)
        if existing is None:
            continue  # released by a failed first attempt meanwhile: claim again
        if _is_stale(existing):
            taken = _take_over(existing, request, fingerprint)
            if taken is not None:
                return taken
            continue  # another retry took it first: answer from its record
        return _answer_from(existing, fingerprint)
    raise _in_use()


def _existing(owner: str, key: str) -> IdempotencyRecord | None:
    rows = IdempotencyRecord.objects.filter(owner=owner, key=key)
    if connection.vendor == "postgresql":
        # The database's time in the same statement; SQLite: this machine's.
        rows = rows.annotate(database_time=Now())
    return rows.first()


def _take_over(
    record: IdempotencyRecord, request: Request, fingerprint: str
) -> IdempotencyRecord | None:
    """Make the stale ``record`` this request's in-flight record, in one
    conditional UPDATE that keeps the row: of two retries racing for it one
    wins and the other finds it in flight, never a gap between a delete and
    an insert where a retry would run as a first run. ``None``: lost."""
    rerun = _died_in_flight(record, fingerprint)
    fields: dict[str, Any] = {
        # The database's time it was judged stale by (``_is_stale``).
        "created_at": getattr(record, "database_time", None) or timezone.now(),
        "state": IdempotencyRecord.State.IN_FLIGHT,
        "method": request.method or "",
        "path": request.path[:512],
        "request_hash": fingerprint,
        "response_status": None,
        "response_body": None,
        "response_headers": {},
        "completed_at": None,
    }
    if not rerun:
        fields["done_mark"] = ""  # another request's deeds are not this one's
    taken = IdempotencyRecord.objects.filter(
        pk=record.pk, created_at=record.created_at, state=record.state
    ).update(**fields)
    if not taken:
        return None
    rerun_of = record.created_at if rerun else None
    for name, value in fields.items():
        setattr(record, name, value)
    record.rerun_of = rerun_of
    return record


def _died_in_flight(record: IdempotencyRecord, fingerprint: str) -> bool:
    """The stale record was this same request's, left in flight (or
    abandoned) by a worker that died: the handler now runs as its re-run
    (integrations.reruns)."""
    return (
        record.state
        in (IdempotencyRecord.State.IN_FLIGHT, IdempotencyRecord.State.ABANDONED)
        and record.request_hash == fingerprint
    )


def _claim_joined(
    owner: str, key: str, request: Request, fingerprint: str
) -> IdempotencyRecord | Response:
    """``_claim`` as the first write of the group's transaction. It goes in
    without a savepoint (two round trips fewer): a conflict can only lose
    this one write, so the transaction is rolled back and ``_claim`` answers
    from the record already there."""
    group_join()
    if not group_held():  # a caller's transaction: the savepoint way
        return _claim(owner, key, request, fingerprint)
    try:
        return _new_record(owner, key, request, fingerprint)
    except IntegrityError:
        group_rollback()
    return _claim(owner, key, request, fingerprint)


def _new_record(
    owner: str, key: str, request: Request, fingerprint: str
) -> IdempotencyRecord:
    # One hand-built INSERT (integrations.row_sql): the ORM's costs more.
    # Stamped with the database's time in it: a retry on another machine
    # judges the claim by it (``_is_stale``), a re-run its attempts.
    return row_insert(
        row_new(
            IdempotencyRecord,
            owner=owner,
            key=key,
            method=request.method or "",
            path=request.path[:512],
            request_hash=fingerprint,
            state=IdempotencyRecord.State.IN_FLIGHT,
        ),
        db_clock=_DB_CLOCK,
    )


_DB_CLOCK = ("created_at",)


def _in_use() -> ApiError:
    return ApiError(
        "A request with this Idempotency-Key is still being processed; retry later.",
        code="idempotency_key_in_use",
        status_code=status.HTTP_409_CONFLICT,
        param=HEADER,
    )


def _answer_from(record: IdempotencyRecord, fingerprint: str) -> Response:
    extra = {"idempotency_record": record.pk, "owner": record.owner}
    if record.request_hash != fingerprint:
        logger.info("idempotency key reused for a different request", extra=extra)
        raise ApiError(
            "This Idempotency-Key was used with a different request; use a new key.",
            code="idempotency_key_reused",
            status_code=status.HTTP_422_UNPROCESSABLE_ENTITY,
            param=HEADER,
        )
    if record.state == IdempotencyRecord.State.IN_FLIGHT:
        logger.info("idempotency key in use", extra=extra)
        raise _in_use()
    logger.info("idempotent response replayed", extra=extra)
    headers = {**record.response_headers, REPLAYED_HEADER: "true"}
    return Response(
        record.response_body, status=record.response_status, headers=headers
    )


def _run(
    record: IdempotencyRecord,
    view: APIView,
    request: Request,
    handler: Callable[..., HttpResponseBase],
    args: tuple,
    kwargs: dict,
) -> HttpResponseBase:
    try:
        with rerunning(record.rerun_of, record=record):
            response = _respond(view, request, handler, args, kwargs)
    except Exception:
        # An error of ours, answered 500: the client may retry, as a re-run
        # if the handler had set out to act (it may have committed).
        _let_go(record)
        raise
    except BaseException:
        # A worker timeout (SystemExit) may strike after the handler's own
        # commits: the retry must re-run it, at once, not run anew.
        drop_if_busy()  # a stop inside a statement's reading left it unread
        _abandon(record)
        raise
    # The handler has committed on its own: a death here leaves the record in
    # flight and the retry runs the handler again, which must find its work.
    _finish(record, response)
    return response


def _run_shared(
    claim: tuple[str, str, str],
    reads: Sequence[Statement],
    view: APIView,
    request: Request,
    handler: Callable[..., HttpResponseBase],
    args: tuple,
    kwargs: dict,
) -> HttpResponseBase:
    """``_claim`` then ``_run``, their writes joined to the handler's commits;
    ``reads`` ride in the claim's round trip (``integrations.db.reads_ahead``)."""
    owner, key, fingerprint = claim
    record = None
    try:
        with commit_group(), db_reads_ahead(reads):
            claimed = _claim_joined(owner, key, request, fingerprint)
            if isinstance(claimed, Response):
                return claimed
            record = claimed
            # Its writes roll back with the group: nothing to note for a re-run.
            with rerunning(record.rerun_of):
                response = _respond(view, request, handler, args, kwargs)
            group_join()  # the response shares the handler's last commit
            _finish(record, response)
            return response
    except BaseException:
        # The group rolled back first; a claim committed before a provider
        # call goes now, so the client may retry.
        if record is not None:
            drop_if_busy()
            _release(record)
        raise


def _respond(
    view: APIView,
    request: Request,
    handler: Callable[..., HttpResponseBase],
    args: tuple,
    kwargs: dict,
) -> HttpResponseBase:
    try:
        return handler(view, request, *args, **kwargs)
    except Exception as exc:
        # Render API errors (validation, ApiError) here so a 4xx is stored
        # like any response; anything unhandled re-raises from here.
        return view.handle_exception(exc)


def _finish(record: IdempotencyRecord, response: HttpResponseBase) -> None:
    if (
        response.status_code >= 500
        or not isinstance(response, Response)
        or _transient(response)
    ):
        _let_go(record)
    else:
        _complete(record, response)


def _transient(response: Response) -> bool:
    """A 409 saying that something is under way (``*_in_progress``,
    ``idempotency_key_in_use``): true now, not the key's final answer."""
    if response.status_code != status.HTTP_409_CONFLICT:
        return False
    error = response.data.get("error") if isinstance(response.data, dict) else None
    code = error.get("code") if isinstance(error, dict) else None
    return isinstance(code, str) and (
        code.endswith("_in_progress") or code == "idempotency_key_in_use"
    )


def _let_go(record: IdempotencyRecord) -> None:
    """Free the key for a retry: released (the retry runs anew) unless the
    handler noted an intent (integrations.reruns), which may have committed:
    then abandoned, so the retry re-runs it with that intent."""
    if record.done_mark:
        _abandon(record)
    else:
        _release(record)


def _release(record: IdempotencyRecord) -> None:
    # Only while the record is still this run's: a retry that took it over
    # (a run slower than the in-flight timeout) keeps the row, not the time.
    IdempotencyRecord.objects.filter(
        pk=record.pk,
        created_at=record.created_at,
        state=IdempotencyRecord.State.IN_FLIGHT,
    ).delete()
    logger.info("idempotency record released", extra={"idempotency_record": record.pk})


def _abandon(record: IdempotencyRecord) -> None:
    IdempotencyRecord.objects.filter(
        pk=record.pk,
        created_at=record.created_at,
        state=IdempotencyRecord.State.IN_FLIGHT,
    ).update(state=IdempotencyRecord.State.ABANDONED)
    logger.info("idempotency record abandoned", extra={"idempotency_record": record.pk})


_COMPLETED_FIELDS = (
    "state",
    "response_status",
    "response_body",
    "response_headers",
    "completed_at",
)


def _stored_json(rendered: bytes) -> Prepared:
    """The rendered body as the JSON column's value, sent as it is: decoding
    it for the field to encode again cost ~30 Python calls a response."""
    if connection_for().vendor == "postgresql":
        return Prepared(Jsonb(rendered, dumps=_as_rendered))
    return Prepared(rendered.decode())  # SQLite keeps JSON as text


def _as_rendered(rendered: bytes) -> bytes:
    return rendered


def _complete(record: IdempotencyRecord, response: Response) -> None:
    # Store what the client will see: DRF's encoder turns dates, decimals and
    # UUIDs into the same strings the rendered response carries.
    body = None
    if response.data is not None:
        body = _stored_json(JSONRenderer().render(response.data))
    record.response_headers = {
        h: response[h] for h in _STORED_HEADERS if response.has_header(h)
    }
    record.state = IdempotencyRecord.State.COMPLETED
    record.response_status = response.status_code
    record.response_body = body
    record.completed_at = timezone.now()

    def checked(updated: bool) -> None:
        if not updated:
            logger.warning(
                "idempotency record vanished before completion",
                extra={"idempotency_record": record.pk},
            )

    # In a shared-commits group it goes with the group's commit, in the
    # same statement as the other writes still waiting (integrations.group_sql).
    row_update_later(
        record,
        _COMPLETED_FIELDS,
        where={
            "state": IdempotencyRecord.State.IN_FLIGHT,
            "created_at": record.created_at,
        },
        then=checked,
    )
