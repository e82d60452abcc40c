"""Transcripts: drains, drains-add, drains-remove."""

from __future__ import annotations

import json

from support.stack import Stack

from .conftest import Emp

URL = "syslog+tls://logs.example.com:6514"
HTTPS = "https://logs.example.com/ingest"


def test_drains(acme: Emp, stack: Stack) -> None:
    assert acme("drains") == (0, "", "")
    code, out, err = acme("drains-add", URL)
    assert (code, out) == (0, "")
    token = stack.empire.live_drains()[0][1].token
    assert err == f"Added log drain {URL} to acme ({token}).\n"
    assert acme("drains-add", HTTPS, "-m", "ship logs")[0] == 0
    listed = acme("drains").out.splitlines()
    assert sorted(line.split()[0] for line in listed) == sorted([URL, HTTPS])
    assert any(line.startswith(URL) and line.endswith(token) for line in listed)
    assert {d["url"] for d in json.loads(acme("drains", "--json").out)} == {URL, HTTPS}
    assert acme("drains-remove", URL) == (0, "", f"Removed log drain {URL} from acme.\n")
    assert acme("drains-remove", HTTPS) == (0, "", f"Removed log drain {HTTPS} from acme.\n")
    assert acme("drains") == (0, "", "")


def test_drain_errors(acme: Emp) -> None:
    assert acme("drains-add", "ftp://logs.example.com") == (
        1,
        "",
        "error: unknown drain scheme ftp://: use syslog://host:port, syslog+tls://host:port "
        "or https://host/path\n",
    )
    acme("drains-add", URL)
    assert acme("drains-add", URL) == (1, "", f"error: acme already has this drain: {URL}\n")
    assert acme("drains-remove", "https://nope.example.com/") == (
        1,
        "",
        "error: acme has no log drain https://nope.example.com/\n",
    )
    assert acme("drains-add")[0] == 2
