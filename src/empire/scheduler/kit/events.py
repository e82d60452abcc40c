"""The engine's event stream, narrowed to Empire's containers: `EngineEvents`.

Docker and Swarm share it. One daemon thread follows `GET /events` filtered to containers that
carry Empire's app label (on a Swarm node that includes the containers of the node's tasks, which
carry the container spec's labels) and hands each `EngineEvent` to every listener. A listener
must be quick (queue work, set a flag): it runs on the watcher's thread.

The stream is a hint, never the truth: it can drop events (a restart of the engine, a broken
connection, events while Empire was down). The watcher reconnects with `since` set to the last
event it saw, and the periodic reconcile sweep stays the safety net for whatever is lost.

Use:

    events = EngineEvents(engine_api(client))
    unsubscribe = events.listen(lambda event: ...)
    events.start()
    ...
    events.stop()
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from empire.scheduler import labels
from empire.scheduler.kit.api import EngineAPI

log = logging.getLogger("empire.scheduler.events")

# The container actions Empire reacts to (the engine sends many more: exec, attach, ...).
ACTIONS = ("start", "die", "health_status", "destroy", "oom", "kill", "stop", "restart")
RECONNECT_DELAY = 1.0  # s between a broken stream and the next attempt (doubles up to MAX)
MAX_RECONNECT_DELAY = 30.0
SWARM_SLOT = "com.docker.swarm.task.slot"  # a Swarm task's slot, on its container

Listener = Callable[["EngineEvent"], None]


@dataclass(frozen=True, slots=True)
class EngineEvent:
    """One event of one of Empire's containers.

    `action` is the engine's action with any detail cut off: `start`, `die`, `health_status`,
    `destroy`, `oom`, `kill`, `stop`, `restart`. `exit_code` is set on `die` (and `destroy`
    when the engine says), `health` (`healthy`, `unhealthy`, `starting`) on `health_status`.
    `instance` is the container's name; `task` Empire's name of the instance
    (`v<release>.<process>.<n>`, as `emp ps` shows it) when the labels tell it.
    """

    app_id: str
    app: str
    process: str
    kind: str  # labels.SERVICE, RUN, CRON, RELEASE_PHASE
    release: int
    instance: str
    task: str
    container_id: str
    action: str
    exit_code: int | None
    health: str | None
    at: datetime

    @classmethod
    def from_engine(cls, message: Mapping[str, Any]) -> EngineEvent | None:
        """The event of an engine message; None when it is not about one of Empire's
        containers or not an action Empire follows."""
        if message.get("Type", "container") != "container":
            return None
        raw = str(message.get("Action") or message.get("status") or "")
        action, _, detail = raw.partition(":")
        action = action.strip()
        if action not in ACTIONS:
            return None
        actor = message.get("Actor") or {}
        attributes: Mapping[str, Any] = actor.get("Attributes") or {}
        app_id = str(attributes.get(labels.APP_ID) or "")
        if not app_id or not labels.made_by_empire(str(attributes.get("name") or ""), attributes):
            return None  # not Empire's (a build step's container may carry its labels)
        exit_code: int | None = None
        if "exitCode" in attributes:
            try:
                exit_code = int(attributes["exitCode"])
            except (TypeError, ValueError):
                exit_code = None
        health = detail.strip() or None if action == "health_status" else None
        kind = str(attributes.get(labels.KIND) or labels.SERVICE)
        process = str(attributes.get(labels.PROCESS) or "")
        release = labels.number(str(attributes.get(labels.RELEASE) or "v0").lstrip("v"))
        slot_label = attributes.get(labels.INDEX) or attributes.get(SWARM_SLOT)
        index = str(slot_label or "")
        slot = kind if kind in (labels.RUN, labels.RELEASE_PHASE) else process
        task = f"v{release}.{slot}.{index}" if release and slot and index else ""
        return cls(
            app_id=app_id,
            app=str(attributes.get(labels.APP) or ""),
            process=process,
            kind=kind,
            release=release,
            instance=str(attributes.get("name") or "").lstrip("/"),
            task=task,
            container_id=str(actor.get("ID") or message.get("id") or ""),
            action=action,
            exit_code=exit_code,
            health=health,
            at=_when(message),
        )


def _when(message: Mapping[str, Any]) -> datetime:
    nano = message.get("timeNano")
    if isinstance(nano, int) and nano > 0:
        return datetime.fromtimestamp(nano / 1e9, UTC)
    seconds = message.get("time")
    if isinstance(seconds, int | float) and seconds > 0:
        return datetime.fromtimestamp(float(seconds), UTC)
    return datetime.now(UTC)


class EngineEvents:
    """Follows the engine's events of Empire's containers in a daemon thread.

    `listen` adds a listener and returns the function that removes it. `start` and `stop` are
    idempotent; after `stop` the object can be started again.
    """

    def __init__(
        self,
        api: EngineAPI,
        *,
        reconnect_delay: float = RECONNECT_DELAY,
        name: str = "engine-events",
    ) -> None:
        self.api = api
        self.reconnect_delay = reconnect_delay
        self.name = name
        self._listeners: dict[int, Listener] = {}
        self._next = 0
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._stream: Any = None
        self._since: int | None = None  # the second of the last event seen (reconnects)
        self._last_nano = 0  # the last event handed on: a reconnect's replay skips up to it
        self.connected = threading.Event()  # set while a stream is open (tests wait on it)

    # -- listeners ----------------------------------------------------------------------------

    def listen(self, callback: Listener) -> Callable[[], None]:
        """Call `callback(event)` for every event from now on; returns the unsubscribe."""
        with self._lock:
            key = self._next
            self._next += 1
            self._listeners[key] = callback

        def unsubscribe() -> None:
            with self._lock:
                self._listeners.pop(key, None)

        return unsubscribe

    def publish(self, event: EngineEvent) -> None:
        """Hand `event` to every listener; one that raises is logged, the others still run."""
        with self._lock:
            listeners = list(self._listeners.values())
        for listener in listeners:
            try:
                listener(event)
            except Exception:
                log.exception("engine event listener failed on %s", event.action)

    # -- the watcher --------------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._stopping.clear()
        self._thread = threading.Thread(target=self._loop, name=self.name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._close_stream()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _loop(self) -> None:
        delay = self.reconnect_delay
        while not self._stopping.is_set():
            try:
                for message in self._open():
                    delay = self.reconnect_delay
                    self._handle(message)
                    if self._stopping.is_set():
                        break
            except Exception as exc:  # a broken stream, an engine restart: reconnect
                if not self._stopping.is_set():
                    log.info("engine events: %s; reconnecting", exc)
            finally:
                self.connected.clear()
                self._close_stream()
            if self._stopping.wait(delay):
                break
            delay = min(delay * 2, MAX_RECONNECT_DELAY)

    def _open(self) -> Iterator[Mapping[str, Any]]:
        filters = {"type": ["container"], "label": [labels.APP_ID], "event": list(ACTIONS)}
        since = self._since
        self._stream = self.api.events(since=since, filters=filters, decode=True)
        self.connected.set()
        stream: Iterator[Mapping[str, Any]] = iter(self._stream)
        return stream

    def _handle(self, message: Mapping[str, Any]) -> None:
        nano = message.get("timeNano")
        if isinstance(nano, int) and nano > 0:
            if nano <= self._last_nano:
                return  # replayed by a reconnect's `since`: handed on already
            self._last_nano = nano
            self._since = nano // 1_000_000_000
        event = EngineEvent.from_engine(message)
        if event is not None:
            self.publish(event)

    def _close_stream(self) -> None:
        stream, self._stream = self._stream, None
        close = getattr(stream, "close", None)
        if close is not None:
            with contextlib.suppress(Exception):
                close()


def wait_connected(events: EngineEvents, timeout: float) -> bool:
    """Wait until the watcher has its stream open (what a test or a bench waits for)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if events.connected.wait(0.05):
            return True
    return False


def gone_or_sick(event: EngineEvent) -> bool:
    """Whether the event may leave a service of the app short of what it should run: one of
    its instances died, was removed, ran out of memory, or turned unhealthy."""
    if event.kind != labels.SERVICE:
        return False
    if event.action == "health_status":
        return event.health == "unhealthy"
    return event.action in ("die", "destroy", "oom")


def watch_apps(events: EngineEvents, changed: Callable[[str], None]) -> Callable[[], None]:
    """`Scheduler.subscribe` on the engine's events: `changed(app_id)` for each `gone_or_sick`
    event; returns the unsubscribe."""

    def on_event(event: EngineEvent) -> None:
        if gone_or_sick(event):
            changed(event.app_id)

    return events.listen(on_event)
