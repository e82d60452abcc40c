"""The unmodified `heroku` CLI 11.10.0 against a running `empire server`: each command's
output, as the user sees it. Each test deploys its own app through POST /deploys first."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from clients.harness import Heroku, Result, Server

Deployed = Callable[[str], str]


@pytest.fixture
def deployed(server: Server) -> Deployed:
    def deploy(name: str) -> str:
        server.deploy(f"remind101/{name}:latest")
        return name

    return deploy


def ok(result: Result, stream: str = "both") -> list[str]:
    """Assert exit 0 and return the lines printed (on stdout, stderr or both: progress such as
    `Setting FOO... done` goes to stderr), right-stripped, blank ones dropped."""
    assert result.code == 0, str(result)
    text = {"stdout": result.stdout, "stderr": result.stderr}.get(stream, result.output)
    return [line.rstrip() for line in text.splitlines() if line.strip()]


def test_apps(heroku: Heroku, deployed: Deployed) -> None:
    deployed("cli-apps")
    lines = ok(heroku("apps"))
    assert lines[0] == "=== dev@example.com Apps"
    assert any(re.fullmatch(r"cli-apps( \[internal\])? \(local\)", line) for line in lines), lines


def test_apps_create(heroku: Heroku, server: Server) -> None:
    result = heroku("apps:create", "cli-created")
    assert ok(result, "stderr") == ["Creating cli-created... done"]
    [urls] = ok(result, "stdout")
    assert urls.startswith("http://cli-created/ | "), urls
    with server.api() as api:
        assert api.get("/apps/cli-created").json()["name"] == "cli-created"
    again = heroku("apps:create", "cli-created")
    assert again.code != 0
    assert "Name cli-created is already taken" in again.output, str(again)
    assert "Error ID: conflict" in again.output, str(again)


def test_apps_info(heroku: Heroku, deployed: Deployed) -> None:
    app = deployed("cli-info")
    lines = ok(heroku("apps:info", "-a", app))
    assert lines[0] == f"=== {app}"
    fields = dict(re.split(r":\s+", line, maxsplit=1) for line in lines[1:] if ":" in line)
    assert fields["Owner"] == "dev@example.com"
    assert fields["Dynos"] == "web: 1"
    assert fields["Stack"] == "container"
    assert fields["Region"] == "local"
    assert fields["Web URL"] == f"http://{app}/"
    assert fields["Repo Size"] == "0 B"


def test_addons_are_none(heroku: Heroku, deployed: Deployed) -> None:
    """heroku addons reads /addons, or /apps/{app}/addons and /addon-attachments: Empire has
    none to show (issue 13, Empire's own clients)."""
    app = deployed("cli-addons")
    assert ok(heroku("addons", "-a", app), "stdout") == [f"No add-ons for app {app}."]
    assert ok(heroku("addons"), "stdout") == ["No add-ons."]


def test_config_set_config_unset(heroku: Heroku, deployed: Deployed) -> None:
    app = deployed("cli-config")
    result = heroku("config:set", "FOO=bar", "BAZ=qux", "-a", app)
    assert ok(result, "stderr") == [f"Setting FOO, BAZ and restarting {app}... done, v2"]
    assert ok(result, "stdout") == ["FOO: bar", "BAZ: qux"]
    lines = ok(heroku("config", "-a", app))
    assert lines == [f"=== {app} Config Vars", "FOO: bar", "BAZ: qux"]
    lines = ok(heroku("config:unset", "BAZ", "-a", app))
    assert lines == [f"Unsetting BAZ and restarting {app}... done, v3"]
    assert ok(heroku("config", "-a", app)) == [f"=== {app} Config Vars", "FOO: bar"]


def test_releases_and_rollback(heroku: Heroku, deployed: Deployed, server: Server) -> None:
    app = deployed("cli-releases")
    ok(heroku("config:set", "FOO=bar", "-a", app))
    lines = ok(heroku("releases", "-a", app))
    assert lines[0] == f"=== {app} Releases - Current: v2"
    rows = [line.split(None, 1) for line in lines[3:]]
    assert [(v, rest.split("   ")[0]) for v, rest in rows] == [
        ("v2", "Set FOO config var (dev)"),
        ("v1", f"Deploy remind101/{app}:latest (dev)"),
    ]
    assert all("dev@example.com" in rest for _, rest in rows)

    result = heroku("rollback", "v1", "-a", app)
    assert ok(result, "stderr")[0] == f"Rolling back {app} to v1... done, v3"
    assert "To undo, run: heroku rollback v2" in result.stderr
    with server.api() as api:
        assert api.get(f"/apps/{app}/config-vars").json() == {}
    lines = ok(heroku("releases", "-a", app))
    assert lines[0] == f"=== {app} Releases - Current: v3"
    assert lines[3].split()[:4] == ["v3", "Rollback", "to", "v1"]


def test_ps_scale_and_ps(heroku: Heroku, deployed: Deployed) -> None:
    app = deployed("cli-ps")
    lines = ok(heroku("ps", "-a", app))
    assert lines[0] == "=== web (1X): ./bin/web (1)"
    assert re.match(r"^v1\.web\.1: up ", lines[1]), lines
    scaled = heroku("ps:scale", "web=2", "-a", app)
    assert ok(scaled, "stderr") == ["Scaling dynos... done, now running web at 2:1X"]
    assert ok(heroku("ps:scale", "-a", app)) == ["web=2:1X"]
    lines = ok(heroku("ps", "-a", app))
    assert lines[0] == "=== web (1X): ./bin/web (2)"
    assert [line.split(":")[0] for line in lines[1:]] == ["v1.web.1", "v1.web.2"]
    assert all(": up " in line for line in lines[1:])
    bad = heroku("ps:scale", "worker=1", "-a", app)
    assert bad.code == 2, str(bad)
    assert "Couldn't find that formation: no process type 'worker'" in " ".join(
        bad.output.replace("\u203a", "").split()
    ), str(bad)
    assert "Error ID: not_found" in bad.output


def test_domains_add_and_domains(heroku: Heroku, deployed: Deployed, server: Server) -> None:
    app = deployed("cli-domains")
    host = "www.cli-domains.example.com"
    result = heroku("domains:add", host, "-a", app)
    assert ok(result, "stderr") == [f"Adding {host} to {app}... done"]
    assert f"point to the DNS Target {host}" in ok(result, "stdout")[0]
    lines = ok(heroku("domains", "-a", app))
    assert f"=== {app} Custom Domains" in lines
    row = next(line for line in lines if line.strip().startswith(host))
    assert row.split() == [host, "CNAME", host]
    with server.api() as api:
        assert api.get(f"/apps/{app}").json()["exposure"] == "public"


def test_domains_lists_every_page(heroku: Heroku, deployed: Deployed, server: Server) -> None:
    """`heroku domains` pages by hand on 206; more than one page still shows everything."""
    app = deployed("cli-many-domains")
    hosts = [f"d{n}.cli-many.example.com" for n in range(3)]
    with server.api() as api:
        for host in hosts:
            assert api.post(f"/apps/{app}/domains", json={"hostname": host}).status_code == 201
    shown = [line.split()[0] for line in ok(heroku("domains", "-a", app)) if ".cli-many." in line]
    assert sorted(shown) == hosts


def test_apps_destroy(heroku: Heroku, deployed: Deployed) -> None:
    app = deployed("cli-destroy")
    destroyed = heroku("apps:destroy", app, "--confirm", app)
    assert ok(destroyed, "stderr") == [f"Destroying {app} (including all add-ons)... done"]
    gone = heroku("apps:info", "-a", app)
    assert gone.code == 2, str(gone)
    assert f"Error: Couldn't find that app: no app named {app}" in gone.output
    assert "Error ID: not_found" in gone.output
    assert app not in ok(heroku("apps"))


def test_an_invalid_token(heroku: Heroku) -> None:
    result = heroku("apps", token="not-a-token")
    assert result.code == 1, str(result)
    assert "The token provided to HEROKU_API_KEY is invalid" in result.output, str(result)


def test_logs(heroku: Heroku, deployed: Deployed) -> None:
    """heroku logs: a log session, then EventSource on its logplex_url (no token)."""
    app = deployed("cli-logs")
    ok(heroku("config:set", "FOO=bar", "-a", app))
    lines = ok(heroku("logs", "-a", app), "stdout")
    assert any(line.endswith("release v1 succeeded") for line in lines), lines
    assert any(line.endswith("release v2 succeeded") for line in lines), lines
    # The platform's lines: the config change names the variable, never its value.
    said = f"{app}[api]: Release v2 created by dev: Set FOO config var"
    assert any(line.endswith(said) for line in lines), lines
    assert not any("bar" in line for line in lines if "[api]" in line), lines
    api = ok(heroku("logs", "-a", app, "--dyno", "api"), "stdout")
    assert api and all(f"{app}[api]: " in line for line in api), api
