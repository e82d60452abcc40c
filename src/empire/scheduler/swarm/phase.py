"""A release's release phase on Swarm: a job of one task of the new release, run to its end.

The job (`<app>__release_<N>`, kind `release`, index N) runs on any node, on the overlay, with
the release's image and config; its lines are followed from the service's logs as they come
(lines cut at 10,000 bytes, binary decoded with replacement), and it ends with its task:
`complete` (exit 0), `failed` (its exit code), or `rejected` (a node could not start it: an
error naming the node). Still running at the timeout, the job is removed, which stops its
task. A finished job is kept, so `emp logs` shows its lines, until the app's next release
phase replaces it.
"""

from __future__ import annotations

import collections
import contextlib
import threading
import time
from collections.abc import Callable

from empire.errors import SchedulerError
from empire.scheduler import Manifest, ManifestProcess, PhaseResult, labels
from empire.scheduler.kit.api import EngineAPI, Json
from empire.scheduler.swarm import engine, spec, tasks

TAIL = 20
_POLL = 0.25


def run(
    api: EngineAPI,
    manifest: Manifest,
    process: ManifestProcess,
    *,
    network: str,
    stop_grace: float,
    dns: str | None,
    nodes: tasks.Nodes,
    timeout: float,
    output: Callable[[str], None],
) -> PhaseResult:
    """Run the phase to its end (or the timeout); see the module's docstring."""
    for earlier in engine.services(
        api, f"{labels.APP_ID}={manifest.app_id}", f"{labels.KIND}={labels.RELEASE_PHASE}"
    ):
        engine.remove_service(api, earlier["ID"])
    document = spec.one_off(
        manifest,
        process,
        index=manifest.release,
        network=network,
        stop_grace=stop_grace,
        dns=dns,
        kind=labels.RELEASE_PHASE,
    )
    engine.ensure_network(api, network)
    service_id = engine.create_service(api, document, f"the release phase {document['Name']}")
    tail: collections.deque[str] = collections.deque(maxlen=TAIL)
    seen: list[str] = []
    closers: list[Callable[[], None]] = []
    ended = threading.Event()

    def opened(close: Callable[[], None]) -> None:
        closers.append(close)
        if ended.is_set():  # the job ended before its logs were open: nothing to follow
            close()

    def emit(message: str) -> None:
        seen.append(message)
        tail.append(message)
        output(message)

    reader = threading.Thread(
        target=_read,
        args=(api, service_id, emit, opened),
        name=f"empire-release-{manifest.app_name}-v{manifest.release}",
        daemon=True,
    )
    reader.start()
    try:
        task = _wait(api, service_id, timeout)
        if task is None:
            engine.remove_service(api, service_id)  # stops its task
            return PhaseResult(None, tuple(tail))
        if tasks.state(task) == "rejected" or tasks.unpullable(task):
            engine.remove_service(api, service_id)
            raise SchedulerError(f"the release phase did not start: {tasks.failure(task, nodes)}")
        # Following never ends by itself (a job may start another task): stop it, then take
        # what the manager had not sent yet from the whole history.
        ended.set()
        _close(closers)
        reader.join(timeout=5)
        history = [m for _, _, m in engine.service_log_lines(api, service_id, tail="all")]
        for message in history[len(seen) :]:
            seen.append(message)
            tail.append(message)
            output(message)
        status = (task.get("Status") or {}).get("ContainerStatus") or {}
        code = int(status.get("ExitCode") or 0)
        return PhaseResult(code, tuple(tail))
    finally:
        ended.set()
        _close(closers)


def _close(closers: list[Callable[[], None]]) -> None:
    for close in closers:
        with contextlib.suppress(Exception):
            close()


def _wait(api: EngineAPI, service_id: str, timeout: float) -> Json | None:
    """The job's task once it ended, or None when it still ran after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = engine.tasks(api, service_id)
        ended = [t for t in found if tasks.state(t) in engine.ENDED]
        if ended and len(ended) == len(found):
            return max(ended, key=lambda t: str(t.get("CreatedAt", "")))
        time.sleep(_POLL)
    return None


def _read(
    api: EngineAPI,
    service_id: str,
    emit: Callable[[str], None],
    opened: Callable[[Callable[[], None]], None],
) -> None:
    with contextlib.suppress(Exception):  # a closed stream or a removed job ends it
        lines = engine.service_log_lines(api, service_id, follow=True, tail="all", on_open=opened)
        for _, _, message in lines:
            emit(message)
