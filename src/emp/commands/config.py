"""Config vars: env, get, set, unset, env-load."""

from __future__ import annotations

from emp import dotenv
from emp.commands.releases import verdict
from emp.parsing import ParseError
from emp.registry import check_args, command, flag, option
from emp.session import Fail, Session

VERSION = option("-v", "--version", "release")


def _config(s: Session, release: str | None) -> dict[str, str]:
    version = release.removeprefix("v") if release else None
    return s.client.config(s.app(), version)


@command(
    "env",
    "list env vars",
    """
Show all env vars, sorted, one KEY=value per line, values as they
are (as Empire's emp printed them).

Options:

    -v <version>  show the env vars of a release (e.g. v3)
    --dotenv      quote and escape values (KEY="value"), so that the
                  output can be loaded again with env-load

Example:

    $ emp env --dotenv > app.env && emp env-load -a other app.env
""",
    app="needs",
    json=True,
    options=[VERSION, flag("--dotenv", "dotenv_")],
)
def env(s: Session, args: tuple[str, ...], release: str | None, dotenv_: bool) -> None:
    """Print the config vars: raw `KEY=value` lines, or dotenv lines with --dotenv."""
    check_args(args, 0, 0)
    values = _config(s, release)
    if s.json:
        s.print_json(values)
        return
    if dotenv_:
        s.out(dotenv.write(values), end="")
        return
    s.out("".join(f"{key}={values[key]}\n" for key in sorted(values)), end="")


@command(
    "get <name>",
    "get env var",
    """
Get the value of an env var.

Options:

    -v <version>  read it from a release (e.g. v3)

Example:

    $ emp get BUILDPACK_URL
    http://github.com/kr/heroku-buildpack-inline.git
""",
    app="needs",
    extra=True,
    options=[VERSION],
)
def get(s: Session, args: tuple[str, ...], release: str | None) -> None:
    """Print one config var."""
    check_args(args, 1, 1)
    values = _config(s, release)
    if args[0] not in values:
        raise Fail(f"No such key as '{args[0]}'")
    s.out(values[args[0]])


@command(
    "set <name>=<value>...",
    "set env var",
    """
Set the value of one or more env vars.

Example:

    $ emp set BUILDPACK_URL=http://github.com/kr/heroku-buildpack-inline.git
    Set env vars and restarted myapp.
""",
    app="needs",
    message=True,
)
def set_(s: Session, args: tuple[str, ...]) -> None:
    """Set config vars."""
    name = s.app()
    check_args(args, 1)
    changes: dict[str, str | None] = {}
    for arg in args:
        key, sep, value = arg.partition("=")
        if not sep:
            raise Fail(f"bad format: `{arg}`. See 'emp help set'")
        changes[key] = value
    s.write(lambda message: s.client.update_config(name, changes, message))
    _released(s, name)
    s.err(f"Set env vars and restarted {name}.")


def _released(s: Session, name: str) -> None:
    """Fail when the release a config change made did not roll out (its release phase
    failed, or it was not healthy): the change did not take, and the old release keeps
    running with its config."""
    newest = s.client.releases(name, 1)
    if newest:
        verdict(name, newest[0])


@command(
    "unset <name>...",
    "unset env var",
    """
Unset one or more env vars.

Example:

    $ emp unset BUILDPACK_URL
    Unset env vars and restarted myapp.
""",
    app="needs",
    message=True,
)
def unset(s: Session, args: tuple[str, ...]) -> None:
    """Unset config vars."""
    name = s.app()
    check_args(args, 1)
    changes: dict[str, str | None] = dict.fromkeys(args)
    s.write(lambda message: s.client.update_config(name, changes, message))
    _released(s, name)
    s.err(f"Unset env vars and restarted {name}.")


@command(
    "env-load <file>",
    "load env file",
    """
Loads environment variables from a dotenv file (- for stdin):
KEY=value lines, # comments, export prefixes, 'single' and
"double" quoted values; double-quoted values may span lines and
take backslash escapes (\\n, \\t, \\", \\\\).

Example:

    $ emp env-load app.env
    Updated env vars from app.env and restarted myapp.
""",
    app="needs",
    message=True,
)
def env_load(s: Session, args: tuple[str, ...]) -> None:
    """Set config vars from a dotenv file."""
    name = s.app()
    check_args(args, 0, 1)
    source = args[0] if args else "-"
    try:
        text = s.io.stdin.read() if source == "-" else _read(source)
        values = dotenv.parse(text, "<stdin>" if source == "-" else source)
    except ParseError as exc:
        raise Fail(str(exc)) from exc
    if not values:
        raise Fail(f"no env vars found in {source}")
    changes: dict[str, str | None] = dict(values)
    s.write(lambda message: s.client.update_config(name, changes, message))
    _released(s, name)
    s.err(f"Updated env vars from {source} and restarted {name}.")


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except OSError as exc:
        raise Fail(f"cannot read {path}: {exc.strerror or exc}") from exc
