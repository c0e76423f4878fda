"""A receiver's answer as stored for staff (``WebhookDelivery.last_response``):
every known secret masked as the registry masks it (``staff_text``), and
also where the answer escapes it, percent-encoded (a form-encoded echo of
what we sent: %2B, %2F, %3D, in either case, or "/" left raw as urllib's
quote leaves it) or JSON's "\\/", and the head of one cut off where the
answer ends. Only here: the log filter's registry keeps its few forms per
secret (each log record pays for every form), and no answer is logged."""

import re

from integrations.secrets_registry import MASK, known_secrets, staff_text

# The shortest head of a secret masked at the end of a stored excerpt: as
# long as the shortest secret the registry masks at all.
CUT_SECRET_MIN = 8
_ESCAPE = re.compile(r"%[0-9A-Fa-f]{2}|\\/")
# An escape the answer's end cut short ("...%" or "...%2").
_CUT_ESCAPE = re.compile(r"%[0-9A-Fa-f]?\Z")
# The registry's copy last unescaped, and what it gave.
_unescaped_cache: list[tuple[tuple[str, ...] | None, list[str]]] = [(None, [])]


def staff_excerpt(excerpt: str) -> str:
    """``excerpt`` as stored for staff: known secrets masked, escaped or
    not, and the head of one cut off at its end too (whole, it would have
    been masked): by the excerpt's bound, or earlier by the deadline or a
    dropped connection."""
    text = staff_text(excerpt)
    plain, starts = _unescaped(text)
    known = known_secrets()
    secrets = _unescaped_secrets(known)
    found = _found(plain, secrets) if plain != text else []
    spans = [(starts[begin], starts[end]) for begin, end in found]
    # A head cut off is looked for as the answer has it too: cut right after
    # the "\" of a "\/", or in a secret holding a literal "%41" (a credential).
    heads = [_cut_head(text, known)]
    head = _cut_head(plain, secrets)
    if head is not None:
        heads.append(starts[head])
    cut = [at for at in heads if at is not None]
    if cut:
        spans.append((min(cut), len(text)))
    return _masked(text, spans)


def _unescaped_secrets(known: tuple[str, ...]) -> list[str]:
    """``known`` as the unescaped text holds them (the registry's forms hold
    "\\/" escapes; it holds "/"). Made once per copy the registry publishes
    (a new tuple at each reload), not at each stored answer."""
    made_for, secrets = _unescaped_cache[0]  # one read: a pair, never torn
    if made_for is not known:
        secrets = list(dict.fromkeys(s.replace("\\/", "/") for s in known))
        _unescaped_cache[0] = (known, secrets)
    return secrets


def _unescaped(text: str) -> tuple[str, list[int]]:
    """``text`` with its escapes undone, and where each of its characters
    begins in ``text`` (one entry more: the end of ``text``, where a cut
    escape ends too)."""
    cut = _CUT_ESCAPE.search(text)
    end = cut.start() if cut else len(text)
    pieces: list[str] = []
    starts: list[int] = []
    at = 0
    for match in _ESCAPE.finditer(text, 0, end):
        pieces.append(text[at : match.start()])
        starts.extend(range(at, match.start()))
        escape = match.group()
        pieces.append("/" if escape == "\\/" else chr(int(escape[1:], 16)))
        starts.append(match.start())
        at = match.end()
    pieces.append(text[at:end])
    starts.extend(range(at, end))
    starts.append(len(text))
    return "".join(pieces), starts


def _found(plain: str, secrets: list[str]) -> list[tuple[int, int]]:
    spans = []
    for secret in secrets:
        start = plain.find(secret)
        while start != -1:
            spans.append((start, start + len(secret)))
            start = plain.find(secret, start + len(secret))
    return spans


def _cut_head(plain: str, secrets: list[str]) -> int | None:
    """Where the head of a secret begins that runs to the end of ``plain``
    (at least ``CUT_SECRET_MIN`` characters of it), if one does."""
    for secret in secrets:
        tail = plain[1 - len(secret) :]
        start = tail.find(secret[:CUT_SECRET_MIN])
        while start != -1:
            if secret.startswith(tail[start:]):
                return len(plain) - len(tail) + start
            start = tail.find(secret[:CUT_SECRET_MIN], start + 1)
    return None


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
