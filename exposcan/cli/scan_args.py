"""``exposcan scan``'s words: its arguments, its help's epilog, and the
:class:`~exposcan.options.ScanOptions` they make (:func:`options_from`). Light imports
only: every command's parser is built at start (``exposcan --version`` too).
"""

from __future__ import annotations

import argparse
from typing import Any

from exposcan.cli import target_args
from exposcan.cli.common import positive_float, positive_int
from exposcan.errors import OptionError
from exposcan.gating import GATE_SEVERITIES, parse_severity
from exposcan.options import Limits, ScanOptions, Timeouts
from exposcan.report import FORMATS
from exposcan.report.tee import document_path, parse_also
from exposcan.scope import parse_port_list
from exposcan.scope.messages import show
from exposcan.scope.ports import check_list_names
from exposcan.sizes import LARGE_SCAN

NAME = "scan"
_DOCUMENTS = ", ".join(document_path("BASE", f) for f in FORMATS if f != "jsonl")

EPILOG = f"""outputs:
  -o/--output FILE     the report, in --format (default jsonl), written as the scan runs
                       (default stdout); a JSONL file is the source of truth and the one
                       --resume continues
  -oA/--output-all BASE
                       nmap's habit: BASE.jsonl as the report (streamed, resumable) and,
                       once the scan is over, every other format beside it, rendered
                       from BASE.jsonl:
                       {_DOCUMENTS}
                       (-oA is one word: -oAx still means -o Ax)
  --also FORMAT=PATH   one more whole document, written at the end (repeatable)
  Documents written at the end replace the file at their path only once whole; an
  interrupted scan writes none of them (resume it, and they are written then).

terminal (when stderr is one):
  a progress line (done/planned, rate, ETA, exposed so far) and a summary table that
  fits the width (COLUMNS is honoured). When the report also goes to the terminal, the
  progress line is erased around each of its lines, never mixed into them.
  NO_COLOR (any value) or --no-color: no colour. --quiet: no progress and no table.
  Ctrl-C (SIGINT): the summary so far and the command that resumes the scan.

gate:
  --fail-on SEVERITY ({"|".join(GATE_SEVERITIES)}): exit 1 when a finding at
  or above it is in the report (all runs of a resumed scan), once every report is
  written; one line on stderr says how many (kept with --quiet). A finding the
  --accept FILE covers is marked accepted in every output and does not count until
  its acceptance expires.
"""


