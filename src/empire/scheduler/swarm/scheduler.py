"""SwarmScheduler: runs apps as Docker Swarm services, through a manager's engine.

Every verb is keyed by app id and reads the manager's services and tasks by label, so nothing
is lost when Empire restarts. Writes to one app are serialized by a lock per app.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Collection, Iterator
from typing import Any

import docker

from empire.errors import NotFound, NotSupported, SchedulerError
from empire.model import Clock, Outcome, Task, utcnow
from empire.router import Endpoint, Router
from empire.scheduler import (
    LogQuery,
    Manifest,
    ManifestProcess,
    PhaseResult,
    StatusFn,
    Verdict,
    labels,
    quiet,
)
from empire.scheduler.kit import events
from empire.scheduler.kit.api import engine_api
from empire.scheduler.kit.attach import EngineAttachment
from empire.scheduler.kit.errors import engine_errors
from empire.scheduler.kit.routing import Routes
from empire.scheduler.swarm import attach, engine, logs, membership, phase, runs, tasks
from empire.scheduler.swarm.membership import Membership, watcher
from empire.scheduler.swarm.rollout import Rollout

log = logging.getLogger(__name__)
_KIND_ORDER = {labels.SERVICE: 0, labels.RUN: 1}


class SwarmScheduler:
    """The scheduler contract on Docker Swarm (see the package's docstring)."""

    def __init__(
        self,
        client: docker.DockerClient,
        router: Router,
        *,
        network: str = "empire",
        registry: str | None = None,
        clock: Clock = utcnow,
        health_timeout: float = 60.0,
        monitor: float = 5.0,
        stop_grace: float = 10.0,
        run_wait: float = 30.0,
        poll_interval: float = 0.25,
    ) -> None:
        self._client = client
        self._api = engine_api(client)
        self.events = events.EngineEvents(self._api)  # the engine's news of Empire's containers
        self._routes = Routes(router)
        self._membership = Membership(self._api, router, network)
        self._watcher = watcher(self._membership, self._try_app_lock)
        self.network = network
        self.registry = registry
        self._clock = clock
        self._timeout = health_timeout
        self._monitor = monitor
        self._stop_grace = stop_grace
        self._run_wait = run_wait
        self._poll = poll_interval
        self.nodes = tasks.Nodes(self._api)
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        self._runs = threading.Lock()
        self._node_id: str | None = None

    # -- the contract -------------------------------------------------------------------------

    def submit(self, manifest: Manifest, status: StatusFn | None = None) -> Verdict:
        """Converge the app's services to the manifest and follow the Swarm updates."""
        return self._converge(manifest, status or quiet, frozenset())

    def restart(
        self, manifest: Manifest, process: str | None = None, status: StatusFn | None = None
    ) -> Verdict:
        """Replace every task of the app (or of one process), rolling: a forced update."""
        if process is not None and manifest.process(process) is None:
            raise NotFound(
                f"no process type {process!r} in {manifest.app_name}", resource="formation"
            )
        names = frozenset(p.name for p in manifest.processes if process in (None, p.name))
        return self._converge(manifest, status or quiet, names)

    def remove(self, app_id: str) -> None:
        """Remove the app's services (runs included), attached runs and route."""
        with self._app_lock(app_id):
            self._routes.drop(app_id)
            for service in engine.services(self._api, f"{labels.APP_ID}={app_id}"):
                engine.remove_service(self._api, service["ID"])
            for container in attach.containers(self._api, app_id):
                with engine_errors(f"remove container {container['Id'][:12]}", missing_ok=True):
                    self._api.remove_container(container["Id"], force=True)

    def tasks(self, app_id: str) -> list[Task]:
        """The tasks the swarm runs for the app, the last one-off runs, and attached runs."""
        found: list[tuple[tuple[int, str, int], Task]] = []
        for service in engine.services(self._api, f"{labels.APP_ID}={app_id}"):
            tags = service["Spec"].get("Labels") or {}
            if tags.get(labels.KIND) == labels.RELEASE_PHASE:
                continue  # a release phase is no process of the app
            history = engine.tasks(self._api, service["ID"])
            if tags.get(labels.KIND) == labels.RUN:
                latest = max(history, key=lambda t: str(t.get("CreatedAt", "")), default=None)
                shown = [latest] if latest is not None else []
                order = _KIND_ORDER[labels.RUN]
            else:
                shown = [t for t in tasks.current(history) if tasks.state(t) not in engine.ENDED]
                order = _KIND_ORDER[labels.SERVICE]
            for task in shown:
                slot = runs.index(tags) if order else int(task.get("Slot") or 0)
                key = (order, "" if order else tags.get(labels.PROCESS, ""), slot)
                found.append((key, tasks.to_task(task, self.nodes, self._clock)))
        for container in attach.containers(self._api, app_id):  # runs, detached or not, by index
            key = (_KIND_ORDER[labels.RUN], "", runs.index(container.get("Labels") or {}))
            found.append((key, self._attached_task(container)))
        return [task for _, task in sorted(found, key=lambda item: item[0])]

    def stop(self, app_id: str, task: str) -> None:
        """Stop a task: a one-off run is removed; a service task on the manager's node is
        killed and Swarm starts its replacement; elsewhere, swarm cannot stop one task."""
        with self._app_lock(app_id):
            for container in attach.containers(self._api, app_id):
                if task in (self._attached_task(container).name, container["Id"][:12]):
                    with engine_errors(f"remove container {container['Id'][:12]}", missing_ok=True):
                        self._api.remove_container(container["Id"], force=True)
                    return
            for service in engine.services(self._api, f"{labels.APP_ID}={app_id}"):
                found_tasks = engine.tasks(self._api, service["ID"])
                if (service["Spec"].get("Labels") or {}).get(labels.KIND) != labels.RUN:
                    found_tasks = tasks.current(found_tasks)
                for found in found_tasks:
                    if task in (tasks.task_name(found), str(found["ID"])[:12]):
                        self._stop_task(service, found)
                        return
        raise NotFound(f"no task {task!r}: see `emp ps`", resource="dyno")

    def run(self, manifest: Manifest, process: ManifestProcess) -> Task:
        """Start a detached one-off run: a Swarm job of one task, on any node."""
        problem = self._image_problem(manifest)
        if problem:
            raise SchedulerError(problem)
        with self._runs:
            runs.reap(self._api, manifest.app_id)
            number = self._next_run(manifest.app_id)
            return runs.start(
                self._api,
                manifest,
                process,
                number=number,
                network=self.network,
                stop_grace=self._stop_grace,
                nodes=self.nodes,
                clock=self._clock,
                wait=self._run_wait,
                dns=self._routes.router.resolver(),
            )

    def attach(
        self,
        manifest: Manifest,
        process: ManifestProcess,
        *,
        tty: bool,
        rows: int | None = None,
        cols: int | None = None,
    ) -> EngineAttachment:
        """Start an attached one-off run: a container of the manager's engine on the overlay."""
        with self._runs:
            number = self._next_run(manifest.app_id)
            return attach.start(
                self._api,
                manifest,
                process,
                number=number,
                network=self.network,
                tty=tty,
                rows=rows,
                cols=cols,
                dns=self._routes.router.resolver(),
            )

    def logs(self, app_id: str, query: LogQuery) -> Iterator[str]:
        """The app's log lines from its services' logs, prefixed `<time> <app>[<slot>]: `."""
        return logs.read(self._api, app_id, query)

    def sweep(self) -> contextlib.AbstractContextManager[None]:
        """A reconcile round: nothing is read ahead."""
        return contextlib.nullcontext()

    def prune(self, keep: Collection[str]) -> None:
        """Remove the services, attached runs and routes of apps Empire no longer knows."""
        found = engine.services(self._api, f"{labels.NETWORK}={self.network}")
        gone = {
            app_id
            for s in found
            if (app_id := (s["Spec"].get("Labels") or {}).get(labels.APP_ID)) and app_id not in keep
        }
        for app_id in sorted(gone):
            self.remove(app_id)

    def release_phase(
        self,
        manifest: Manifest,
        process: ManifestProcess,
        *,
        timeout: float,
        output: Callable[[str], None],
    ) -> PhaseResult:
        """Run the release phase: a Swarm job of the new release, to its end (`phase`)."""
        return phase.run(
            self._api,
            manifest,
            process,
            network=self.network,
            stop_grace=self._stop_grace,
            dns=self._routes.router.resolver(),
            nodes=self.nodes,
            timeout=timeout,
            output=output,
        )

    def status(self) -> dict[str, object]:
        """The router's state."""
        return {"router": self._routes.router.status()}

    def start(self) -> None:
        """Keep every app's route in step with its tasks (a thread, twice a second), and
        follow the events of the manager's engine (`events`)."""
        self._watcher.start()
        self.events.start()

    def close(self) -> None:
        """Stop following the tasks and the events."""
        self._watcher.close()
        self.events.stop()

    def subscribe(self, changed: Callable[[str], None]) -> Callable[[], None]:
        """`changed(app_id)` when a task container of the app on the manager Empire talks to
        dies, is removed, runs out of memory or turns unhealthy: the engine's events are the
        node's own, so the other nodes' tasks are left to the rounds (Swarm replaces them
        itself, and the route follows them: `membership`)."""
        return events.watch_apps(self.events, changed)

    # -- helpers ------------------------------------------------------------------------------

    def _converge(self, manifest: Manifest, status: StatusFn, restart: frozenset[str]) -> Verdict:
        problem = self._image_problem(manifest)
        if problem:
            return Verdict(Outcome.FAILED, problem)
        rollout = Rollout(
            self._api,
            self.nodes,
            network=self.network,
            monitor=self._monitor,
            timeout=self._timeout,
            stop_grace=self._stop_grace,
            poll=self._poll,
            dns=self._routes.router.resolver(),
            drain=self._routes.drain,
        )
        with self._app_lock(manifest.app_id):

            def route() -> None:
                self._routes.apply(manifest, self._endpoints(manifest.app_id))

            rollout.on_poll = lambda: self._follow(manifest.app_id)
            return rollout.converge(manifest, status, route, restart)

    def _endpoints(self, app_id: str) -> dict[str, list[Endpoint]]:
        """The instances of each of the app's services that get traffic now."""
        services = engine.services(
            self._api, f"{labels.APP_ID}={app_id}", f"{labels.KIND}={labels.SERVICE}"
        )
        return {
            (s["Spec"].get("Labels") or {}).get(labels.PROCESS, ""): membership.endpoints(
                s, engine.tasks(self._api, s["ID"])
            )
            for s in services
        }

    def _follow(self, app_id: str) -> None:
        """During a rollout: the route follows the tasks Swarm starts and replaces."""
        try:
            self._membership.update(app_id)
        except SchedulerError as e:
            log.warning("swarm routes of %s: %s", app_id, e)

    def _image_problem(self, manifest: Manifest) -> str | None:
        """Why the nodes cannot pull the manifest's image, if they obviously cannot."""
        if not manifest.image.startswith("sha256:"):
            return None
        where = f" (e.g. {self.registry})" if self.registry else ""
        return (
            f"v{manifest.release}'s image is the local image {manifest.image[:19]}…, which swarm "
            f"nodes cannot pull: push it to a registry every node reaches{where} and deploy "
            "that reference"
        )

    def _here(self) -> str:
        """The node id of the manager Empire talks to."""
        if self._node_id is None:
            with engine_errors("read the manager's node id"):
                self._node_id = str(self._api.info()["Swarm"]["NodeID"])
        return self._node_id

    def _stop_task(self, service: dict[str, Any], task: dict[str, Any]) -> None:
        if (service["Spec"].get("Labels") or {}).get(labels.KIND) == labels.RUN:
            engine.remove_service(self._api, service["ID"])
            return
        container = ((task.get("Status") or {}).get("ContainerStatus") or {}).get("ContainerID")
        if task.get("NodeID") != self._here() or not container:
            node = self.nodes.name(str(task.get("NodeID") or ""))
            raise NotSupported(
                f"swarm cannot stop one task on another node ({tasks.task_name(task)} runs on "
                f"{node}): `emp restart {tasks.slot(task).split('.')[0]}` replaces them all, "
                "rolling"
            )
        host = f"{service['Spec']['Name']}.{task.get('Slot')}.{task['ID']}"
        if self._routes.without(str(service["Spec"]["Labels"].get(labels.APP_ID)), {host}):
            time.sleep(self._routes.drain)  # the requests it took finish before it stops
        with engine_errors(f"stop {tasks.task_name(task)}", missing_ok=True):
            self._api.stop(container, timeout=int(self._stop_grace))
            self._api.remove_container(container, force=True)

    def _next_run(self, app_id: str) -> int:
        numbers = [
            runs.index(s["Spec"].get("Labels") or {}) for s in runs.services(self._api, app_id)
        ]
        numbers += [runs.index(c.get("Labels") or {}) for c in attach.containers(self._api, app_id)]
        return max(numbers, default=0) + 1

    def _attached_task(self, container: dict[str, Any]) -> Task:
        return attach.to_task(container, self.nodes.name(self._here()))

    @contextlib.contextmanager
    def _app_lock(self, app_id: str) -> Iterator[None]:
        with self._guard:
            lock = self._locks.setdefault(app_id, threading.Lock())
        with lock:
            yield

    @contextlib.contextmanager
    def _try_app_lock(self, app_id: str) -> Iterator[bool]:
        """The app's lock when it is free (yields True), else nothing (yields False)."""
        with self._guard:
            lock = self._locks.setdefault(app_id, threading.Lock())
        held = lock.acquire(blocking=False)
        try:
            yield held
        finally:
            if held:
                lock.release()
