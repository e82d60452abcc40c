"""heroku3 (PyPI 5.2.1) against a running `empire server`: the same operations as the CLI
tests, from Python (Basic ":token" auth, Accept version=3.cedar-acm, its Range forms)."""

from __future__ import annotations

from collections.abc import Iterator

import heroku3
import heroku3.api
import pytest

from clients.harness import Server


@pytest.fixture
def conn(server: Server, monkeypatch: pytest.MonkeyPatch) -> Iterator[heroku3.api.Heroku]:
    monkeypatch.setattr(heroku3.api, "HEROKU_URL", server.url)  # read when the client is made
    connection = heroku3.from_key(server.token)  # GET /account/rate-limits
    yield connection
    connection._session.close()


def deployed(server: Server, name: str) -> str:
    server.deploy(f"remind101/{name}:latest")
    return name


def test_authenticated_with_rate_limit_and_request_id(conn: heroku3.api.Heroku) -> None:
    assert conn.is_authenticated
    assert conn.ratelimit_remaining() > 0
    assert conn.last_request_id
    assert conn.account().email == "dev@example.com"


def test_apps_create_info_destroy(conn: heroku3.api.Heroku, server: Server) -> None:
    app = conn.create_app(name="h3-created")  # sends stack "cedar", ignored
    assert app.name == "h3-created"
    assert app.owner.email == "dev@example.com"
    names = [a.name for a in conn.apps()]  # Range "id ..; ;"
    assert "h3-created" in names
    info = conn.app("h3-created")
    assert (info.id, info.maintenance) == (app.id, False)
    assert info.created_at is not None
    app.enable_maintenance_mode()
    assert conn.app("h3-created").maintenance is True
    app.delete()  # DELETE /apps/{id}
    assert "h3-created" not in [a.name for a in conn.apps()]


def test_config(conn: heroku3.api.Heroku, server: Server) -> None:
    app = conn.app(deployed(server, "h3-config"))
    config = app.config()
    assert config.to_dict() == {}
    config["FOO"] = "bar"  # PATCH {"FOO": "bar"}
    app.update_config({"BAZ": "qux"})  # PATCH /apps/{id}/config-vars
    assert app.config().to_dict() == {"FOO": "bar", "BAZ": "qux"}
    config = app.config()
    del config["BAZ"]  # PATCH {"BAZ": null}; asserts BAZ is gone from the response
    assert app.config().to_dict() == {"FOO": "bar"}


def test_releases_and_rollback(conn: heroku3.api.Heroku, server: Server) -> None:
    app = conn.app(deployed(server, "h3-releases"))
    app.update_config({"FOO": "bar"})
    releases = app.releases()  # Range "version ..; ;": ascending
    assert [r.version for r in releases] == [1, 2]
    assert releases[0].description == "Deploy remind101/h3-releases:latest (dev)"
    assert releases[1].status == "succeeded"
    newest = app.releases(order_by="version", sort="desc", limit=1)
    assert [r.version for r in newest] == [2]
    rolled = app.rollback(releases[0].id)  # POST {"release": uuid}, then releases()[-1]
    assert rolled.version == 3
    assert rolled.description == "Rollback to v1 (dev)"
    assert app.config().to_dict() == {}


def test_formation_and_dynos(conn: heroku3.api.Heroku, server: Server) -> None:
    app = conn.app(deployed(server, "h3-ps"))
    formation = app.process_formation()
    assert [(f.type, f.quantity, f.size) for f in formation] == [("web", 1, "1X")]
    app.batch_scale_formation_processes({"web": 2})  # PATCH /formation {"updates": [...]}
    assert [d.name for d in app.dynos()] == ["v1.web.1", "v1.web.2"]
    formation["web"].scale(3)  # PATCH /apps/{id}/formation/web {"quantity": 3}
    assert app.process_formation()["web"].quantity == 3
    app.scale_formation_process("web", 1)
    dynos = app.dynos()
    assert [(d.name, d.type, d.state, d.command) for d in dynos] == [
        ("v1.web.1", "web", "up", "./bin/web")
    ]
    app.kill_dyno("v1.web.1")  # DELETE /apps/{id}/dynos/v1.web.1
    app.restart()  # one DELETE per dyno
    dyno = app.run_command_detached("./bin/migrate --all")  # POST /dynos, "size": null
    assert (dyno.name, dyno.command, dyno.attach_url) == ("v1.run.1", "./bin/migrate --all", None)
    assert "v1.run.1" in [d.name for d in app.dynos()]


def test_domains(conn: heroku3.api.Heroku, server: Server) -> None:
    app = conn.app(deployed(server, "h3-domains"))
    app.add_domain("www.h3-domains.example.com", None)
    assert [d.hostname for d in app.domains()] == ["www.h3-domains.example.com"]  # "domain ..; ;"
    assert app.get_domain("www.h3-domains.example.com").kind == "custom"
    app.remove_domain("www.h3-domains.example.com")
    assert list(app.domains()) == []


def test_logs(conn: heroku3.api.Heroku, server: Server) -> None:
    """get_log: a log session, then a plain GET of its logplex_url (no token)."""
    app = conn.app(deployed(server, "h3-logs"))
    text = app.get_log(lines=10)
    assert "release v1 succeeded" in text


def test_errors(conn: heroku3.api.Heroku) -> None:
    with pytest.raises(Exception, match="404"):
        conn.app("h3-nope")
