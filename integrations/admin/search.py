"""Admin search by a public id without reading every row.

Django's search ORs its fields: ``icontains`` on each (a scan, whatever the
indexes), and ``=public_id`` is ``iexact`` (UPPER() on both sides, so the
unique index goes unused). On a table of millions, pasting a payment's id
took a scan of them all. A term shaped like a public id is first looked up
exactly in the search fields that hold one; only if that finds nothing does
Django's search run as before. So an id that names a row lists that row
alone, not also the rows that quote the id in another field (an order
reference "reorder-pay_..."): searching by the quoting field's own text
still finds those.
"""

import re

from django.db.models import Q, QuerySet
from django.http import HttpRequest

from integrations.public_ids import ALPHABET, MAX_LENGTH, RANDOM_LENGTH

# A prefix of letters ending in "_", then the random part.
_ID_SHAPE = re.compile(
    rf"[a-z]{{1,{MAX_LENGTH - RANDOM_LENGTH - 1}}}_[{ALPHABET}]{{{RANDOM_LENGTH}}}"
)


class PublicIdSearchMixin:
    """Put it before ``admin.ModelAdmin``; it reads the admin's own
    ``search_fields`` (those ending in ``public_id``, with or without ``=``)."""

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet, search_term: str
    ) -> tuple[QuerySet, bool]:
        term = search_term.strip().lower()
        paths = [
            field.lstrip("=^@")
            for field in self.get_search_fields(request)  # type: ignore[attr-defined]
            if field.lstrip("=^@").endswith("public_id")
        ]
        if paths and _ID_SHAPE.fullmatch(term):
            exact = Q()
            for path in paths:
                exact |= Q(**{path: term})
            found = queryset.filter(exact)
            if found.exists():
                # Public ids are unique and reached through foreign keys, so
                # no row comes twice.
                return found, False
        return super().get_search_results(  # type: ignore[misc]
            request, queryset, search_term
        )
