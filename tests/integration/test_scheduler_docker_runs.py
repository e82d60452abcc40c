"""DockerScheduler one-offs, cron and logs against the real engine (and schedule parsing)."""

from __future__ import annotations

import re
import threading
import uuid
from datetime import UTC, datetime, timedelta

import docker
import pytest

from empire.model import App, Outcome, Port, Process, Size
from empire.scheduler import LogQuery
from empire.scheduler.docker import KEEP_CRON_RUNS
from support.waiting import wait_for

MB = 1024 * 1024
SMALL = Size(cpu_shares=128, memory=64 * MB, nproc=64)
LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ acme-inc\[(?P<slot>[\w.-]+)\]: (?P<text>.*)$")


def new_app(name: str = "acme-inc") -> App:
    now = datetime.now(UTC)
    return App(id=str(uuid.uuid4()), name=name, created_at=now, updated_at=now)


def sh(script: str) -> tuple[str, ...]:
    return ("sh", "-c", script)


def test_detached_run_is_listed_while_running_and_removed_when_done(
    docker_client, docker_scheduler, make_manifest
):
    scheduler = docker_scheduler()
    app = new_app()
    manifest = make_manifest(app, 4, {"run": Process("run", sh("sleep 2; echo done"), 1, SMALL)})

    task = scheduler.run(manifest, manifest.processes[0])

    assert (task.name, task.state, task.release) == ("v4.run.1", "up", 4)
    assert task.command == "sh -c sleep 2; echo done"
    listed = scheduler.tasks(app.id)
    assert [(t.name, t.id, t.state) for t in listed] == [("v4.run.1", task.id, "up")]
    assert listed[0].host == docker_client.info()["Name"]
    attrs = docker_client.api.inspect_container(task.id)
    assert attrs["HostConfig"]["AutoRemove"] is True
    assert attrs["HostConfig"]["RestartPolicy"]["Name"] in ("", "no")
    assert attrs["Config"]["Labels"]["empire.kind"] == "run"
    second = scheduler.run(manifest, manifest.processes[0])
    assert second.name == "v4.run.2"

    wait_for(lambda: scheduler.tasks(app.id) == [], timeout=20)


def test_logs_are_prefixed_merged_in_time_order_and_filtered_by_process(
    docker_scheduler, make_manifest
):
    scheduler = docker_scheduler()
    app = new_app()
    formation = {
        "web": Process(
            "web",
            sh('echo "web says $PORT"; sleep 0.3; echo "web again"; exec httpd -f -p 80 -h /'),
            1,
            SMALL,
            ports=(Port(80, 80),),
        ),
        "worker": Process(
            "worker", sh("sleep 0.15; echo worker says hi; exec sleep 3600"), 2, SMALL
        ),
    }
    assert scheduler.submit(make_manifest(app, 1, formation)).outcome is Outcome.SUCCEEDED

    lines = wait_for(
        lambda: (got := list(scheduler.logs(app.id, LogQuery()))) and len(got) >= 4 and got
    )
    parsed = [LINE.match(line) for line in lines]
    assert all(parsed), lines
    assert sorted((m["slot"], m["text"]) for m in parsed if m) == [
        ("web.1", "web again"),
        ("web.1", "web says 80"),
        ("worker.1", "worker says hi"),
        ("worker.2", "worker says hi"),
    ]
    assert lines == sorted(lines, key=lambda line: line.split(" ", 1)[0])
    assert lines.index(next(x for x in lines if "web again" in x)) > lines.index(
        next(x for x in lines if "web says" in x)
    )

    assert [LINE.match(x)["text"] for x in scheduler.logs(app.id, LogQuery(process="web"))] == [
        "web says 80",
        "web again",
    ]
    only = list(scheduler.logs(app.id, LogQuery(process="worker.2")))
    assert [LINE.match(x)["slot"] for x in only] == ["worker.2"]
    assert len(list(scheduler.logs(app.id, LogQuery(lines=1)))) == 1
    future = datetime.now(UTC) + timedelta(hours=1)
    assert list(scheduler.logs(app.id, LogQuery(since=future))) == []


