"""The release phase on the swarm: a job of the new release, run to its end."""

from __future__ import annotations

from empire.model import Process
from empire.scheduler import LogQuery
from swarm.test_services import SMALL, sh


def phase(scheduler, make_manifest, app, version: int, script: str, timeout: float = 60):
    release = Process("migrate", sh(script), 0, SMALL, noservice=True)
    manifest = make_manifest(app, version, {"migrate": release}, config={"SECRET": "s3"})
    lines: list[str] = []
    result = scheduler.release_phase(
        manifest, manifest.processes[0], timeout=timeout, output=lines.append
    )
    return result, lines


def test_exit_0_and_a_failure_and_the_timeout(cluster, scheduler, new_app, make_manifest):
    app = new_app()
    ok, lines = phase(scheduler, make_manifest, app, 2, 'echo "migrating $SECRET"; echo done')
    assert ok.exit_code == 0
    assert lines == ["migrating s3", "done"]
    assert scheduler.tasks(app.id) == []  # no process of the app
    logged = list(scheduler.logs(app.id, LogQuery()))
    assert [line.split(": ", 1)[1] for line in logged] == ["migrating s3", "done"]
    assert all(f"{app.name}[release.2]" in line for line in logged)

    failed, lines = phase(scheduler, make_manifest, app, 3, "echo broken; exit 4")
    assert (failed.exit_code, lines, failed.tail) == (4, ["broken"], ("broken",))
    jobs = cluster.manager.api.services(filters={"label": f"empire.app.id={app.id}"})
    assert [j["Spec"]["Name"] for j in jobs] == [f"{app.name}__release_3"]  # v2's replaced

    late, lines = phase(scheduler, make_manifest, app, 4, "echo started; exec sleep 600", 5)
    assert late.exit_code is None
    assert lines == ["started"]
    assert cluster.manager.api.services(filters={"label": f"empire.app.id={app.id}"}) == []
