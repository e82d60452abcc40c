"""The release phase on the Docker backend: one container of the new release, run to its end."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import docker

from empire.model import App, Process, Size
from empire.scheduler import LogQuery

MB = 1024 * 1024
SMALL = Size(cpu_shares=128, memory=64 * MB, nproc=64)


def new_app() -> App:
    now = datetime.now(UTC)
    return App(id=str(uuid.uuid4()), name="acme-inc", created_at=now, updated_at=now)


def phase(
    scheduler, make_manifest, app: App, version: int, script: str, *, timeout: float = 30
) -> tuple[object, list[str]]:
    release = Process("migrate", ("sh", "-c", script), 0, SMALL, noservice=True)
    manifest = make_manifest(app, version, {"migrate": release}, config={"SECRET": "s3"})
    lines: list[str] = []
    result = scheduler.release_phase(
        manifest, manifest.processes[0], timeout=timeout, output=lines.append
    )
    return result, lines


def test_exit_0_streams_its_output_and_keeps_its_lines_in_the_logs(
    docker_client: docker.DockerClient, docker_scheduler, make_manifest
) -> None:
    scheduler = docker_scheduler()
    app = new_app()
    result, lines = phase(
        scheduler, make_manifest, app, 7, 'echo "migrating $SECRET"; echo oops >&2; echo done'
    )
    assert result.exit_code == 0
    # stdout and stderr are two pipes: their lines may interleave either way.
    assert sorted(lines) == ["done", "migrating s3", "oops"]
    assert sorted(result.tail) == sorted(lines) and lines.index("migrating s3") < lines.index(
        "done"
    )
    assert scheduler.tasks(app.id) == []  # no process of the app: not in `ps`
    logged = list(scheduler.logs(app.id, LogQuery()))
    assert sorted(line.split(": ", 1)[1] for line in logged) == ["done", "migrating s3", "oops"]
    assert all("acme-inc[release.7]" in line for line in logged)

    # The next phase replaces the kept container.
    result, _ = phase(scheduler, make_manifest, app, 8, "echo again")
    found = docker_client.containers.list(all=True, filters={"label": f"empire.app.id={app.id}"})
    assert [c.labels["empire.release"] for c in found] == ["v8"]


def test_a_failure_gives_its_exit_code_and_last_lines(docker_scheduler, make_manifest) -> None:
    scheduler = docker_scheduler()
    script = "for n in $(seq 1 40); do echo line $n; done; exit 3"
    result, lines = phase(scheduler, make_manifest, new_app(), 2, script)
    assert result.exit_code == 3
    assert len(lines) == 40
    assert result.tail == tuple(f"line {n}" for n in range(21, 41))


def test_past_the_timeout_it_is_killed_and_removed(
    docker_client: docker.DockerClient, docker_scheduler, make_manifest
) -> None:
    scheduler = docker_scheduler()
    app = new_app()
    result, lines = phase(
        scheduler, make_manifest, app, 3, "echo started; exec sleep 600", timeout=2
    )
    assert result.exit_code is None
    assert lines == ["started"]
    found = docker_client.containers.list(all=True, filters={"label": f"empire.app.id={app.id}"})
    assert found == []


def test_binary_output_and_endless_lines_are_kept_safe_and_bounded(
    docker_scheduler, make_manifest
) -> None:
    scheduler = docker_scheduler()
    script = (
        "head -c 30000 /dev/zero | tr '\\0' x; echo; "  # one 30,000-byte line
        "printf '\\377\\376binary\\n'; exit 0"
    )
    result, lines = phase(scheduler, make_manifest, new_app(), 4, script)
    assert result.exit_code == 0
    assert [len(line) for line in lines] == [10_000, len("\ufffd\ufffdbinary")]
    assert lines[1] == "\ufffd\ufffdbinary"
