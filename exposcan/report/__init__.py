"""Reports: JSONL (streaming, the source of truth), JSON, and the terminal view."""

from exposcan.report.json_ import JsonWriter
from exposcan.report.jsonl import JsonlWriter, read_jsonl
from exposcan.report.terminal import ProgressLine, render_summary
from exposcan.report.writer import ReportWriter, make_writer, open_output

FORMATS = ("jsonl", "json", "csv", "sarif", "html", "defectdojo")

__all__ = [
    "FORMATS",
    "JsonWriter",
    "JsonlWriter",
    "ProgressLine",
    "ReportWriter",
    "make_writer",
    "open_output",
    "read_jsonl",
    "render_summary",
]
