"""`emp help`: the command list, per-command help, topics and suggestions for typos."""

from __future__ import annotations

from dataclasses import dataclass

from emp.output import go_quote, table
from emp.registry import COMMANDS, Command

# `emp help` lists commands in this order, as Empire did.
ORDER = (
    *("create", "apps", "ps", "releases", "release-info", "rollback", "scale", "restart"),
    *("env-load", "set", "unset", "env", "run", "log", "info", "rename", "destroy", "domains"),
    *("domain-add", "domain-remove", "cert-attach", "deploy", "version"),
)


@dataclass(frozen=True)
class Topic:
    """A help topic that is not a command."""

    name: str
    short: str
    long: str


TOPICS = (
    Topic("commands", "list all commands with usage", ""),
    Topic(
        "environ",
        "environment variables used by emp",
        """
Several environment variables affect emp's behavior.

EMPIRE_API_URL

  The base URL emp will use to make api requests in the format:
  https://[username][:password]@host[:port]/

  If username and password are present in the URL, they will
  override .netrc. Defaults to http://127.0.0.1:8080.

EMPAPP

  The app to use when no -a flag is given.

NETRC_PATH

  The netrc file holding your credentials (default ~/.netrc).

HEROKU_SSL_VERIFY

  When set to disable, emp will insecurely skip SSL verification.

HKHEADER

  A NL-separated list of fields to set in each API request header.
  These override any fields set by emp if they have the same name.
""",
    ),
    Topic("more", "additional commands, less frequently used", ""),
    Topic(
        "about",
        "information about emp (e.g. legal)",
        """
emp is the command-line client of Empire, a self-hosted platform-as-a-service
that speaks the Heroku Platform API. It is compatible with Empire's Go emp,
which was a fork of Heroku's hk.

Copyright (c) Empire contributors. Released under the BSD 2-Clause license.
""",
    ),
)


def _listed() -> list[Command]:
    rank = {name: i for i, name in enumerate(ORDER)}
    listed = [c for c in COMMANDS if c.name in rank]
    return sorted(listed, key=lambda c: rank[c.name])


def _extras() -> list[Command]:
    return sorted((c for c in COMMANDS if c.extra and not c.hidden), key=lambda c: c.name)


def usage() -> str:
    """Return the text of `emp help`."""
    commands = _listed()
    width = max(len(c.name) for c in commands)
    lines = ["Usage: emp <command> [-a <app or remote>] [options] [arguments]", "", "", "Commands:"]
    lines += [""] + [f"    {c.name:<{width}}  {c.short}" for c in commands]
    lines += ["", "Run 'emp help [command]' for details.", "", "", "Additional help topics:", ""]
    lines += [f"    {t.name:<8}  {t.short}" for t in TOPICS]
    return "\n".join(lines) + "\n\n"


def extras() -> str:
    """Return the text of `emp help more`."""
    commands = _extras()
    width = max(len(c.name) for c in commands)
    lines = ["Additional commands:", ""]
    lines += [f"    {c.name:<{width}}  {c.short}" for c in commands]
    lines += ["", "Run 'emp help [command]' for details.", ""]
    return "\n".join(lines) + "\n"


def all_usage() -> str:
    """Return the text of `emp help commands`: every command's usage, by name."""
    visible = sorted((c for c in COMMANDS if not c.hidden), key=lambda c: c.name)
    return table([["emp " + c.full_usage(), "# " + c.short] for c in visible])


def long_usage(cmd: Command) -> str:
    """Return the text of `emp help <command>`."""
    text = (cmd.long or cmd.short[:1].upper() + cmd.short[1:] + ".").strip("\n")
    return f"Usage: emp {cmd.full_usage()}\n\n{text}\n"


def topic(name: str) -> str | None:
    """Return the text of `emp help <name>`, or None if there is no such topic."""
    if name == "more":
        return extras()
    if name == "commands":
        return all_usage()
    for cmd in COMMANDS:
        if cmd.matches(name):
            return long_usage(cmd)
    for item in TOPICS:
        if item.name == name:
            return item.long.strip("\n") + "\n"
    return None


def suggest(word: str) -> list[str]:
    """Return up to five command names (or help topics) close to a mistyped word."""
    found: list[tuple[int, str]] = []
    for cmd in COMMANDS:
        distance = edit_distance(word, cmd.name)
        if distance < 4 and not cmd.hidden:
            found.append((distance, cmd.name))
    for item in TOPICS:
        distance = edit_distance(word, item.name)
        if distance < 4:
            found.append((distance, go_quote("help " + item.name)))
    found.sort(key=lambda pair: pair[0])
    return [name for _, name in found[:5]]


def edit_distance(a: str, b: str) -> int:
    """Return the Damerau-Levenshtein distance (adjacent transpositions count as one)."""
    d = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i in range(len(a) + 1):
        d[i][0] = i
    for j in range(len(b) + 1):
        d[0][j] = j
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                d[i][j] = min(d[i][j], d[i - 2][j - 2] + 1)
    return d[len(a)][len(b)]
