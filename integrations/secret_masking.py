"""Every known secret masked in a text, as given (the registry's forms) and
in the forms a text may quote it in: percent-encoded (a form-encoded echo of
what we sent: %2B, %2F, %3D, in either case, or "/" left raw as urllib's
quote leaves it), JSON's "\\/" and "\\u002B" (.NET's encoder), JSON-escaped
then percent-encoded ("%5C%2F", "%5C/"), HTML character references ("&#43;"
from Go's html/template, "&#x2F;" from OWASP's encoder, "&sol;"), a base64
key without its "=" padding, in the base64url alphabet ("-" and "_"), or
with its "+" read as a space (a form-decoded echo). The one masker of the
log filter (``integrations.logging``), of provider text kept for staff and
of django-q's stored task results (``integrations.secrets_registry``), and
of a storefront receiver's answer stored for staff
(``storefront_hooks.services.excerpt``). Only real occurrences are masked:
the head of a secret where the text ends only when the caller says the text
was cut off there (a stored answer: its bound, our deadline or a dropped
connection), since ordinary text may end with a credential's first
characters.

The work per text scales with the text, not with how many secrets are known:
they are indexed by their first ``CUT_SECRET_MIN`` characters, the index
updated for what changed in each copy the registry publishes, and the text
is read once, looking each of its windows up."""

import re
from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import dataclass

MASK = "[redacted]"
# The shortest head of a secret masked at the end of a stored excerpt: as
# long as the shortest secret the registry masks at all.
CUT_SECRET_MIN = 8
_ESCAPE = re.compile(
    r"%5[cC](?:%2[fF]|/)"  # JSON's "\/", then percent-encoded
    r"|%[0-9A-Fa-f]{2}|\\/|\\u[0-9A-Fa-f]{4}"
    r"|&#[0-9]{1,7};|&#[xX][0-9A-Fa-f]{1,6};|&(?:sol|plus|equals);"
)
_NAMED = {"&sol;": "/", "&plus;": "+", "&equals;": "="}
# An escape the answer's end cut short ("...%2", "...%5C%", "...\\u00",
# "...&#x2").
_CUT_ESCAPE = re.compile(
    r"(?:%[0-9A-Fa-f]?|%5[cC]%?2?|\\(?:u[0-9A-Fa-f]{0,3})?"
    r"|&(?:#[xX]?[0-9A-Fa-f]{0,6}|[a-z]{0,6}))\Z"
)


@dataclass(frozen=True)
class _Index:
    """Every form looked for, by its first ``CUT_SECRET_MIN`` characters
    (longest first in each bucket), and how many known secrets give each
    form (a form two secrets give stays while one of them does)."""

    heads: dict[str, tuple[str, ...]]
    counts: dict[str, int]


# The registry's copy last indexed, and its index.
_index_cache: list[tuple[tuple[str, ...], _Index]] = [((), _Index({}, {}))]


def mask_secrets(text: str, known: tuple[str, ...], *, cut_end: bool = False) -> str:
    """``text`` with each of ``known`` (the registry's copy) masked, escaped
    or not; with ``cut_end`` (the text was cut off where it ends: a stored
    answer's bound, a deadline, a dropped connection) the head of one at its
    end too, since whole it would have been masked."""
    if not text or not known:
        return text
    index = _index(known)
    spans, cut = _scan(text, index, cut_end)
    plain, starts = _unescaped(text, cut_end)
    if plain != text:
        found, plain_cut = _scan(plain, index, cut_end)
        spans += [(starts[begin], starts[end]) for begin, end in found]
        if plain_cut is not None:
            cut = min(cut, starts[plain_cut]) if cut is not None else starts[plain_cut]
    if cut is None and not spans:
        return text
    if cut is not None:
        spans.append((cut, len(text)))
    return _masked(text, spans)


def _index(known: tuple[str, ...]) -> _Index:
    """The index of ``known``, brought up to date once per copy the registry
    publishes (a new tuple at each reload), not at each text; by what
    changed since the copy last indexed, so the first log record after a
    save pays for that save's secrets, not for every endpoint's."""
    made_for, index = _index_cache[0]  # one read: a pair, never torn
    if made_for is not known:
        # A new index, never the one other threads are reading.
        index = _index_moved(made_for, index, known)
        _index_cache[0] = (known, index)
    return index


def _forms(secret: str) -> set[str]:
    """The forms ``secret`` is looked for in (at least CUT_SECRET_MIN long)."""
    forms = set()
    # The registry's forms hold "\/" escapes; unescaped text holds "/".
    for form in (secret, secret.replace("\\/", "/")):
        # Its "+" read as a space (a form-decoded echo of our body); a
        # base64 key in the base64url alphabet.
        urlsafe = form.replace("+", "-").replace("/", "_")
        for alphabet in (form, form.replace("+", " "), urlsafe):
            # A base64 key quoted without its padding.
            for each in (alphabet, alphabet.rstrip("=")):
                if len(each) >= CUT_SECRET_MIN:
                    forms.add(each)
    return forms


