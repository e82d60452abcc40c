"""emp: the command-line client of Empire, speaking the Heroku Platform API over HTTP."""

from __future__ import annotations

from importlib import metadata


def _version() -> str:
    try:
        return metadata.version("empire")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "0.0.0"


__version__ = _version()
