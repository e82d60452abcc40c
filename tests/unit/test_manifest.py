from __future__ import annotations

from datetime import UTC, datetime

from empire import manifest
from empire.model import App, Config, Exposure, Port, Process, Release, Slug

NOW = datetime(2026, 11, 26, tzinfo=UTC)


def release(formation: dict[str, Process], vars: dict[str, str] | None = None) -> Release:
    return Release(
        "r1",
        "a1",
        "acme-inc",
        3,
        Slug("s1", "acme/api@sha256:ab", b""),
        Config("c1", "a1", vars or {}, NOW),
        formation,
        "Deploy",
        NOW,
        NOW,
    )


def test_env_labels_and_port_expansion() -> None:
    app = App("a1", "acme-inc", NOW, NOW)
    web = Process(
        "web",
        ("httpd", "-p", "$PORT", "${GREETING}", "$UNKNOWN"),
        quantity=2,
        ports=(Port(80, 80),),
        environment=(("GREETING", "hi"),),
    )
    built = manifest.build(app, release({"web": web}, {"GREETING": "app", "FOO": "1"}))
    process = built.processes[0]
    assert process.command == ("httpd", "-p", "80", "hi", "$UNKNOWN")
    assert process.env["PORT"] == "80" and process.env["FOO"] == "1"
    assert process.env["EMPIRE_RELEASE"] == "v3" and process.env["EMPIRE_APPNAME"] == "acme-inc"
    assert process.labels == {
        "empire.app": "acme-inc",
        "empire.app.id": "a1",
        "empire.release": "v3",
        "empire.process": "web",
    }
    assert process.quantity == 2 and not built.public


def test_maintenance_and_noservice_run_nothing() -> None:
    app = App("a1", "acme-inc", NOW, NOW, exposure=Exposure.PUBLIC, maintenance=True)
    formation = {
        "web": Process("web", ("w",), quantity=3),
        "job": Process("job", ("j",), quantity=1, noservice=True),
    }
    built = manifest.build(app, release(formation), domains=("www.example.com",))
    assert [p.quantity for p in built.processes] == [0, 0]
    assert built.public and built.domains == ("www.example.com",)


def test_a_shell_expands_its_own_variables() -> None:
    app = App("a1", "acme-inc", NOW, NOW)
    web = Process("web", ("sh", "-c", 'echo "$MSG" $PORT'), quantity=1, ports=(Port(80, 80),))
    built = manifest.build(app, release({"web": web}, {"MSG": 'say "hi"'}))
    assert built.processes[0].command == ("sh", "-c", 'echo "$MSG" $PORT')
