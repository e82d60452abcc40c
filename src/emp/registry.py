"""The command table: each command's usage, help, flags and the function that runs it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import click

from emp.session import Session, UsageFail

AppMode = Literal["none", "needs", "optional"]
Run = Callable[..., None]


@dataclass
class Command:
    """One `emp` command."""

    usage: str  # first word is the name
    short: str
    long: str
    run: Run
    app: AppMode = "none"
    message: bool = False
    json: bool = False
    extra: bool = False
    hidden: bool = False
    alias: str | None = None
    options: Sequence[click.Option] = field(default_factory=list)
    interspersed: bool = True  # False: from the first argument on, see hoist_flags

    @property
    def name(self) -> str:
        """Return the command's name (the first word of its usage)."""
        return self.usage.split(" ", 1)[0]

    def matches(self, word: str) -> bool:
        """Tell whether `word` names this command or its alias."""
        return word in (self.name, self.alias)

    def full_usage(self) -> str:
        """Return the usage line with the common flags, as Empire printed it."""
        parts = []
        if self.app != "none":
            parts.append("[-a <app or remote>]")
        if self.message:
            parts.append("[-m <message>]")
        if not parts:
            return self.usage
        return f"{self.name} {' '.join(parts)}{self.usage[len(self.name) :]}"

    def click_command(self) -> click.Command:
        """Build the click command that parses this command's arguments."""
        params: list[click.Parameter] = [click.Argument(["args"], nargs=-1)]
        params.extend(self.options)
        if self.app != "none":
            params.append(click.Option(["-a", "--app"], default=None))
        if self.message:
            params.append(click.Option(["-m", "--message"], default=None))
        if self.json:
            params.append(click.Option(["--json", "as_json"], is_flag=True, default=False))
        params.append(click.Option(["-h", "--help", "show_help"], is_flag=True, default=False))
        command = click.Command(self.name, params=params, add_help_option=False)
        command.allow_interspersed_args = self.interspersed
        return command


COMMANDS: list[Command] = []


def command(
    usage: str,
    short: str,
    long: str = "",
    *,
    app: AppMode = "none",
    message: bool = False,
    json: bool = False,
    extra: bool = False,
    hidden: bool = False,
    alias: str | None = None,
    options: Sequence[click.Option] = (),
    interspersed: bool = True,
) -> Callable[[Run], Run]:
    """Register a function as an `emp` command."""

    def register(run: Run) -> Run:
        """Add the command to the table."""
        COMMANDS.append(
            Command(
                usage=usage,
                short=short,
                long=long,
                run=run,
                app=app,
                message=message,
                json=json,
                extra=extra,
                hidden=hidden,
                alias=alias,
                options=list(options),
                interspersed=interspersed,
            )
        )
        return run

    return register


def find(word: str) -> Command | None:
    """Return the command named `word` (or aliased so)."""
    return next((c for c in COMMANDS if c.matches(word)), None)


def flag(*names: str, help: str = "") -> click.Option:
    """Return a boolean flag option."""
    return click.Option(list(names), is_flag=True, default=False, help=help)


def option(*names: str, default: Any = None, type: Any = None, help: str = "") -> click.Option:
    """Return an option taking a value."""
    return click.Option(list(names), default=default, type=type, help=help)


def check_args(args: Sequence[str], minimum: int, maximum: int | None = None) -> None:
    """Fail with usage unless the number of arguments is within bounds."""
    if len(args) < minimum or (maximum is not None and len(args) > maximum):
        raise UsageFail()


def invoke(cmd: Command, session: Session, argv: Sequence[str]) -> bool:
    """Parse argv and run the command; return False if only its help was asked for."""
    parser = cmd.click_command()
    if not cmd.interspersed:
        argv = hoist_flags(parser, argv)
    with parser.make_context(cmd.name, list(argv)) as ctx:
        params = dict(ctx.params)
    if params.pop("show_help"):
        return False
    session.app_flag = params.pop("app", None)
    session.message = params.pop("message", None)
    session.json = bool(params.pop("as_json", False))
    args: tuple[str, ...] = params.pop("args")
    if cmd.app == "needs":
        session.app()  # as Empire did: a missing app is reported before anything else
    cmd.run(session, args, **params)
    return True


def hoist_flags(parser: click.Command, argv: Sequence[str]) -> list[str]:
    """Take emp's own flags out of a command line that follows the first argument, as
    Empire's `emp run -d migration -a acme-inc` did, and end emp's part with `--`.

    After the first argument only the exact spellings of emp's flags count (`-a acme`,
    `--app acme`, `--app=acme`, `-d`); anything else (`-la`, `-c`, `--all`) belongs to the
    command. The first `--` ends emp's flags and is not passed on. A flag given twice is a
    usage error: `emp run -a acme grep -a x` is ambiguous.
    """
    flags = _Flags(parser)
    words = list(argv)
    i = 0
    while i < len(words) and words[i].startswith("-") and words[i] != "-":
        if words[i] == "--":
            return words  # the command comes after --: nothing to take out
        i += flags.leading(words[i])
    if i >= len(words):
        return words
    leading, command, hoisted = words[:i], [words[i]], []
    rest = iter(words[i + 1 :])
    for word in rest:
        if word == "--":
            command.extend(rest)
            break
        name, sep = word.partition("=")[:2] if word.startswith("--") else (word, "")
        if name not in flags.takes_value or (sep and not flags.takes_value[name]):
            command.append(word)
            continue
        flags.once(name)
        hoisted.append(word)
        if flags.takes_value[name] and not sep:
            following = next(rest, None)
            if following is None:
                raise UsageFail(f"flag needs an argument: {name}")
            hoisted.append(following)
    return [*leading, *hoisted, "--", *command]


class _Flags:
    """A command's own flags: which take a value, and which were given already."""

    def __init__(self, parser: click.Command) -> None:
        self.takes_value: dict[str, bool] = {}
        self.canonical: dict[str, str] = {}
        self.seen: set[str] = set()
        for param in parser.params:
            if isinstance(param, click.Option) and param.name not in ("show_help", "as_json"):
                for name in param.opts:
                    self.takes_value[name] = not param.is_flag
                    self.canonical[name] = param.opts[-1]

    def leading(self, word: str) -> int:
        """Count the words of a flag before the first argument: 1, or 2 when its value is
        the next word. Short flags may be grouped (`-ds 2X`), as click parses them."""
        if word.startswith("--"):
            name, sep = word.partition("=")[:2]
            self.once(name)
            return 2 if self.takes_value.get(name) and not sep else 1
        for j, letter in enumerate(word[1:], start=1):
            name = "-" + letter
            self.once(name)
            if self.takes_value.get(name):
                return 2 if j == len(word) - 1 else 1
        return 1

    def once(self, name: str) -> None:
        """Record a flag; a second time is a usage error."""
        if name not in self.canonical:
            return  # not emp's: click reports it
        canonical = self.canonical[name]
        if canonical in self.seen:
            raise UsageFail(
                f"flag {canonical} given more than once: to pass it to the command, put the "
                "command after --"
            )
        self.seen.add(canonical)