def test_logs_follow_new_lines_and_new_containers_then_close(
    docker_client, docker_scheduler, make_manifest
):
    scheduler = docker_scheduler()
    app = new_app()
    ticker = Process(
        "ticker", sh("i=0; while true; do i=$((i+1)); echo tick $i; sleep 0.2; done"), 1, SMALL
    )
    scheduler.submit(make_manifest(app, 1, {"ticker": ticker}))
    since = datetime.now(UTC) - timedelta(seconds=30)

    stream = scheduler.logs(app.id, LogQuery(follow=True, since=since))
    seen: list[str] = []
    for line in stream:
        if line:  # "" is the follow saying it is quiet
            seen.append(line)
        if len(seen) == 3:
            break
    # A one-off started while following shows up in the same stream.
    one_off = make_manifest(
        app, 1, {"run": Process("run", sh("sleep 1; echo from the run"), 1, SMALL)}
    )
    scheduler.run(one_off, one_off.processes[0])
    for line in stream:
        if line:
            seen.append(line)
        if line.endswith("from the run"):
            break
    threads = [t for t in threading.enumerate() if t.name.startswith("empire-logs-")]
    stream.close()  # type: ignore[attr-defined]

    texts = [LINE.match(x)["text"] for x in seen if LINE.match(x)]
    assert texts[:3] == ["tick 1", "tick 2", "tick 3"]
    assert "acme-inc[run.1]: from the run" in seen[-1]
    ticks = [int(t.split()[1]) for t in texts if t.startswith("tick")]
    assert ticks == list(range(1, len(ticks) + 1))  # no line lost or repeated at the cut-off
    wait_for(lambda: not any(t.is_alive() for t in threads), timeout=5)


def test_cron_runs_on_schedule_and_keeps_the_last_runs(
    docker_client, docker_scheduler, make_manifest
):
    clock_now = [datetime(2026, 11, 26, 10, 0, 30, tzinfo=UTC)]
    scheduler = docker_scheduler(clock=lambda: clock_now[0])
    app = new_app()
    formation = {
        "clock": Process("clock", sh("echo tick; exit 2"), 1, SMALL, cron="cron(* * * * ? *)"),
        "hourly": Process("hourly", sh("echo hour"), 1, SMALL, cron="0 * * * *"),
        "paused": Process("paused", sh("echo never"), 0, SMALL, cron="* * * * *"),
    }
    assert scheduler.submit(make_manifest(app, 2, formation)).outcome is Outcome.SUCCEEDED
    assert scheduler.tasks(app.id) == []  # scheduled processes are not services

    minute = timedelta(minutes=1)
    assert scheduler.run_due(clock_now[0] + timedelta(seconds=10)) == []  # not due yet
    for n in range(1, KEEP_CRON_RUNS + 3):
        due = scheduler.run_due(clock_now[0] + n * minute)
        assert due == [(app.id, "clock")]
        wait_for(lambda: all(t.state == "exited" for t in scheduler.tasks(app.id)))

    tasks = scheduler.tasks(app.id)
    # Each launch keeps the last KEEP_CRON_RUNS finished runs, then adds the new one.
    assert [t.name for t in tasks] == [f"v2.clock.{n}" for n in range(2, KEEP_CRON_RUNS + 3)]
    assert {(t.state, t.exit_code) for t in tasks} == {("exited", 2)}
    assert (
        docker_client.api.inspect_container(tasks[0].id)["Config"]["Labels"]["empire.kind"]
        == "cron"
    )

    # The top of the hour runs the hourly process too.
    assert sorted(scheduler.run_due(datetime(2026, 11, 26, 11, 0, 0, tzinfo=UTC))) == [
        (app.id, "clock"),
        (app.id, "hourly"),
    ]


def test_cron_thread_starts_and_stops(docker_scheduler, make_manifest):
    scheduler = docker_scheduler(cron_interval=0.05)
    scheduler.start()
    scheduler.start()  # idempotent
    assert any(t.name == "empire-cron" for t in threading.enumerate())
    scheduler.close()
    assert not any(t.name == "empire-cron" and t.is_alive() for t in threading.enumerate())


def test_an_invalid_schedule_fails_the_submit_before_touching_anything(
    docker_client, docker_scheduler, make_manifest
):
    scheduler = docker_scheduler()
    app = new_app()
    bad = {"clock": Process("clock", sh("true"), 1, SMALL, cron="every minute")}

    verdict = scheduler.submit(make_manifest(app, 1, bad))

    assert verdict.outcome is Outcome.FAILED
    assert 'invalid cron schedule "every minute"' in verdict.reason


def test_engine_errors_become_scheduler_errors(docker_client: docker.DockerClient) -> None:
    from empire.errors import SchedulerError
    from empire.scheduler.kit.errors import engine_errors

    missing = "cannot inspect container nope: the Docker engine answered 404"
    with pytest.raises(SchedulerError, match=missing), engine_errors("inspect container nope"):
        docker_client.api.inspect_container("empire-test-no-such-container")
    with engine_errors("remove container nope", missing_ok=True):
        docker_client.api.remove_container("empire-test-no-such-container")
    unreachable = docker.DockerClient(base_url="unix:///nonexistent/docker.sock", version="1.41")
    with pytest.raises(SchedulerError, match="unreachable"), engine_errors("list containers"):
        unreachable.api.containers()
