"""Rendering ``templates/emails/<name>/`` (subject.txt, body.txt, body.html)
with our own Django template engines, so any provider can send any message.

Django renders a missing variable as "", which would send a blank greeting:
these engines render it as a marker instead, and a marker left in the output
is an error naming the variable, raised at send time.
"""

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from django.conf import settings
from django.template import Engine, TemplateDoesNotExist, TemplateSyntaxError
from django.template.context import Context

_MARKER = "\x00missing:%s\x00"
_MARKER_RE = re.compile("\x00missing:([^\x00]*)\x00")
SUBJECT, TEXT, HTML = "subject.txt", "body.txt", "body.html"


# RFC 5322's line limit, and the stored subject's column.
SUBJECT_MAX_LENGTH = 998


class EmailRenderError(ValueError):
    """A template that cannot be rendered; ``code`` is ``template_not_found``,
    ``template_invalid`` or ``missing_variable`` (``param`` names it);
    ``row`` is the bulk recipient whose data failed, counted from 1 (0: not
    one recipient's)."""

    def __init__(
        self, message: str, *, code: str, param: str = "", row: int = 0
    ) -> None:
        super().__init__(message)
        self.code = code
        self.param = param
        self.row = row


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    text: str
    html: str


def templates_dir() -> Path:
    return Path(settings.BASE_DIR) / "templates" / "emails"


@cache
def _engine(autoescape: bool) -> Engine:
    return Engine(
        dirs=[str(templates_dir())],
        autoescape=autoescape,
        string_if_invalid=_MARKER,
        libraries={},
    )


def template_names() -> list[str]:
    """Every template directory that has at least a subject and a text body."""
    root = templates_dir()
    if not root.is_dir():
        return []
    return sorted(
        p.name
        for p in root.iterdir()
        if p.is_dir() and (p / SUBJECT).is_file() and (p / TEXT).is_file()
    )


def render_email(name: str, context: dict[str, Any]) -> RenderedEmail:
    """Subject, text and HTML of template ``name``; EmailRenderError when the
    template is missing or invalid or uses a variable ``context`` lacks."""
    # Bounded as the models store it (100): a longer name is no template, and
    # the loader would fail on it with an OSError (name too long).
    if not re.fullmatch(r"[a-z0-9_\-]{1,100}", name or ""):
        raise EmailRenderError(
            f"Unknown email template {name!r}.", code="template_not_found"
        )
    subject = _render(name, SUBJECT, context, autoescape=False, required=True)
    text = _render(name, TEXT, context, autoescape=False, required=True)
    html = _render(name, HTML, context, autoescape=True, required=False)
    # Header injection: a subject is one line.
    subject = " ".join(subject.split())
    if len(subject) > SUBJECT_MAX_LENGTH:
        raise EmailRenderError(
            f"The rendered subject has {len(subject)} characters; at most "
            f"{SUBJECT_MAX_LENGTH} fit in a message header.",
            code="subject_too_long",
            param="context",
        )
    return RenderedEmail(subject=subject, text=text, html=html)


def _render(
    name: str, part: str, context: dict[str, Any], *, autoescape: bool, required: bool
) -> str:
    try:
        template = _engine(autoescape).get_template(f"{name}/{part}")
    except TemplateDoesNotExist:
        if not required:
            return ""
        raise EmailRenderError(
            f"Email template {name!r} has no {part}.", code="template_not_found"
        ) from None
    except TemplateSyntaxError as exc:
        raise EmailRenderError(
            f"Email template {name}/{part} is invalid: {exc}", code="template_invalid"
        ) from None
    except OSError as exc:
        # The template's file, not the caller's input: one template error.
        raise EmailRenderError(
            f"Email template {name}/{part} cannot be read: {exc.strerror}.",
            code="template_invalid",
        ) from None
    except UnicodeDecodeError:
        # Also the file's fault, not the recipients' or the request's.
        raise EmailRenderError(
            f"Email template {name}/{part} is not UTF-8.", code="template_invalid"
        ) from None
    output = template.render(Context(context, autoescape=autoescape))
    missing = _MARKER_RE.search(output)
    if missing:
        variable = missing.group(1) or "?"
        raise EmailRenderError(
            f"Email template {name}/{part} uses {variable!r}, "
            "which the context does not provide.",
            code="missing_variable",
            param=variable,
        )
    return output