def _index_moved(
    before: tuple[str, ...], index: _Index, known: tuple[str, ...]
) -> _Index:
    """``index`` (of ``before``) made the index of ``known``: the forms of
    the secrets added counted in, of those gone out, and only the buckets
    they fall in sorted again."""
    was, now = set(before), set(known)
    counts = dict(index.counts)
    touched: dict[str, set[str]] = {}  # by head: the forms added to it
    for secrets, step in ((was - now, -1), (now - was, 1)):
        for secret in secrets:
            for form in _forms(secret):
                left = counts.get(form, 0) + step
                if left > 0:
                    counts[form] = left
                else:
                    counts.pop(form, None)
                fresh = touched.setdefault(form[:CUT_SECRET_MIN], set())
                if step > 0:
                    fresh.add(form)
    heads = dict(index.heads)
    for head, fresh in touched.items():
        bucket = {form for form in heads.pop(head, ()) if form in counts} | fresh
        if bucket:
            heads[head] = tuple(sorted(bucket, key=len, reverse=True))
    return _Index(heads, counts)


def _scan(
    text: str, index: _Index, cut_end: bool
) -> tuple[list[tuple[int, int]], int | None]:
    """Where ``text`` holds a form whole, and (``cut_end``) where the head
    of one (at least ``CUT_SECRET_MIN`` characters) begins that runs to its
    end."""
    spans: list[tuple[int, int]] = []
    cut = None
    heads = index.heads
    for at in _head_positions(text, heads):
        bucket = heads.get(text[at : at + CUT_SECRET_MIN])
        if bucket is None:
            continue
        whole = next((s for s in bucket if text.startswith(s, at)), None)
        if whole is not None:
            spans.append((at, at + len(whole)))
        # Only a rest shorter than the bucket's longest form can be a cut
        # one (slicing every rest would be quadratic in a big log record).
        elif (
            cut_end
            and cut is None
            and len(text) - at < len(bucket[0])
            and any(s.startswith(text[at:]) for s in bucket)
        ):
            cut = at
    return spans, cut


def _head_positions(text: str, heads: dict[str, tuple[str, ...]]) -> Iterable[int]:
    """Where a window of ``text`` may begin a form, in order: every window,
    or (fewer heads than windows: a log record, few secrets) where
    ``str.find`` finds a head, in C rather than a Python loop per
    character."""
    windows = len(text) - CUT_SECRET_MIN + 1
    if windows <= 0:
        return ()
    if len(heads) >= windows:
        return range(windows)
    found: set[int] = set()
    for head in heads:
        at = text.find(head)
        while at != -1:
            found.add(at)
            at = text.find(head, at + 1)
    return sorted(found)


class _Starts:
    """Where each character of an unescaped text begins in the text, kept
    as the points where the two part (one entry more: the plain end is the
    text's, where a cut escape ends too). Not a list of every character's:
    a big log record would pay for one int per character."""

    def __init__(self, plain_len: int, text_len: int) -> None:
        self.plain_at: list[int] = [0]
        self.text_at: list[int] = [0]
        self.plain_len, self.text_len = plain_len, text_len

    def __getitem__(self, at: int) -> int:
        if at >= self.plain_len:
            return self.text_len
        point = bisect_right(self.plain_at, at) - 1
        return self.text_at[point] + at - self.plain_at[point]


def _unescaped(text: str, cut_end: bool) -> tuple[str, _Starts]:
    """``text`` with its escapes undone, and where each of its characters
    begins in ``text`` (no escape, whole or cut: ``text`` itself). An
    escape cut short at the end (``cut_end``) is left out."""
    if "%" not in text and "\\" not in text and "&" not in text:
        return text, _Starts(len(text), len(text))
    # A cut escape is at most 9 characters long ("&#x" and six digits).
    cut = _CUT_ESCAPE.search(text, max(0, len(text) - 12)) if cut_end else None
    end = cut.start() if cut else len(text)
    pieces: list[str] = []
    starts = _Starts(0, len(text))
    at = plain = 0
    for match in _ESCAPE.finditer(text, 0, end):
        pieces.append(text[at : match.start()])
        plain += match.start() - at
        pieces.append(_character(match.group()))
        # The escape's one character, then what follows it.
        starts.plain_at += [plain, plain + 1]
        starts.text_at += [match.start(), match.end()]
        plain += 1
        at = match.end()
    pieces.append(text[at:end])
    starts.plain_len = plain + end - at
    return "".join(pieces), starts


def _character(escape: str) -> str:
    """The one character ``escape`` stands for (U+FFFD if none: a reference
    past Unicode's last code point). Always one: ``_unescaped`` maps each
    character back to one escape, and two would shift every span after."""
    if (escape[0] == "%" and len(escape) > 3) or escape == "\\/":
        return "/"  # "%5C%2F", "%5C/": JSON's "\/" percent-encoded
    if escape in _NAMED:
        return _NAMED[escape]
    if escape.startswith("&#"):
        digits = escape[2:-1]
        code = int(digits[1:], 16) if digits[0] in "xX" else int(digits)
    else:
        code = int(escape[2:] if escape[0] == "\\" else escape[1:], 16)
    return chr(code) if code <= 0x10FFFF else "\ufffd"


def _masked(text: str, spans: list[tuple[int, int]]) -> str:
    """``text`` with each span (overlaps joined) replaced by one mask."""
    out: list[str] = []
    at = 0
    for begin, end in sorted(spans):
        if begin < at:  # overlaps the span masked before
            if end > at:
                at = end
            continue
        out += [text[at:begin], MASK]
        at = end
    out.append(text[at:])
    return "".join(out)
