"""HTML: one self-contained page (no scripts, no external assets) for people.

Every interpolated value goes through :func:`_e`: cleaned once more
(:mod:`exposcan.peertext`: no control, bidi or invisible format character can reorder or
hide what the page shows) and HTML-escaped with quotes, so it is safe in text and in a
quoted attribute alike. The page holds the same facts as the JSONL report and nothing
more.
"""

from __future__ import annotations

import html
from typing import IO, Any

from exposcan import peertext
from exposcan.results import EndpointResult
from exposcan.summary import Summary
from exposcan.vocabulary import Exposure

_STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;width:100%}th,td{border-bottom:1px solid #ddd;padding:4px 8px;
text-align:left;vertical-align:top}th{background:#f4f4f4}
.query{background:#fdd}.store{background:#fec}.echo{background:#ffe}.protected{background:#efe}
.none{color:#888}small{color:#666}
"""


def _e(value: object) -> str:
    return html.escape(peertext.clean(str(value), 4096), quote=True)


class HtmlWriter:
    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream
        self._header: dict[str, Any] = {}
        self._rows: list[EndpointResult] = []

    def start(self, header: dict[str, Any]) -> None:
        self._header = header

    def endpoint(self, result: EndpointResult) -> None:
        self._rows.append(result)

    def finish(self, summary: Summary) -> None:
        scope = self._header.get("scope", {})
        out = [
            "<!doctype html><html lang=en><meta charset=utf-8>",
            "<title>exposcan report</title>",
            f"<style>{_STYLE}</style>",
            "<h1>exposcan report</h1>",
            f"<p>Scope {_e(scope.get('reference', ''))} "
            f"({_e(scope.get('owner', ''))}), {_e(summary.endpoints_done)} of "
            f"{_e(summary.endpoints_planned)} endpoints, {_e(f'{summary.duration_s:.1f}')}s"
            + (" &mdash; <b>interrupted</b>" if summary.interrupted else "")
            + "</p>",
            "<p>"
            + ", ".join(f"{_e(n)} {_e(e)}" for e, n in summary.exposure.items() if n)
            + "</p>",
            "<table><tr><th>endpoint</th><th>protocol</th><th>exposure</th><th>AE title</th>"
            "<th>product</th><th>findings</th></tr>",
        ]
        rows = sorted(self._rows, key=lambda r: (-r.exposure.rank, r.host, r.port))
        for r in rows:
            if r.exposure is Exposure.NONE:
                continue
            product = ""
            if r.fingerprint is not None:
                product = " ".join(
                    x
                    for x in (r.fingerprint.product or r.fingerprint.toolkit, r.fingerprint.version)
                    if x
                )
            findings = "".join(
                f"<div><b>{_e(f.severity.value)}</b> {_e(f.title)}<br>"
                f"<small>{_e(f.evidence)}</small></div>"
                for f in r.findings
            )
            out.append(
                f'<tr class="{_e(r.exposure.value)}"><td>{_e(r.host)}:{_e(r.port)}</td>'
                f"<td>{_e(r.protocol.value)}</td><td>{_e(r.exposure.value)}</td>"
                f"<td>{_e(r.ae_title or '')}</td><td>{_e(product)}</td>"
                f"<td>{findings}</td></tr>"
            )
        hidden = sum(1 for r in rows if r.exposure is Exposure.NONE)
        out.append("</table>")
        out.append(f"<p><small>{_e(hidden)} endpoint(s) with exposure none not shown.</small></p>")
        self._stream.write("\n".join(out) + "\n")
        self._stream.flush()
