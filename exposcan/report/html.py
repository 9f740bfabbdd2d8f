"""HTML: one self-contained page (no scripts, no external assets) for people.

Every value from a peer is escaped; the page holds the same facts as the
JSONL report and nothing more.
"""

from __future__ import annotations

from html import escape
from typing import IO, Any

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
            f"<p>Scope {escape(str(scope.get('reference', '')))} "
            f"({escape(str(scope.get('owner', '')))}), {summary.endpoints_done} of "
            f"{summary.endpoints_planned} endpoints, {summary.duration_s:.1f}s"
            + (" &mdash; <b>interrupted</b>" if summary.interrupted else "")
            + "</p>",
            "<p>"
            + ", ".join(f"{n} {escape(e)}" for e, n in summary.exposure.items() if n)
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
                f"<div><b>{escape(f.severity.value)}</b> {escape(f.title)}<br>"
                f"<small>{escape(f.evidence)}</small></div>"
                for f in r.findings
            )
            out.append(
                f"<tr class={r.exposure.value}><td>{escape(r.host)}:{r.port}</td>"
                f"<td>{r.protocol.value}</td><td>{r.exposure.value}</td>"
                f"<td>{escape(r.ae_title or '')}</td><td>{escape(product)}</td>"
                f"<td>{findings}</td></tr>"
            )
        hidden = sum(1 for r in rows if r.exposure is Exposure.NONE)
        out.append("</table>")
        out.append(f"<p><small>{hidden} endpoint(s) with exposure none not shown.</small></p>")
        self._stream.write("\n".join(out) + "\n")
        self._stream.flush()
