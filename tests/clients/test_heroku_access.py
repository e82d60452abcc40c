"""The unmodified `heroku` CLI 11.10.0's `access` and `access:add` against `empire server`:
GET and POST /apps/{app}/collaborators, as a Heroku user sees them."""

from __future__ import annotations

from clients.harness import Heroku, Result, Server
from support.server import EmpireServer


def lines(result: Result, stream: str) -> list[str]:
    """Assert exit 0; return the stream's non-blank lines, stripped."""
    assert result.code == 0, str(result)
    text = result.stdout if stream == "stdout" else result.stderr
    return [line.strip() for line in text.splitlines() if line.strip()]


def test_access_and_access_add(heroku: Heroku, server: Server) -> None:
    app = "cli-access"
    server.deploy(f"remind101/{app}:latest")  # dev (a global admin) creates it: its admin
    # a second, non-admin user, made with `empire users create` on the server's data directory
    data = server.log.parent
    admin = EmpireServer(data, env={"EMPIRE_IMAGES": "fake", "EMPIRE_SCHEDULER": "fake"})
    admin.create_user("erin", admin=False, email="erin@example.com")

    assert lines(heroku("access", "-a", app), "stdout") == [
        "email             role    permissions",
        "─" * 57,
        "dev@example.com   admin   deploy, manage, operate, view",
    ]
    added = heroku("access:add", "erin@example.com", "-a", app)
    assert lines(added, "stderr") == [
        "Adding erin@example.com access to the app cli-access... done"
    ]
    assert lines(heroku("access", "-a", app), "stdout") == [
        "email              role       permissions",
        "─" * 61,
        "dev@example.com    admin      deploy, manage, operate, view",
        "erin@example.com   deployer   deploy, operate, view",  # a Heroku collaborator deploys
    ]
    with server.api() as api:
        [_, erin] = api.get(f"/apps/{app}/collaborators").json()
    assert (erin["user"]["name"], erin["role"], erin["team"]) == ("erin", "deployer", None)
    # a team's grant: the heroku CLI reads `user.email` on every row, and sees `team:NAME`
    with server.api() as api:
        assert api.post("/teams", json={"name": "ops"}).status_code == 201
        granted = api.post(f"/apps/{app}/collaborators", json={"team": "ops", "role": "viewer"})
        assert granted.status_code == 201, granted.text
    assert lines(heroku("access", "-a", app), "stdout")[-1] == "team:ops           viewer     view"
