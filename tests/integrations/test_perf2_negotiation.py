"""perf2: the API's content negotiation answers as DRF's does, for any
Accept header, format and renderers."""

from hypothesis import given, settings
from hypothesis import strategies as st
from rest_framework import renderers
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

from integrations.api.negotiation import ApiContentNegotiation
from payments.api import PaymentCreateView


class _AnyRenderer(renderers.BaseRenderer):
    media_type = "*/*"
    format = "any"


class _TextRenderer(renderers.BaseRenderer):
    media_type = "text/*"
    format = "text"


_RENDERERS = [
    renderers.JSONRenderer(),
    renderers.BrowsableAPIRenderer(),
    renderers.StaticHTMLRenderer(),
    _AnyRenderer(),
    _TextRenderer(),
]
accepts = st.one_of(
    st.none(),
    st.sampled_from(
        [
            "*/*",
            "",
            " */*",
            "*/* ",
            "*/*;q=0.5",
            "application/json",
            "application/json; indent=4",
            "text/html",
            "text/*",
            "image/png",
            "application/json, */*",
            "*/*, text/html",
        ]
    ),
    st.text(alphabet="*/;=, abcjsonqtx.0123", max_size=20),
)


def _answer(negotiation, accept, query, suffix, chosen):
    extra = {} if accept is None else {"HTTP_ACCEPT": accept}
    request = Request(APIRequestFactory().get("/api/v1/payments", query, **extra))
    try:
        renderer, media_type = negotiation.select_renderer(request, chosen, suffix)
    except Exception as exc:  # the error is the answer
        return type(exc).__name__, str(exc)
    return type(renderer).__name__, media_type


@settings(max_examples=400, deadline=None)
@given(
    accept=accepts,
    query=st.sampled_from([{}, {"format": "json"}, {"format": "api"}, {"x": "1"}]),
    suffix=st.sampled_from([None, "", "json", "html", "any"]),
    chosen=st.lists(st.sampled_from(_RENDERERS), max_size=3, unique=True),
)
def test_negotiation_answers_as_drf_does(accept, query, suffix, chosen) -> None:
    old = _answer(DefaultContentNegotiation(), accept, query, suffix, chosen)
    new = _answer(ApiContentNegotiation(), accept, query, suffix, chosen)
    assert new == old


def test_the_api_uses_it() -> None:
    assert isinstance(
        PaymentCreateView().get_content_negotiator(), ApiContentNegotiation
    )
