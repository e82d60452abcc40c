"""Units: the netrc file."""

from __future__ import annotations

import stat
from pathlib import Path

from emp.credentials import Creds, Netrc, machine_of, netrc_path

TEXT = (
    "machine github.com login a password b\n"
    "\n"
    "macdef init\n"
    "machine fake login x password y\n"
    "\n"
    "machine 127.0.0.1:8080\n"
    "  login old\n"
    "  password oldtok\n"
    "default login d password dd\n"
)


def test_machine_of() -> None:
    assert machine_of("http://127.0.0.1:8080") == "127.0.0.1:8080"
    assert machine_of("https://u:p@empire.example.com/") == "empire.example.com"


def test_netrc_path(tmp_path: Path) -> None:
    assert netrc_path({"NETRC_PATH": "/x/netrc", "HOME": "/h"}) == Path("/x/netrc")
    assert netrc_path({"HOME": "/h"}) == Path("/h/.netrc")


def test_get_prefers_host_and_port_then_host(tmp_path: Path) -> None:
    path = tmp_path / "netrc"
    path.write_text(TEXT)
    netrc = Netrc(path)
    assert netrc.get("127.0.0.1:8080") == Creds("old", "oldtok")
    assert netrc.get("github.com:443") == Creds("a", "b")
    assert netrc.get("fake") is None  # inside a macdef: not an entry


def test_get_never_answers_with_the_default_entry(tmp_path: Path) -> None:
    """The `default` entry belongs to other programs: sent to any API host, it would hand
    their password to whatever server EMPIRE_API_URL names (issue 13 item 15)."""
    path = tmp_path / "netrc"
    path.write_text(TEXT)
    netrc = Netrc(path)
    assert netrc.get("elsewhere:1") is None
    assert netrc.get("evil.example.com") is None
    assert netrc.get("127.0.0.1:9999") is None  # another port of a known host
    assert netrc.get("127.0.0.1") is None


def test_save_replaces_only_its_entry_and_keeps_default_last(tmp_path: Path) -> None:
    path = tmp_path / "netrc"
    path.write_text(TEXT)
    path.chmod(0o644)
    netrc = Netrc(path)
    netrc.save("127.0.0.1:8080", Creds("bob", "tok"))
    netrc.save("empire.example.com", Creds("bob", "tok2"))
    assert path.read_text() == TEXT.replace(
        "login old\n  password oldtok", "login bob\n  password tok"
    ).replace("default", "machine empire.example.com\n  login bob\n  password tok2\ndefault")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_remove(tmp_path: Path) -> None:
    path = tmp_path / "netrc"
    path.write_text(TEXT)
    netrc = Netrc(path)
    assert netrc.remove("127.0.0.1:8080") is True
    assert netrc.remove("127.0.0.1:8080") is False
    assert "oldtok" not in path.read_text()
    assert "machine github.com login a password b\n" in path.read_text()
    assert Netrc(path).get("127.0.0.1:8080") is None
