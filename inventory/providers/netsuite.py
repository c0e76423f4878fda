"""NetSuite (SuiteTalk REST) as JSON over HTTP on the shared client, signed
with token-based authentication (OAuth 1.0a, HMAC-SHA256, realm = account id)
by ``integrations.oauth.netsuite_signer``, or with an OAuth 2.0 client
credentials (M2M) bearer token (``netsuite_m2m``) when the account has a
certificate. Levels come from SuiteQL paged by key (the rows after the last
item and location read, ``limit``/``hasMore``: an offset cannot pass
SuiteQL's 100,000-result cap); purchase orders are upserted by our external
id, so a retried timeout updates the same record. docs/providers/inventory.md.
"""

import re
from collections.abc import Mapping
from dataclasses import replace
from typing import Any, ClassVar
from urllib.parse import quote

import requests

from integrations.client import classify_response
from integrations.errors import (
    ConfigurationError,
    NotProcessed,
    ProviderError,
    Rejected,
)
from integrations.oauth import BearerTokenAuth, OAuth1Signer, netsuite_signer
from integrations.providers.base import ConfigField, HealthResult
from integrations.providers.http import HttpAdapter
from inventory.providers.base import (
    InventoryAdapter,
    LevelsQuery,
    PurchaseOrderRequest,
    PurchaseOrderResult,
    PurchaseOrderStatus,
    StockLevelPage,
    readable_levels,
)
from inventory.providers.erp_currency import looked_up_after_the_order
from inventory.providers.netsuite_currency import (
    SEND_AGAIN,
    SINGLE_CURRENCY_SETTING,
    clean_single_currency,
    found_in_currency,
    upsert_in_currency,
)
from inventory.providers.netsuite_m2m import (
    M2M_CREDENTIALS,
    TOKEN_PATH,
    NetSuiteM2MTokens,
)
from inventory.providers.netsuite_orders import purchase_order_body, read_order
from inventory.providers.netsuite_suiteql import (
    LEVELS_QUERY,
    LevelsCursor,
    changed_since,
    level_record,
    page_items,
    suiteql_literal,
)

SUITEQL_PATH = "/query/v1/suiteql"
PURCHASE_ORDER_PATH = "/record/v1/purchaseOrder"
# NetSuite's largest SuiteQL page.
MAX_PAGE_SIZE = 1000
# SuiteQL returns at most 100,000 results to a query: its pages, read.
QUERY_PAGES = 100
# Oracle's limit on the values of one IN list (ORA-01795).
IN_LIST_SIZE = 1000
# NetSuite sends no Retry-After with its 429 (concurrency limit): a slot
# frees within about a second, so a paced sync waits that long.
CONCURRENCY_RETRY_SECONDS = 1.0
TBA_CREDENTIALS = ("consumer_key", "consumer_secret", "token_id", "token_secret")
_CREDENTIAL_SETS = (
    (TBA_CREDENTIALS, "token-based authentication"),
    (M2M_CREDENTIALS, "OAuth 2.0 M2M"),
)


def _uses_m2m(credentials: Mapping[str, Any]) -> bool:
    return bool(credentials.get("certificate_id") or credentials.get("private_key"))


_ACCOUNT_ID = re.compile(r"^[0-9A-Za-z]+(?:[-_][0-9A-Za-z]+)*$")

_REJECTIONS: Mapping[int, str] = {
    400: "invalid_request",
    404: "not_found",
    405: "invalid_request",
    409: "conflict",
    415: "invalid_request",
    422: "invalid_request",
}


def account_host(account_id: str) -> str:
    """The account's REST host label: ``1234567_SB1`` -> ``1234567-sb1``."""
    if not _ACCOUNT_ID.match(account_id):
        raise ConfigurationError(
            "NetSuite setting 'account_id' is not a NetSuite account id",
            code="missing_credentials",
        )
    return account_id.lower().replace("_", "-")


