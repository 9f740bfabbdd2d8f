"""The command line: a thin shell over the public API.

Each subcommand is a module with ``NAME``, ``add_parser(commands, common)`` and
``async run(args, tty) -> exit code``, listed once in :data:`COMMANDS`. Exit codes:
0 finished, 1 findings at or above ``--fail-on``, 2 user error (one line on stderr: bad
input, or a report that cannot be written), 130/143 interrupted (SIGINT/SIGTERM; one
line), 141 the reader of stdout went away (``exposcan scan | head``: quiet, as a filter
killed by SIGPIPE is to its shell). See :mod:`exposcan.shutdown` for how a signal ends
the process.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import signal
import sys
from collections.abc import Sequence
from types import ModuleType

from exposcan._version import __version__
from exposcan.cli.common import EXIT_USAGE, Parser, error_line
from exposcan.errors import UserError
from exposcan.logs import is_terminal
from exposcan.shutdown import EXIT_SIGPIPE, Interrupts, exit_code, silence_stdout

#: The subcommands, in the order ``--help`` lists them.
COMMANDS: tuple[str, ...] = (
    "scan",
    "report",
    "demo",
    "diff",
    "worker",
    "schedule",
    "scheduler",
)

EPILOG = """exit codes:
  0    done (no finding at or above --fail-on)
  1    a finding at or above --fail-on (scan, report) or a new one (diff)
  2    user error: bad input, or a report that cannot be written (one line on stderr)
  130  interrupted by SIGINT (Ctrl-C); 143 by SIGTERM
"""


def _module(name: str) -> ModuleType:
    return importlib.import_module(f"exposcan.cli.{name}_command")


def build_parser() -> argparse.ArgumentParser:
    # -v is accepted before or after the subcommand: the subparsers share it.
    common = Parser(add_help=False)
    common.add_argument(
        "-v", "--verbose", dest="verbose_after", action="count", default=0, help="more log output"
    )
    parser = Parser(
        prog="exposcan",
        description="Find DICOM/PACS services that answer strangers, within an authorised scope.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"exposcan {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    for name in COMMANDS:
        _module(name).add_parser(commands, common)
    return parser


async def _main_async(args: argparse.Namespace, interrupts: Interrupts) -> int:
    tty = is_terminal(sys.stderr)
    task = asyncio.current_task()
    assert task is not None
    interrupts.attach(task)  # a signal now cancels the task: associations abort as it unwinds
    try:
        code: int = await _module(args.command).run(args, tty)
        return code
    except asyncio.CancelledError:
        if interrupts.signum is not None:
            return exit_code(interrupts.signum)  # the line is said once asyncio.run is done
        raise


def main(argv: Sequence[str] | None = None) -> int:
    from exposcan import logs

    interrupts = Interrupts()
    interrupts.install()
    try:
        args = build_parser().parse_args(argv)
        args.verbose += args.verbose_after
        # the words as given: an interrupted scan prints the command that resumes it
        args.argv = list(argv) if argv is not None else sys.argv[1:]
        logs.configure(verbosity=args.verbose)
        code = asyncio.run(_main_async(args, interrupts))
        if interrupts.signum is not None and code == exit_code(interrupts.signum):
            interrupts.say(interrupts.line())  # not before: asyncio.run's end could hang
        return code
    except UserError as exc:
        error_line(f"exposcan: error: {exc}")
        return EXIT_USAGE
    except KeyboardInterrupt:  # a signal before the event loop ran, or Ctrl-C in a library
        signum = interrupts.signum or signal.SIGINT
        interrupts.signum = signum
        interrupts.say(interrupts.line())
        return exit_code(signum)
    except BrokenPipeError:  # stdout's reader went away (the demo, --help | head)
        silence_stdout()
        return EXIT_SIGPIPE
    finally:
        interrupts.restore()
