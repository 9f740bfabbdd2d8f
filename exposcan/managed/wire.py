"""A shard job as JSON, and the plan a worker rebuilds from it.

The job carries what the submitter's plan was made of (the scope's content, the targets
asked for, every option), never the plan itself: the worker makes its own with
:func:`exposcan.scan.prepare`, so the scope and the authorisation are checked again on the
worker, on the worker's clock, before its first packet. A queue is no way around them: a
job whose scope does not rebuild to the digest it names, whose authorisation has expired,
or whose plan differs from the submitter's (another count of hosts or endpoints) is
refused, not run.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from exposcan._version import __version__
from exposcan.errors import UserError
from exposcan.options import Limits, ScanOptions, Timeouts
from exposcan.probes.registry import SkipKey
from exposcan.scope import Scope, parse_scope

#: Bumped when a job's fields change; a worker refuses jobs of another exposcan version.
JOB_FORMAT = 1


class JobRefused(UserError):
    """A shard job this worker will not run (one line: why)."""


@dataclass(frozen=True, kw_only=True)
class ShardJob:
    #: names this submission (its records' stream; a resumed scan is a new run)
    run: str
    shard: int
    shards: int
    scope: dict[str, Any]
    targets: tuple[str, ...]
    #: a listed scan's shard: its (address, port) pairs, planned again as any list is
    listed: tuple[tuple[str, int], ...] = ()
    options: dict[str, Any]
    hosts: int
    endpoints: int
    skip: tuple[SkipKey, ...] = ()
    version: str = __version__

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["format"] = JOB_FORMAT
        data["targets"] = list(self.targets)
        data["skip"] = [list(key) for key in self.skip]
        data["listed"] = [list(pair) for pair in self.listed]
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ShardJob:
        if not isinstance(data, Mapping):
            raise JobRefused("a shard job must be a JSON object")
        version = data.get("version")
        if data.get("format") != JOB_FORMAT or version != __version__:
            raise JobRefused(
                f"job from exposcan {version!s:.40}, this worker is exposcan {__version__}: "
                "run workers of the submitter's version"
            )
        try:
            return cls(
                run=str(data["run"]),
                shard=int(data["shard"]),
                shards=int(data["shards"]),
                scope=dict(data["scope"]),
                targets=tuple(str(t) for t in data["targets"]),
                listed=tuple((str(h), int(p)) for h, p in data.get("listed", ())),
                options=dict(data["options"]),
                hosts=int(data["hosts"]),
                endpoints=int(data["endpoints"]),
                skip=tuple((str(h), int(p), str(k)) for h, p, k in data["skip"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise JobRefused(f"malformed shard job ({type(exc).__name__})") from None


def options_to_wire(options: ScanOptions) -> dict[str, Any]:
    """Every option, AE titles included (the report keeps only their count)."""
    data: dict[str, Any] = json.loads(json.dumps(asdict(options)))
    # which limits the user chose decides whether the first-contact budget applies
    data["limits"]["chosen"] = list(options.limits.chosen())
    return data


def options_from_wire(data: Mapping[str, Any]) -> ScanOptions:
    values: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
    try:
        values["limits"] = Limits.from_dict(data["limits"])
        values["timeouts"] = Timeouts(**data["timeouts"])
        return ScanOptions(**values)
    except (KeyError, TypeError) as exc:
        raise JobRefused(f"options this worker does not know ({type(exc).__name__})") from None


def scope_text(content: Mapping[str, Any]) -> str:
    """A scope file with ``content`` (:meth:`Scope.to_dict`): parsed again by the worker as
    any scope file is. JSON strings and lists are TOML's basic strings and arrays."""
    authorisation = content["authorisation"]
    lines = ["[authorisation]"]
    lines += [f"{key} = {json.dumps(authorisation[key])}" for key in ("owner", "reference")]
    lines.append(f"expires = {_toml_datetime(authorisation['expires'])}")
    lines += ["", "[scope]"]
    if content.get("site") is not None:
        lines.append(f"site = {json.dumps(content['site'])}")
    lines += [
        f"{key} = {json.dumps(list(content[key]))}"
        for key in ("include", "exclude", "ports", "web_ports")
    ]
    return "\n".join(lines) + "\n"


def _toml_datetime(value: object) -> str:
    text = str(value)
    # an ISO date or offset date-time, as Authorisation.to_dict writes it: nothing else
    if not text or any(not (ch.isalnum() or ch in "-:+.") for ch in text):
        raise JobRefused("the job's authorisation has no valid expiry")
    return text


def rebuild_scope(job: ShardJob) -> Scope:
    try:
        scope = parse_scope(scope_text(job.scope), source=str(job.scope.get("source", "job")))
    except (KeyError, TypeError) as exc:
        raise JobRefused(f"the job's scope is incomplete ({type(exc).__name__})") from None
    except UserError as exc:  # what a scope file with these contents would be told
        raise JobRefused(str(exc)) from None
    if scope.digest != job.scope.get("digest"):
        raise JobRefused("the job's scope does not match its digest")
    return scope


def skip_for(skip: Iterable[SkipKey], hosts: object) -> tuple[SkipKey, ...]:
    """The finished endpoints (``--resume``) of the hosts in ``hosts`` (a shard)."""
    return tuple(key for key in skip if key[0] in hosts)  # type: ignore[operator]