def add_parser(commands: Any, common: argparse.ArgumentParser) -> None:
    defaults_limits, defaults_timeouts = Limits(), Timeouts()
    scan = commands.add_parser(
        "scan",
        parents=[common],
        help="scan targets inside an authorised scope",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    scan.add_argument("targets", nargs="*", metavar="TARGET", help="address, CIDR or hostname")
    target_args.add_arguments(scan)
    scan.add_argument("--scope", required=True, metavar="FILE", help="scope file (TOML)")
    scan.add_argument("--ports", metavar="LIST", help="DICOM ports, e.g. 104,11112,4242-4250")
    scan.add_argument(
        "--web-ports", metavar="LIST", help="HTTP(S) ports, e.g. 8042,443 (default: the scope's)"
    )
    scan.add_argument(
        "--ports-for",
        action="append",
        default=[],
        metavar="NAME=LIST",
        help="the ports of a registered probe's own port list, by its name (the scope "
        "file's key), e.g. echo_ports=7,7000-7010 (repeatable)",
    )
    scan.add_argument(
        "--try-default-credentials",
        action="store_true",
        help="try each web product's documented default credentials, once per host",
    )
    scan.add_argument(
        "--rate",
        type=positive_float("--rate"),
        default=defaults_limits.rate,
        help=f"new connections per second overall (default {defaults_limits.rate:g})",
    )
    scan.add_argument(
        "--per-host-rate",
        type=positive_float("--per-host-rate"),
        default=defaults_limits.per_host_rate,
        help=f"new connections per second per host (default {defaults_limits.per_host_rate:g})",
    )
    scan.add_argument(
        "--first-contact-rate",
        type=positive_float("--first-contact-rate"),
        default=defaults_limits.first_contact_rate,
        help="SYNs per second to addresses that never answered (default "
        f"{defaults_limits.first_contact_rate:g}; an explicit --rate replaces it unless this "
        "is given too: docs/timing.md)",
    )
    scan.add_argument(
        "--silent-after",
        type=int,
        default=ScanOptions().silent_after,
        metavar="N",
        help="a host silent on its first N endpoints is not probed further: its other "
        f"endpoints are host-silent (default {ScanOptions().silent_after}; 0: never)",
    )
    scan.add_argument(
        "--concurrency",
        type=positive_int("--concurrency"),
        default=defaults_limits.concurrency,
        help=f"endpoints probed at once (default {defaults_limits.concurrency})",
    )
    scan.add_argument(
        "--timeout",
        type=positive_float("--timeout"),
        default=defaults_timeouts.endpoint,
        help=f"seconds for one endpoint, connect to close (default {defaults_timeouts.endpoint:g})",
    )
    scan.add_argument("--called-ae", default=None, metavar="TITLE", help="first called AE title")
    scan.add_argument(
        "--ae-titles",
        metavar="FILE",
        help="extra called AE titles to try when the called title is checked (text or TOML)",
    )
    scan.add_argument(
        "--ae-attempts",
        type=positive_int("--ae-attempts"),
        default=ScanOptions().ae_attempts,
        help=f"associations one endpoint may cost (default {ScanOptions().ae_attempts})",
    )
    scan.add_argument(
        "--max-matches",
        type=positive_int("--max-matches"),
        default=ScanOptions().max_matches,
        help=f"stop counting C-FIND matches here (default {ScanOptions().max_matches})",
    )
    scan.add_argument("--no-find", action="store_true", help="never send C-FIND")
    scan.add_argument(
        "--tls-ports", metavar="LIST", help="ports where DICOM starts with TLS (default 2762)"
    )
    scan.add_argument(
        "--format", choices=FORMATS, default=None, help="report format (default jsonl)"
    )
    scan.add_argument("--output", "-o", metavar="FILE", help="report file (default stdout)")
    scan.add_argument(
        "--output-all",
        "-oA",
        metavar="BASE",
        help="BASE.jsonl, and every other format beside it at the end (see outputs below)",
    )
    scan.add_argument(
        "--also",
        action="append",
        default=[],
        type=parse_also,
        metavar="FORMAT=PATH",
        help="also write the report as FORMAT to PATH at the end (repeatable)",
    )
    scan.add_argument(
        "--resume",
        action="store_true",
        help="continue the scan recorded in --output (or --output-all's BASE.jsonl): "
        "finished endpoints are not probed again",
    )
    scan.add_argument(
        "--fail-on",
        type=parse_severity,
        default=None,
        metavar="SEVERITY",
        help=f"exit 1 if a finding at or above this is found ({', '.join(GATE_SEVERITIES)})",
    )
    scan.add_argument(
        "--accept",
        metavar="FILE",
        help="accepted-risk file (TOML; docs/accepted-risk.md): covered findings are marked "
        "accepted in every output and leave --fail-on until their date passes",
    )
    scan.add_argument(
        "--quiet",
        "-q",
        action="store_true",
        help="no progress line and no summary table (errors and the gate line stay)",
    )
    scan.add_argument(
        "--no-color", action="store_true", help="no colour on the terminal (as NO_COLOR=1)"
    )
    from exposcan.cli.worker_command import add_broker

    add_broker(scan, required=False)
    scan.add_argument(
        "--allow-large",
        action="store_true",
        help=f"allow scans of more than {LARGE_SCAN:,} endpoints",
    )


def options_from(args: argparse.Namespace) -> ScanOptions:
    timeout = args.timeout
    timeouts = Timeouts(
        endpoint=timeout,
        connect=min(Timeouts().connect, timeout),
        read=min(Timeouts().read, timeout),
        release=min(Timeouts().release, timeout),
    )
    # An empty --called-ae is a mistake to report, not a request for the default.
    extra: dict[str, Any] = {}
    if args.called_ae is not None:
        extra["called_ae_title"] = args.called_ae
    if args.ae_titles:
        from exposcan.aetitles import load_ae_titles

        extra["ae_titles"] = tuple(t.value for t in load_ae_titles(args.ae_titles))
    if args.web_ports is not None:
        extra["web_ports"] = parse_port_list(args.web_ports, option="--web-ports")
    ports = parse_port_list(args.ports, option="--ports") if args.ports is not None else None
    for name, listed in _ports_for(args.ports_for).items():
        if name == "ports":
            if ports is not None:
                raise OptionError("--ports-for ports= and --ports name one list: give one")
            ports = listed
        elif name == "web_ports":
            if "web_ports" in extra:
                raise OptionError("--ports-for web_ports= and --web-ports name one list: give one")
            extra["web_ports"] = listed
        else:
            extra.setdefault("more_ports", {})[name] = listed
    if args.tls_ports is not None:
        extra["tls_ports"] = parse_port_list(args.tls_ports, option="--tls-ports")
    return ScanOptions(
        ports=ports,
        limits=Limits(
            concurrency=args.concurrency,
            rate=args.rate,
            per_host_rate=args.per_host_rate,
            first_contact_rate=args.first_contact_rate,
        ),
        silent_after=args.silent_after,
        timeouts=timeouts,
        ae_attempts=args.ae_attempts,
        max_matches=args.max_matches,
        find=not args.no_find,
        try_default_credentials=args.try_default_credentials,
        **extra,
    )


def _ports_for(given: list[str]) -> dict[str, tuple[int, ...]]:
    """``--ports-for NAME=LIST``, each NAME a port list of a registered probe (the scope
    file's key: ``echo_ports``; ``ports`` and ``web_ports`` are ``--ports`` and
    ``--web-ports``), named once."""
    if not given:
        return {}
    from exposcan.probes.registry import PROBES  # the registry: only when the flag is used

    lists: dict[str, tuple[int, ...]] = {}
    for text in given:
        name, equals, ports = text.partition("=")
        name = name.strip()
        if not equals or not name:
            raise OptionError(
                f"--ports-for takes NAME=LIST (a port list's name and its ports, e.g. "
                f"echo_ports=7,7000-7010), not {show(text, 40)}"
            )
        check_list_names([name], PROBES.port_lists(), option="--ports-for")
        if name in lists:
            raise OptionError(f"--ports-for names {name} twice: give its ports once")
        lists[name] = parse_port_list(ports, option=f"--ports-for {name}")
    return lists
