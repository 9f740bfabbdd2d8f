"""The JSON Schema of a JSONL report's records, shipped in the package (docs/report-schema.md).

One schema covers every record kind (``scan``, ``endpoint``, ``evidence``, ``resume``,
``summary``: ``oneOf`` on ``record``). exposcan does not validate with it at run time
(no jsonschema dependency); it is for the tools that read reports, and the test suite
checks real reports against it.
"""

from __future__ import annotations

import json
from importlib import resources
from importlib.resources.abc import Traversable
from typing import Any

from exposcan.probes.registry import PROBES

__all__ = ["SCHEMA_RESOURCE", "load_schema", "schema_path"]

#: Where the schema is inside the package.
SCHEMA_RESOURCE = "data/report.schema.json"


def schema_path() -> Traversable:
    """The schema file: ``importlib.resources.files("exposcan") / "data/report.schema.json"``."""
    return resources.files("exposcan") / SCHEMA_RESOURCE


def load_schema() -> dict[str, Any]:
    """The schema as a dict (hand it to ``jsonschema.Draft202012Validator``).

    The file's protocol enum is the built-in probes'; a probe registered in the scan's
    registry (:data:`exposcan.probes.registry.PROBES`) adds its own, so a report it
    wrote validates while any other protocol still fails; its own port list is a header
    key of its name (and a key of ``options.more_ports``)."""
    schema: dict[str, Any] = json.loads(schema_path().read_text(encoding="utf-8"))
    protocols: list[str] = schema["$defs"]["protocol"]["enum"]
    protocols += [str(p) for p in PROBES.protocols() if str(p) not in protocols]
    # Its own port list too: the header's key of that name, and the options' more_ports.
    scan = schema["$defs"]["scan"]["properties"]
    own = {name: {"$ref": "#/$defs/ports"} for name in PROBES.port_lists() if name not in scan}
    if own:
        scan.update(own)
        scan["options"]["properties"]["more_ports"] = {
            "type": "object",
            "properties": own,
            "additionalProperties": False,
        }
    return schema
