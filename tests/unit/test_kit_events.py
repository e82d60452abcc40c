"""The engine event watcher: what it hands on, what it drops, how it survives a broken stream."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from typing import Any

from empire.scheduler import labels
from empire.scheduler.kit.events import EngineEvent, EngineEvents

APP = {labels.APP_ID: "a1", labels.APP: "acme", labels.PROCESS: "web", labels.RELEASE: "v3"}
NAME = "empire-acme-web-1-v3-0a1b"  # as the Docker backend names a container


def message(action: str, nano: int, **attributes: str) -> dict[str, Any]:
    return {
        "Type": "container",
        "Action": action,
        "Actor": {"ID": "c" * 64, "Attributes": {"name": NAME, **attributes}},
        "time": nano // 1_000_000_000,
        "timeNano": nano,
    }


class Stream:
    """A closable event stream: yields its messages, then blocks until closed (or breaks)."""

    def __init__(self, messages: list[dict[str, Any]], *, breaks: bool = False) -> None:
        self.messages = messages
        self.breaks = breaks
        self.closed = threading.Event()

    def __iter__(self) -> Iterator[dict[str, Any]]:
        yield from self.messages
        if self.breaks:
            raise ConnectionError("engine went away")
        self.closed.wait(10)

    def close(self) -> None:
        self.closed.set()


class FakeAPI:
    def __init__(self, streams: list[Stream]) -> None:
        self.streams = streams
        self.calls: list[Mapping[str, Any]] = []

    def events(self, **options: Any) -> Stream:
        self.calls.append(options)
        if self.streams:
            return self.streams.pop(0)
        return Stream([])


def test_a_die_carries_the_exit_code_and_the_labels() -> None:
    die = message("die", 5_000_000_000, exitCode="137", **APP, **{labels.INDEX: "2"})
    event = EngineEvent.from_engine(die)
    assert event is not None
    assert (event.app_id, event.app, event.process, event.release) == ("a1", "acme", "web", 3)
    assert (event.action, event.exit_code, event.health) == ("die", 137, None)
    assert event.instance == NAME
    assert event.task == "v3.web.2"
    assert event.at.timestamp() == 5.0


def test_health_status_carries_the_health() -> None:
    event = EngineEvent.from_engine(message("health_status: unhealthy", 1, **APP))
    assert event is not None
    assert (event.action, event.health, event.exit_code) == ("health_status", "unhealthy", None)


def test_other_containers_and_actions_are_dropped() -> None:
    assert EngineEvent.from_engine(message("die", 1)) is None  # no app label
    assert EngineEvent.from_engine(message("exec_start: sh", 1, **APP)) is None
    assert EngineEvent.from_engine({**message("die", 1, **APP), "Type": "network"}) is None
    assert EngineEvent.from_engine(message("die", 1, exitCode="x", **APP)) is not None


def test_a_build_steps_container_with_an_apps_labels_is_not_the_apps() -> None:
    """A pushed Dockerfile's `LABEL empire.app.id=...` reaches the containers of its build's
    steps, whose names are the engine's own: their deaths are no app's crash."""
    planted = message("die", 1, exitCode="1", **APP, name="eager_turing")
    assert EngineEvent.from_engine(planted) is None
    swarm_task = message("die", 1, **APP, name="acme_web.1.x2k9c0mq8d1b3")
    assert EngineEvent.from_engine(swarm_task) is not None
    assert EngineEvent.from_engine(message("die", 1, **APP, name="acme_web")) is None
    other = message("die", 1, **{**APP, labels.APP: "other"})  # named for acme, labelled other
    assert EngineEvent.from_engine(other) is None


def test_listeners_get_events_until_they_unsubscribe_and_a_reconnect_replays_nothing() -> None:
    first = Stream(
        [message("start", 10, **APP), message("die", 20, exitCode="1", **APP)], breaks=True
    )
    # The reconnect's `since` replays the last second: the watcher skips what it handed on.
    second = Stream([message("die", 20, exitCode="1", **APP), message("destroy", 30, **APP)])
    api = FakeAPI([first, second])
    seen: list[str] = []
    done = threading.Event()

    def listener(event: EngineEvent) -> None:
        seen.append(event.action)
        if event.action == "destroy":
            done.set()

    def broken(event: EngineEvent) -> None:
        raise RuntimeError("a listener's bug")

    watcher = EngineEvents(api, reconnect_delay=0.01)  # type: ignore[arg-type]
    watcher.listen(broken)
    unsubscribe = watcher.listen(listener)
    watcher.start()
    try:
        assert done.wait(5)
        assert seen == ["start", "die", "destroy"]
        assert api.calls[0]["filters"]["label"] == [labels.APP_ID]
        assert api.calls[1]["since"] == 0  # the second of the last event seen
        unsubscribe()
        watcher.publish(EngineEvent.from_engine(message("die", 40, **APP)))  # type: ignore[arg-type]
        assert seen == ["start", "die", "destroy"]
    finally:
        watcher.stop()
    assert not watcher.running