def netsuite_error_map(response: requests.Response) -> ProviderError | None:
    """NetSuite's error envelope (``o:errorDetails``) as our errors; None
    leaves the client's default by status (401/403, 5xx)."""
    status = response.status_code
    if status == 429:
        throttled = classify_response(response)
        return NotProcessed(
            "NetSuite refused the request: too many in flight",
            code="too_many_requests",
            http_status=429,
            retry_after=(throttled and throttled.retry_after)
            or CONCURRENCY_RETRY_SECONDS,
        )
    code = _REJECTIONS.get(status)
    if code is None:
        return None
    detail, provider_code, path = _error_detail(response)
    error = Rejected(
        f"NetSuite refused the request: {detail}"[:500],
        code=code,
        http_status=status,
        provider_code=provider_code,
    )
    # The field refused, when NetSuite names it (``o:errorPath``), for a
    # caller that can do without it (netsuite_currency).
    error.error_path = path  # type: ignore[attr-defined]
    return error


def _error_detail(response: requests.Response) -> tuple[str, str | None, str]:
    try:
        first = response.json()["o:errorDetails"][0]
        path = first.get("o:errorPath")
        return (
            str(first.get("detail", "")),
            first.get("o:errorCode"),
            path if isinstance(path, str) else "",
        )
    except (ValueError, KeyError, IndexError, TypeError, AttributeError):
        return f"HTTP {response.status_code}", None, ""


