"""A product's patient list served as an HTML table (PixelMed's, Conquest's): one GET,
the rows counted by the link each one carries, the page dropped."""

from __future__ import annotations

from exposcan.probes.web.answer import MARKER_WINDOW
from exposcan.probes.web.conversation import Conversation
from exposcan.probes.web.observation import Outcome, WebService

__all__ = ["count_rows"]


async def count_rows(
    probe: Conversation,
    path: str,
    purpose: str,
    service: WebService,
    *,
    header: bytes,
    row: bytes,
    fold_case: bool = False,
) -> None:
    """GET ``path``; a 200 showing ``header`` in its first bytes (``fold_case``: compared in
    lower case) is the list, its patients the occurrences of ``row``. A refusal of this
    path alone is recorded as one."""
    answer = await probe.get(path, purpose, accept="text/html")
    if answer is None:
        return
    body = answer.body
    window = body[:MARKER_WINDOW].lower() if fold_case else body[:MARKER_WINDOW]
    if answer.status == 200 and header in window and not probe.same_as_baseline(answer):
        count = body.count(row)
        probe.checks.add(
            service,
            path,
            Outcome.LISTED if count else Outcome.EMPTY,
            patients=count,
            # A list longer than the body cap: at least this many patients.
            cap=count if answer.truncated else None,
        )
        return
    refused = probe.refusal(answer)
    if refused in (Outcome.REFUSED, Outcome.LOGIN):
        probe.checks.add(service, path, refused)
