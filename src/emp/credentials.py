"""Credentials in a netrc file: `machine <host:port> login <user> password <token>`.

Entries other than ours are kept byte for byte. The file is written with mode 0600.
`NETRC_PATH` overrides `~/.netrc`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

_TOKEN = re.compile(r"\S+")


@dataclass(frozen=True, slots=True)
class Creds:
    """A login and password (the API token)."""

    login: str
    password: str


@dataclass(frozen=True, slots=True)
class _Entry:
    start: int
    end: int
    machine: str | None  # None for `default`
    fields: dict[str, str]


def netrc_path(environ: Mapping[str, str]) -> Path:
    """Return the netrc file to use: `NETRC_PATH`, else `~/.netrc`."""
    if environ.get("NETRC_PATH"):
        return Path(environ["NETRC_PATH"])
    home = environ.get("HOME")
    return (Path(home) if home else Path.home()) / ".netrc"


def machine_of(url: str) -> str:
    """Return the netrc machine name of an API URL: its host, with the port if it has one."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    return f"{host}:{parts.port}" if parts.port else host


class Netrc:
    """A netrc file, read once; changes are written back immediately."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.text = path.read_text() if path.exists() else ""

    def get(self, machine: str) -> Creds | None:
        """Return the credentials for a machine: its `host:port` entry, else its `host` one.

        Never the `default` entry: that is meant for other programs (ftp, curl), and sending
        it would hand its password to whatever server EMPIRE_API_URL names.
        """
        entries = _parse(self.text)
        host = machine.rsplit(":", 1)[0] if machine.count(":") == 1 else machine
        for wanted in (machine, host):
            for entry in entries:
                if entry.machine == wanted and "password" in entry.fields:
                    return Creds(entry.fields.get("login", ""), entry.fields["password"])
        return None

    def save(self, machine: str, creds: Creds) -> None:
        """Add or replace the entry for exactly this machine."""
        block = f"machine {machine}\n  login {creds.login}\n  password {creds.password}\n"
        entry = self._find(machine)
        if entry is None:
            default = next((e for e in _parse(self.text) if e.machine is None), None)
            at = default.start if default else len(self.text)  # `default` must stay last
            prefix, suffix = self.text[:at], self.text[at:]
            if prefix and not prefix.endswith("\n"):
                prefix += "\n"
            self.text = prefix + block + suffix
        else:
            self.text = self.text[: entry.start] + block + self.text[entry.end :].lstrip("\n")
        self._write()

    def remove(self, machine: str) -> bool:
        """Remove the entry for exactly this machine; return whether there was one."""
        entry = self._find(machine)
        if entry is None:
            return False
        self.text = self.text[: entry.start] + self.text[entry.end :].lstrip("\n")
        self._write()
        return True

    def _find(self, machine: str) -> _Entry | None:
        return next((e for e in _parse(self.text) if e.machine == machine), None)

    def _write(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(self.text)
        os.chmod(self.path, 0o600)


def _parse(text: str) -> list[_Entry]:
    """Split netrc text into entries with their spans; `macdef` bodies are skipped."""
    tokens = [(m.start(), m.end(), m.group()) for m in _TOKEN.finditer(text)]
    entries: list[_Entry] = []
    open_entry: _Entry | None = None
    i = 0
    while i < len(tokens):
        start, end, word = tokens[i]
        if word in ("machine", "default", "macdef"):
            if open_entry is not None:
                entries.append(
                    _Entry(open_entry.start, start, open_entry.machine, open_entry.fields)
                )
                open_entry = None
            if word == "macdef":
                blank = text.find("\n\n", end)
                stop = len(text) if blank < 0 else blank + 2
                while i < len(tokens) and tokens[i][0] < stop:
                    i += 1
                continue
            name = None
            if word == "machine" and i + 1 < len(tokens):
                i += 1
                name = tokens[i][2]
            open_entry = _Entry(start, start, name, {})
        elif open_entry is not None and i + 1 < len(tokens):
            open_entry.fields[word] = tokens[i + 1][2]
            i += 1
        i += 1
    if open_entry is not None:
        entries.append(_Entry(open_entry.start, len(text), open_entry.machine, open_entry.fields))
    return entries
