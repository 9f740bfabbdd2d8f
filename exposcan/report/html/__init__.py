"""HTML: one self-contained page to hand to management (no script, no external asset).

The page (template ``exposcan/data/report.html.j2``) opens with the verdict, then the
scan and its authorisation, an overview (counts and inline SVG bar charts), the findings
grouped by id with what to do (the accepted ones apart), and an appendix with the
evidence per endpoint. It prints on A4.

It streams as every format does (``start``, ``endpoint``, ``finish``) and keeps only what
the page shows: an endpoint with exposure ``protected`` or more, or with any finding, is
kept whole; the others (a /16 that is mostly closed ports) are counted by status, so a
large empty scan is a short page and a small memory.

Every value the template prints goes through :func:`_escape`: cleaned once more
(:mod:`exposcan.peertext`: no control, bidi or invisible format character can reorder or
hide what the page shows) and HTML-escaped with quotes, so it is safe in text and in a
quoted attribute alike; jinja2's autoescape is on besides. The page holds the facts of
the JSONL report and nothing more.
"""

from __future__ import annotations

import functools
import html
from collections import Counter
from datetime import UTC, datetime
from importlib import resources
from typing import IO, Any

import jinja2
from markupsafe import Markup

from exposcan import peertext
from exposcan.report.html import text
from exposcan.report.html.page import Page, build_page
from exposcan.results import EndpointResult
from exposcan.summary import Summary
from exposcan.vocabulary import Exposure

__all__ = ["HtmlWriter", "render_page"]

_TEMPLATE = "report.html.j2"


def _escape(value: object) -> Markup:
    """What the template prints for ``value``: cleaned and escaped, quotes included."""
    if isinstance(value, Markup):  # the template's own markup (a macro's output)
        return value
    if value is None:
        return Markup("")
    # Markup of text escaped on this very line: safe by construction.
    return Markup(html.escape(peertext.clean(str(value), 4096), quote=True))  # noqa: S704


def _number(value: int) -> str:
    return f"{value:,}"


@functools.cache
def _template() -> jinja2.Template:
    source = resources.files("exposcan").joinpath("data", _TEMPLATE).read_text("utf-8")
    environment = jinja2.Environment(
        autoescape=True,
        finalize=_escape,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    environment.filters["num"] = _number
    environment.filters["day"] = text.day
    return environment.from_string(source)


def render_page(page: Page, stream: IO[str]) -> None:
    """Write ``page`` as HTML to ``stream``."""
    for chunk in _template().generate(page=page):
        stream.write(chunk)


class HtmlWriter:
    """The streaming writer; ``now`` is when accepted risks are judged (default: the
    time the page is written)."""

    def __init__(self, stream: IO[str], *, now: datetime | None = None) -> None:
        self._stream = stream
        self._now = now
        self._header: dict[str, Any] = {}
        self._kept: list[EndpointResult] = []
        self._quiet: Counter[str] = Counter()

    def start(self, header: dict[str, Any]) -> None:
        self._header = header

    def endpoint(self, result: EndpointResult) -> None:
        if result.exposure >= Exposure.PROTECTED or result.findings:
            self._kept.append(result)
        else:
            self._quiet[str(result.status)] += 1

    def finish(self, summary: Summary) -> None:
        now = self._now or datetime.now(UTC)
        page = build_page(self._header, summary, self._kept, self._quiet, now=now)
        render_page(page, self._stream)
        self._stream.flush()
