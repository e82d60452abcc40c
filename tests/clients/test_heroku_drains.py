"""The unmodified `heroku` CLI's drains commands against a running `empire server`."""

from __future__ import annotations

import json

from clients.harness import Heroku, Server
from clients.test_heroku_cli import ok

URL = "syslog+tls://logs.example.com:6514"
HTTPS = "https://user:secret@logs.example.com/ingest?key=1"


def test_drains_add_list_remove(heroku: Heroku, server: Server) -> None:
    app = "cli-drains"
    server.deploy(f"remind101/{app}:latest")
    assert ok(heroku("drains:add", URL, "-a", app)) == [f"Successfully added drain {URL}"]
    assert ok(heroku("drains:add", HTTPS, "-a", app)) == [f"Successfully added drain {HTTPS}"]
    lines = ok(heroku("drains", "-a", app))
    assert lines[0] == "=== Drains"
    with server.api() as api:
        drains = {d["url"]: d["token"] for d in api.get(f"/apps/{app}/log-drains").json()}
    assert sorted(lines[1:]) == sorted(f"{url} ({token})" for url, token in drains.items())
    listed = json.loads(heroku("drains", "-a", app, "--json").stdout)
    assert {d["url"] for d in listed} == {URL, HTTPS}
    again = heroku("drains:add", URL, "-a", app)
    assert again.code != 0 and "already has this drain" in again.output, str(again)
    bad = heroku("drains:add", "syslog://user:pw@logs.example.com:514", "-a", app)
    assert bad.code != 0 and "cannot carry credentials" in bad.output, str(bad)
    # drains:remove takes the URL (sent percent-encoded in the path) or the token.
    assert ok(heroku("drains:remove", HTTPS, "-a", app)) == [f"Successfully removed drain {HTTPS}"]
    assert ok(heroku("drains:remove", drains[URL], "-a", app)) == [
        f"Successfully removed drain {URL}"
    ]
    assert ok(heroku("drains", "-a", app)) == []
