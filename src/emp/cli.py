"""`emp`: parse the command line, run one command, turn failures into messages and exit codes.

Tests drive it in process: `main(["apps"], io=Io(...), client_factory=lambda url: client)`.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import click

import emp.commands  # noqa: F401  (importing it registers every command)
from emp import help
from emp.client import ApiError, Unreachable
from emp.output import escape_controls, paint
from emp.registry import Command, find, invoke
from emp.session import ClientFactory, Exit, Fail, Io, Session, UsageFail


def main(
    argv: Sequence[str] | None = None,
    *,
    io: Io | None = None,
    client_factory: ClientFactory | None = None,
) -> int:
    """Run `emp` with argv (default sys.argv[1:]) and return the exit code."""
    io = io or Io()
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        return _run(args, io, client_factory)
    except BrokenPipeError:
        return 1


def _run(args: list[str], io: Io, client_factory: ClientFactory | None) -> int:
    if args and args[0] in ("-h", "--help"):
        io.stdout.write(help.usage())
        return 0
    if args and args[0] == "--version":
        args = ["version"]
    if not args or args[0].startswith("-"):
        io.stderr.write(help.usage())
        return 2
    cmd = find(args[0])
    if cmd is None:
        io.stderr.write(f"Unknown command: {args[0]}\n")
        suggestions = help.suggest(args[0])
        if suggestions:
            io.stderr.write(f"Possible alternatives: {' '.join(suggestions)}\n")
        io.stderr.write("Run 'emp help' for usage.\n")
        return 2
    session = Session(io, client_factory)
    try:
        if not invoke(cmd, session, args[1:]):
            io.stdout.write(help.long_usage(cmd))
        return 0
    except click.UsageError as exc:
        return _usage(session, cmd, _click_message(exc))
    except UsageFail as exc:
        return _usage(session, cmd, exc.message)
    except Fail as exc:
        return _error(session, exc.message, exc.code)
    except Exit as exc:
        return exc.code
    except ApiError as exc:
        return _api_error(session, exc)
    except Unreachable as exc:
        return _error(session, str(exc))
    except KeyboardInterrupt:
        io.stderr.write("\n")
        return 130
    finally:
        session.close()


def _error(session: Session, message: str, code: int = 1) -> int:
    colour = session.colour
    if session.io.stderr_tty:
        message = escape_controls(message)  # errors often quote what the server sent
    prefix = paint("error:", "red", bold=True, enabled=colour)
    session.err(f"{prefix} {paint(message, 'red', enabled=colour)}", raw=True)
    return code


def _api_error(session: Session, exc: ApiError) -> int:
    if exc.id == "two_factor":
        return _error(session, exc.message + " Authorize with `emp authorize`.", 79)
    if exc.id == "unauthorized" and "emp login" not in exc.message:
        return _error(session, exc.message + " Log in with `emp login`.")
    return _error(session, exc.message)


def _usage(session: Session, cmd: Command, message: str | None) -> int:
    if message:
        _error(session, message)
    session.err(f"Usage: emp {cmd.full_usage()}")
    session.err(f"Use 'emp help {cmd.name}' for more information.")
    return 2


def _click_message(exc: click.UsageError) -> str:
    if isinstance(exc, click.NoSuchOption):
        return f"unknown flag: {exc.option_name}"
    if isinstance(exc, click.BadOptionUsage):
        return exc.message.replace("Option", "flag").replace("option", "flag")
    return exc.format_message()
