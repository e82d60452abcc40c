"""Process state lines from the rollout and the engine's events (`kit.states`)."""

from __future__ import annotations

from datetime import UTC, datetime

from empire.applogs.memory import MemoryAppLog
from empire.scheduler.kit import containers
from empire.scheduler.kit.events import EngineEvent
from empire.scheduler.kit.states import ProcessStates

T0 = datetime(2026, 11, 26, 10, 0, 0, tzinfo=UTC)


def event(action: str, container: str, *, kind: str = "service", code: int | None = None):
    process = "run" if kind == "run" else "web"
    return EngineEvent(
        app_id="id-1",
        app="acme",
        process=process,
        kind=kind,
        release=3,
        instance=f"empire-acme-{process}-1-v3-abcd",
        task=f"v3.{process}.1",
        container_id=container,
        action=action,
        exit_code=code,
        health=None,
        at=T0,
    )


def texts(applog: MemoryAppLog) -> list[str]:
    return [f"[{x.source}] {x.text}" for x in applog.history("id-1")]


def test_a_service_that_ends_by_itself_crashed_and_comes_back_starting() -> None:
    applog = MemoryAppLog()
    states = ProcessStates(applog)
    states.on_event(event("die", "c-crash", code=3))
    states.on_event(event("start", "c-crash"))
    states.on_event(event("start", "c-crash"))  # said once
    assert texts(applog) == [
        "[web.1] Process exited with status 3",
        "[web.1] State changed from up to crashed",
        "[web.1] State changed from crashed to starting",
    ]


def test_what_empire_stops_goes_down_and_a_run_completes() -> None:
    applog = MemoryAppLog()
    states = ProcessStates(applog)
    containers._STOPPED.mark("c-stopped")  # what `containers.remove` does
    states.on_event(event("die", "c-stopped", code=143))
    states.on_event(event("die", "c-run", kind="run", code=0))
    states.on_event(event("die", "c-phase", kind="release", code=1))  # its output says it all
    states.on_event(event("kill", "c-other"))
    assert texts(applog) == [
        "[web.1] Process exited with status 143",
        "[web.1] State changed from up to down",
        "[run.1] Process exited with status 0",
        "[run.1] State changed from up to complete",
    ]


def test_without_an_app_log_nothing_is_written_and_nothing_fails() -> None:
    ProcessStates(None).on_event(event("die", "c-1", code=1))