class NetSuiteAdapter(BearerTokenAuth, HttpAdapter, InventoryAdapter):
    code = "netsuite"
    display_name = "NetSuite"
    # One of two sets, chosen per account by what is filled in: token-based
    # authentication (four keys), or OAuth 2.0 client credentials (M2M).
    credential_fields: ClassVar[tuple[ConfigField, ...]] = (
        ConfigField(
            "consumer_key",
            "Consumer key",
            required=False,
            help_text="TBA: the integration record's.",
        ),
        ConfigField("consumer_secret", "Consumer secret", required=False),
        ConfigField(
            "token_id",
            "Token ID",
            required=False,
            help_text="TBA: access token of the role.",
        ),
        ConfigField("token_secret", "Token secret", required=False),
        ConfigField(
            "client_id",
            "Client ID",
            required=False,
            help_text="OAuth 2.0 M2M: the integration record's client ID.",
        ),
        ConfigField(
            "certificate_id",
            "Certificate ID",
            required=False,
            help_text="OAuth 2.0 M2M: from OAuth 2.0 Client Credentials (M2M) Setup.",
        ),
        ConfigField(
            "private_key",
            "Certificate private key",
            required=False,
            help_text="OAuth 2.0 M2M: the PEM, unencrypted (line breaks may be "
            "lost in pasting); RSA 3072/4096 bits (signed PS256) or EC "
            "P-256/384/521 (ES256/384/512). Filled in, it is used instead of TBA.",
        ),
    )

    @classmethod
    def credential_errors(cls, credentials: Mapping[str, Any]) -> dict[str, str]:
        """The set in use (M2M once a certificate is given, else TBA) must be
        complete: a half-filled one would only fail at the first call
        (``missing_credentials``). A stray field of the other set is ignored,
        as the adapter ignores it."""
        filled = {name for name, value in credentials.items() if value}
        names, label = _CREDENTIAL_SETS[1 if _uses_m2m(credentials) else 0]
        other = "" if _uses_m2m(credentials) else " (or the three OAuth 2.0 M2M ones)"
        message = f"Needed for {label}{other}: fill in all of its fields."
        return {name: message for name in names if name not in filled}

    settings_fields: ClassVar[tuple[ConfigField, ...]] = (
        ConfigField(
            "account_id",
            "Account ID",
            help_text="As in Setup > Company > Company Information, e.g. "
            "1234567 or 1234567_SB1 for a sandbox.",
        ),
        ConfigField(
            "page_size",
            "SuiteQL page size",
            type="int",
            required=False,
            default=MAX_PAGE_SIZE,
            min_value=1,
            max_value=MAX_PAGE_SIZE,
        ),
        ConfigField(
            SINGLE_CURRENCY_SETTING,
            "Account currency (no Multiple Currencies)",
            required=False,
            help_text="Only for an account without the Multiple Currencies "
            "feature: the ISO code of the one currency it books in, e.g. USD. "
            "Where NetSuite hides its currency records, orders in it go without "
            "a currency and others are refused; empty, such an account refuses "
            "every order.",
        ),
    )

    @classmethod
    def clean_setting(cls, name: str, value: Any) -> Any:
        if name == SINGLE_CURRENCY_SETTING:
            return clean_single_currency(value)
        return value

    # {host}: the account's host label; never a free-form URL, so the signed
    # request only ever goes to NetSuite.
    base_urls: ClassVar[Mapping[str, str]] = {
        "test": "https://{host}.suitetalk.api.netsuite.com/services/rest",
        "live": "https://{host}.suitetalk.api.netsuite.com/services/rest",
    }
    # Incremental: items changed since the cursor, by their record or by a
    # transaction moving their stock (``changed_since``).
    supports_since: ClassVar[bool] = True
    # A full listing (no filter) has a row for every item and location, so
    # a pair it no longer has was deleted there (services.sync_gone).
    lists_every_item: ClassVar[bool] = True
    # A few requests in flight per account is all NetSuite's concurrency
    # governance allows an integration; the admin may raise it per account.
    default_limits: ClassVar[Mapping[str, float]] = {"max_concurrency": 4}
    # Synchronous REST calls take no idempotency key; every write we send is
    # a PUT upsert by external id, which NetSuite applies once however often
    # it is repeated.
    idempotency_header = None
    replays_writes = True
    # Purchase-order rates are JSON numbers, written exactly from Decimals.
    exact_json_numbers = True
    default_headers: ClassVar[Mapping[str, str]] = {
        "Accept": "application/json",
        "Content-Type": "application/json",
    }

    @property
    def account_id(self) -> str:
        value = self.setting("account_id")
        if not value:
            raise ConfigurationError(
                "NetSuite setting 'account_id' is not set", code="missing_credentials"
            )
        return str(value)

    @property
    def base_url(self) -> str:
        return super().base_url.format(host=account_host(self.account_id))

    def signer(self) -> OAuth1Signer:
        """Token-based authentication for one call; a fresh nonce and
        timestamp on every attempt."""
        return netsuite_signer(self.credentials, account_id=self.account_id)

    @property
    def uses_m2m(self) -> bool:
        """OAuth 2.0 client credentials when a certificate is configured."""
        return _uses_m2m(self.credentials)

    def oauth_tokens(self) -> NetSuiteM2MTokens:
        return NetSuiteM2MTokens(
            self.account,
            token_url=self.base_url + TOKEN_PATH,
            credentials=dict(self.credentials),
        )

    def auth_headers(self) -> dict[str, str]:
        # TBA signs each request instead (``call``'s ``auth=``).
        return super().auth_headers() if self.uses_m2m else {}

    def refresh_auth(self) -> bool:
        return self.uses_m2m and super().refresh_auth()

    def error_map(self, response: requests.Response) -> ProviderError | None:
        return netsuite_error_map(response)

    def call(
        self, method: str, path: str, *, operation: str, **kwargs: Any
    ) -> dict[str, Any]:
        """``send`` with the account's bearer token (M2M) or signed with its
        access token (TBA)."""
        if not self.uses_m2m:
            kwargs["auth"] = self.signer()
        return self.send(method, path, operation=operation, **kwargs)

    # --- SuiteQL -------------------------------------------------------------

    def suiteql(
        self, query: str, *, offset: int, limit: int, operation: str
    ) -> dict[str, Any]:
        """One SuiteQL page (``items``, ``hasMore``, ``offset``, ...)."""
        return self.call(
            "POST",
            SUITEQL_PATH,
            operation=operation,
            params={"limit": limit, "offset": offset},
            headers={"Prefer": "transient"},
            json={"q": query},
        )

    def levels_query(self, query: LevelsQuery, after: tuple[int, int] | None) -> str:
        conditions = []
        if query.since is not None:
            conditions.append(changed_since(query.since))
        if query.skus:
            listed = ", ".join(suiteql_literal(sku) for sku in query.skus)
            conditions.append(f"item.itemid IN ({listed})")
        if after is not None:
            # Integers from our own cursor (LevelsCursor.parse): no quoting.
            item, location = after
            conditions.append(
                f"(iil.item > {item} OR (iil.item = {item} "
                f"AND iil.location > {location}))"
            )
        where = " WHERE " + " AND ".join(conditions) if conditions else ""
        # A unique, total order: the keyset above (and any offset) needs it.
        return LEVELS_QUERY + where + " ORDER BY iil.item, iil.location"

    def levels(self, query: LevelsQuery) -> StockLevelPage:
        """One page: the rows after the cursor's key, so no query's offset
        nears SuiteQL's 100,000-result cap however long the listing is."""
        cursor = LevelsCursor.parse(query.cursor)
        limit = self._page_limit(query)
        page = self.suiteql(
            self.levels_query(query, cursor.after),
            offset=cursor.skip,
            limit=limit,
            operation="levels",
        )
        rows = page_items(page)
        records, rejected = readable_levels(level_record, rows)
        has_more = page.get("hasMore") is True
        following = cursor.following(rows, limit) if has_more else None
        return StockLevelPage(
            records=records,
            next_cursor=following.text() if following else "",
            has_more=has_more,
            rejected=rejected,
        )

    def cursor_after(self, query: LevelsQuery) -> str | None:
        # The failed page's rows are unknown, so its successor is asked by
        # offset from the same key: a sync can step past a page that failed.
        cursor = LevelsCursor.parse(query.cursor)
        return replace(cursor, skip=cursor.skip + self._page_limit(query)).text()

    def _page_limit(self, query: LevelsQuery) -> int:
        # One size for every page of a sync, so each offset is a whole number
        # of pages.
        return max(1, min(query.limit, self.page_size()))

    def page_size(self) -> int:
        return min(int(self.setting("page_size") or MAX_PAGE_SIZE), MAX_PAGE_SIZE)

    def health_check(self) -> HealthResult:
        if self.uses_m2m:
            # A cached token proves nothing about the certificate.
            self.oauth_tokens().fetch()
        self.suiteql(
            "SELECT id FROM location", offset=0, limit=1, operation="health_check"
        )
        return HealthResult(ok=True, detail="SuiteQL answered")

    # --- Purchase orders -----------------------------------------------------

    def purchase_order_upsert(
        self, request: PurchaseOrderRequest
    ) -> PurchaseOrderResult:
        """PUT by external id (NetSuite's upsert: the same request twice
        leaves one order, its item lines replaced, not added to), then read
        the order back for its id and status."""
        ids = self.item_ids([line.sku for line in request.lines])
        missing = sorted({line.sku for line in request.lines} - set(ids))
        if missing:
            raise Rejected(
                "NetSuite has no item for SKU " + ", ".join(missing)[:200],
                code="unknown_sku",
            )
        path = self.purchase_order_path(request.external_id)

        def put(currency: str | None) -> dict[str, Any]:
            self.call(
                "PUT",
                path,
                operation="purchase_order_upsert",
                # An upsert that finds the order adds unkeyed lines to its own
                # unless the sublist is replaced: a retry would order them twice.
                params={"replace": "item"},
                json=purchase_order_body(self, request, ids, currency),
                allow_empty=True,
            )
            return self.call("GET", path, operation="get_purchase_order")

        return read_order(upsert_in_currency(self, request, self.currency_rows, put))

    def purchase_order_held(
        self, request: PurchaseOrderRequest
    ) -> PurchaseOrderResult | None:
        # An upsert of an order NetSuite approved or received would replace
        # (or be refused replacing) received lines: read it first instead,
        # and its currency checked as a send's read-back is.
        record = self._record(self.purchase_order_path(request.external_id))
        return None if record is None else self._in_currency(record, request)

    def purchase_order_found_at(
        self, external_reference: str, request: PurchaseOrderRequest
    ) -> PurchaseOrderResult | None:
        record = self._record(_record_path(external_reference))
        if record is None:
            return None
        found = read_order(record)
        # Another order (the caller refuses it by its id): its currency is not
        # ours to compare, nor to keep as what such orders are booked in.
        if found.external_id != request.external_id:
            return found
        with looked_up_after_the_order():
            return self._in_currency(record, request)

    def purchase_order_recorded(
        self, external_reference: str, request: PurchaseOrderRequest
    ) -> PurchaseOrderResult | None:
        # Ours by the reference we stored: compared whatever its external id.
        record = self._record(_record_path(external_reference))
        if record is None:
            return None
        found = read_order(record)
        if found.status == PurchaseOrderStatus.CANCELLED:
            # Nothing to receive or pay: recorded so whatever its currency,
            # even one that cannot be compared (never refused for ever).
            return found
        return self._in_currency(record, request, then="then refresh the order")

    def purchase_order_fetch(self, external_reference: str) -> PurchaseOrderResult:
        return read_order(
            self.call(
                "GET", _record_path(external_reference), operation="get_purchase_order"
            )
        )

    def _record(self, path: str) -> dict[str, Any] | None:
        return self.none_if_not_found(
            lambda: self.call("GET", path, operation="get_purchase_order")
        )

    def _in_currency(
        self,
        record: dict[str, Any],
        request: PurchaseOrderRequest,
        then: str = SEND_AGAIN,
    ) -> PurchaseOrderResult:
        """``request``'s order as NetSuite holds it, once its currency is
        the order's (``found_in_currency``; ``then``: what staff do once it
        is corrected)."""
        rows = self.currency_rows
        return read_order(found_in_currency(self, request, rows, record, then))

    def item_ids(self, skus: list[str]) -> dict[str, str]:
        """Internal ids of the items whose item id (our SKU) is in ``skus``:
        asked IN_LIST_SIZE at a time (Oracle refuses longer IN lists), every
        page of each answer read."""
        wanted = sorted(set(skus))
        found: dict[str, str] = {}
        for start in range(0, len(wanted), IN_LIST_SIZE):
            listed = ", ".join(
                suiteql_literal(sku) for sku in wanted[start : start + IN_LIST_SIZE]
            )
            # SuiteQL over REST takes no bind parameters: every value is a
            # literal quoted by suiteql_literal. Ordered by id for paging.
            query = f"SELECT id, itemid FROM item WHERE itemid IN ({listed})"  # noqa: S608
            query += " ORDER BY id"
            for row in self._every_row(query, operation="netsuite_item_ids"):
                found[str(row.get("itemid"))] = str(row.get("id"))
        return found

    def currency_rows(self, code: str) -> list[dict[str, Any]]:
        """The currency records whose symbol (ISO 4217 code) is ``code``, with
        whether each is inactive (``netsuite_currency`` chooses)."""
        query = (
            "SELECT id, symbol, isinactive FROM currency WHERE symbol = "  # noqa: S608
            f"{suiteql_literal(code)} ORDER BY id"
        )
        return self._every_row(query, operation="netsuite_currency")

    def _every_row(self, query: str, *, operation: str) -> list[dict[str, Any]]:
        """Every row of a query of at most MAX_PAGE_SIZE rows or a few pages
        more (an IN list's answer), page after page while ``hasMore``, up to
        SuiteQL's cap. An answer still saying more past it is no answer: not
        taken for "not there" (an order refused as unknown). Asked by page
        (offsets are multiples of the limit): a short page may still say more."""
        rows: list[dict[str, Any]] = []
        for offset in range(0, QUERY_PAGES * MAX_PAGE_SIZE, MAX_PAGE_SIZE):
            page = self.suiteql(
                query, offset=offset, limit=MAX_PAGE_SIZE, operation=operation
            )
            rows.extend(page_items(page))
            if page.get("hasMore") is not True:
                return rows
        raise NotProcessed(
            f"NetSuite said more rows past SuiteQL's {QUERY_PAGES * MAX_PAGE_SIZE} "
            "results: the look-up was not finished (nothing was sent)",
            code="malformed_response",
        )

    def purchase_order_path(self, external_id: str) -> str:
        return f"{PURCHASE_ORDER_PATH}/eid:{quote(external_id, safe='')}"


def _record_path(external_reference: str) -> str:
    """A purchase order by NetSuite's internal id."""
    return f"{PURCHASE_ORDER_PATH}/{quote(external_reference, safe='')}"
