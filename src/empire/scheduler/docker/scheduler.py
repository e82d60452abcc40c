"""DockerScheduler: runs apps as containers on one Docker engine, behind a router.

Every verb is keyed by app id and reads the engine's containers by label, so the scheduler
keeps no state a restart of Empire would lose (the cron table is rebuilt by the next submit).
Writes to one app (submit, restart, stop, remove) are serialized by a lock per app; different
apps converge in parallel.
"""

from __future__ import annotations

import contextlib
import secrets
import threading
import time
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

import docker

from empire.applog import AppLog
from empire.errors import Invalid, NotFound
from empire.failpoints import OFF, Failpoints
from empire.model import Clock, Outcome, Size, Task, utcnow
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
from empire.scheduler.docker import attach, containers, cron, logs, phase
from empire.scheduler.docker.instances import Instance, list_instances
from empire.scheduler.docker.rollout import Rollout
from empire.scheduler.kit import containers as kit
from empire.scheduler.kit import events
from empire.scheduler.kit.api import engine_api
from empire.scheduler.kit.attach import EngineAttachment
from empire.scheduler.kit.errors import engine_errors
from empire.scheduler.kit.names import run_task
from empire.scheduler.kit.routing import Routes
from empire.scheduler.kit.states import ProcessStates
from empire.scheduler.kit.sweep import Sweeps
from empire.scheduler.kit.times import parse_time

KEEP_CRON_RUNS = 3  # finished cron containers kept per process, so `ps` shows the last runs
_KIND_ORDER = {labels.SERVICE: 0, labels.CRON: 1, labels.RUN: 2, labels.RELEASE_PHASE: 3}


class DockerScheduler:
    """The scheduler contract on the local Docker engine."""

    def __init__(
        self,
        client: docker.DockerClient,
        router: Router,
        *,
        network: str = "empire",
        clock: Clock = utcnow,
        health_timeout: float = 60.0,
        min_running: float = 3.0,
        stop_timeout: int = 30,
        drain: float = 2.0,
        cron_interval: float = 10.0,
        poll_interval: float = 0.1,
        failpoints: Failpoints = OFF,
        isolate: bool = False,
        applog: AppLog | None = None,
    ) -> None:

        self._api = engine_api(client)
        self.events = events.EngineEvents(self._api)  # the engine's news of Empire's containers
        self.states = ProcessStates(applog, clock)  # `web.1` state lines in the app's log
        self.events.listen(self.states.on_event)
        self._routes = Routes(router)
        self._clock = clock
        self._stop_timeout = stop_timeout
        self._drain = max(drain, router.drain)
        self.network = containers.Network(self._api, network, router, isolate=isolate)
        self._rollout = Rollout(
            self._api,
            self.network,
            health_timeout=health_timeout,
            min_running=min_running,
            stop_timeout=stop_timeout,
            drain=self._drain,
            poll=poll_interval,
            failpoints=failpoints,
            states=self.states,
        )
        self._cron = cron.Cron(self._launch_cron, clock, cron_interval)
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        self._runs = threading.Lock()
        self._host: str | None = None
        self._sweeps: Sweeps[list[Instance]] = Sweeps(self._read_all, empty=list)

    # -- the contract -------------------------------------------------------------------------

    def submit(self, manifest: Manifest, status: StatusFn | None = None) -> Verdict:
        """Converge the app's containers to the manifest: scale, heal, or roll start-first."""
        problem = _schedule_problem(manifest)
        if problem is not None:
            return Verdict(Outcome.FAILED, problem)
        with self._app_lock(manifest.app_id):
            verdict = self._converge(manifest, quiet if status is None else status)
        if verdict.outcome is Outcome.SUCCEEDED:
            self._cron.track(manifest)
        return verdict

    def restart(
        self, manifest: Manifest, process: str | None = None, status: StatusFn | None = None
    ) -> Verdict:
        """Replace every instance of the app, or of one process type, rolling."""
        if process is not None and manifest.process(process) is None:
            raise NotFound(
                f"no process type {process!r} in {manifest.app_name}", resource="formation"
            )
        nonce = secrets.token_hex(4)
        nonces = {p.name: nonce for p in manifest.processes if process in (None, p.name)}
        with self._app_lock(manifest.app_id):
            return self._converge(manifest, quiet if status is None else status, nonces)

    def remove(self, app_id: str) -> None:
        """Remove every container of the app (services, runs, cron runs) and its route."""
        self._cron.forget(app_id)
        with self._app_lock(app_id):
            self._routes.drop(app_id)
            self._remove(list_instances(self._api, f"{labels.APP_ID}={app_id}"))
            self.network.leave(app_id)
            self._rollout.forget(app_id)
        self._sweeps.forget(app_id)

    def tasks(self, app_id: str) -> list[Task]:
        """One task per container of the app, running or recently finished."""
        found = [
            i
            for i in list_instances(self._api, f"{labels.APP_ID}={app_id}")
            if i.kind != labels.RELEASE_PHASE  # a release phase is no process of the app
        ]
        tasks = [t for i in found if (t := self._task(i)) is not None]
        order = {i.short_id: (_KIND_ORDER.get(i.kind, 3), i.process, i.index) for i in found}
        return sorted(tasks, key=lambda t: order[t.id])

    def stop(self, app_id: str, task: str) -> None:
        """Stop and remove the container named by the task name or container id."""
        with self._app_lock(app_id):
            found = list_instances(self._api, f"{labels.APP_ID}={app_id}")
            matches = [i for i in found if _names(i, task)]
            if not matches:
                raise NotFound(f"no task {task!r}: see `emp ps`", resource="dyno")
            if self._routes.without(app_id, {i.name for i in matches}):
                time.sleep(self._drain)  # the requests it took finish before it stops
            self._remove(matches)

    def run(self, manifest: Manifest, process: ManifestProcess) -> Task:
        """Start a detached one-off container, removed by the engine when it is done."""
        with self._runs:  # one index per run, even when two start at once
            found = list_instances(
                self._api, f"{labels.APP_ID}={manifest.app_id}", f"{labels.KIND}={labels.RUN}"
            )
            index = max((i.index for i in found), default=0) + 1
            container_id = self._create(manifest, process, labels.RUN, index)
        kit.start(self._api, container_id)
        return run_task(
            manifest,
            process,
            index=index,
            ident=container_id,
            state="up",
            host=self._hostname(),
            size=Size(process.cpu_shares, process.memory, process.nproc),
            when=self._clock(),
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
        """Start a one-off container attached to the caller (see `attach`); listed in `tasks`
        while it runs, removed by the attachment's `kill`."""
        with self._runs:
            found = list_instances(
                self._api, f"{labels.APP_ID}={manifest.app_id}", f"{labels.KIND}={labels.RUN}"
            )
            index = max((i.index for i in found), default=0) + 1
            attachment = attach.start(
                self._api,
                manifest,
                process,
                index=index,
                placement=self.network.place(manifest.app_id),
                tty=tty,
                rows=rows,
                cols=cols,
            )
        self._remove([i for i in found if i.id in attach.stale(self._api, found)])
        return attachment

    def logs(self, app_id: str, query: LogQuery) -> Iterator[str]:
        """The app's log lines, prefixed `<time> <app>[<process>.<n>]: `; follow if asked."""
        return logs.read(self._api, app_id, query)

    # -- cron and reconciliation -------------------------------------------------------------

    def status(self) -> dict[str, object]:
        """The router's state."""
        return {"router": self._routes.router.status()}

    def start(self) -> None:
        """Start the thread that runs scheduled processes of the submitted manifests, and the
        one that follows the engine's events (`events`)."""
        self._cron.start()
        self.events.start()

    def close(self) -> None:
        """Stop the cron thread and the events' one."""
        self._cron.close()
        self.events.stop()

    def subscribe(self, changed: Callable[[str], None]) -> Callable[[], None]:
        """`changed(app_id)` when one of the app's service containers dies, is removed, runs
        out of memory or turns unhealthy (the engine's events, once `start`ed)."""
        return events.watch_apps(self.events, changed)

    def run_due(self, now: datetime) -> list[tuple[str, str]]:
        """Run the scheduled processes due since the last check; return (app id, process)."""
        return self._cron.run_due(now)

    def sweep(self) -> contextlib.AbstractContextManager[None]:
        """A reconcile round: every container is listed once (by the network label), and each
        app's submit and the prune are answered from that list where it shows nothing to do
        (`kit.sweep`)."""
        return self._sweeps.sweep()

    def prune(self, keep: Collection[str]) -> None:
        """The contract's name for `reconcile_orphans`."""
        self.reconcile_orphans(keep)

    def reconcile_orphans(self, known_app_ids: Collection[str]) -> list[str]:
        """Remove the containers and routes of apps Empire no longer knows; return their ids."""
        groups = self._sweeps.everything()
        if groups is None:
            found = list_instances(self._api, f"{labels.NETWORK}={self.network.name}")
        else:
            found = [i for group in groups.values() for i in group]
        orphans = [i for i in found if i.app_id and i.app_id not in known_app_ids]
        gone = sorted({i.app_id for i in orphans})
        for app_id in gone:
            self._cron.forget(app_id)
            self._routes.drop(app_id)
        self._remove(orphans)
        for app_id in gone:
            self.network.leave(app_id)
            self._rollout.forget(app_id)
            self._sweeps.forget(app_id)
        return gone

    def release_phase(
        self,
        manifest: Manifest,
        process: ManifestProcess,
        *,
        timeout: float,
        output: Callable[[str], None],
    ) -> PhaseResult:
        """Run the release phase: one container of the new release, to its end (`phase`)."""
        return phase.run(self._api, self.network, manifest, process, timeout=timeout, output=output)

    # -- helpers ------------------------------------------------------------------------------

    def _converge(
        self, manifest: Manifest, status: StatusFn, nonces: dict[str, str] | None = None
    ) -> Verdict:
        """(Under the app's lock.) Within a sweep, an app the round's read shows converged
        costs no engine call; anything to do is done on a fresh read of the app."""

        def route(endpoints: Mapping[str, Sequence[Endpoint]]) -> frozenset[str]:
            return self._route(manifest, endpoints)

        group = self._sweeps.group(manifest.app_id) if nonces is None else None
        if group is not None:
            services = [i for i in group if i.kind == labels.SERVICE]
            verdict = self._rollout.settled(manifest, services, route, status)
            if verdict is not None:
                return verdict
        found = list_instances(
            self._api, f"{labels.APP_ID}={manifest.app_id}", f"{labels.KIND}={labels.SERVICE}"
        )
        return self._rollout.converge(manifest, found, route, status, nonces)

    def _read_all(self) -> dict[str, list[Instance]]:
        """Every container of every app, by app id: one list call."""
        groups: dict[str, list[Instance]] = {}
        for i in list_instances(self._api, f"{labels.NETWORK}={self.network.name}"):
            if i.app_id:
                groups.setdefault(i.app_id, []).append(i)
        return groups

    def _route(
        self, manifest: Manifest, endpoints: Mapping[str, Sequence[Endpoint]]
    ) -> frozenset[str]:
        """Route the app to these instances; return the hosts its route no longer has."""
        before = self._routes.router.current(manifest.app_id)
        self._routes.apply(manifest, endpoints)
        if before is None:
            return frozenset()
        kept = {e.host for ends in endpoints.values() for e in ends}
        return frozenset(e.host for _, ends in before.processes for e in ends) - kept

    def _launch_cron(self, manifest: Manifest, process: ManifestProcess) -> None:
        found = list_instances(
            self._api,
            f"{labels.APP_ID}={manifest.app_id}",
            f"{labels.KIND}={labels.CRON}",
            f"{labels.PROCESS}={process.name}",
        )
        finished = sorted((i for i in found if not i.alive), key=lambda i: i.index)
        self._remove(finished[: max(len(finished) - KEEP_CRON_RUNS, 0)])
        first = max((i.index for i in found), default=0) + 1
        for index in range(first, first + max(process.quantity, 1)):
            kit.start(self._api, self._create(manifest, process, labels.CRON, index))

    def _create(self, manifest: Manifest, process: ManifestProcess, kind: str, index: int) -> str:
        return containers.create(
            self._api,
            manifest,
            process,
            kind=kind,
            index=index,
            nonce="",
            placement=self.network.place(manifest.app_id),
        )

    def _remove(self, instances: list[Instance]) -> None:
        if not instances:
            return
        with ThreadPoolExecutor(max_workers=min(8, len(instances))) as pool:
            futures = [
                pool.submit(kit.remove, self._api, i.id, self._stop_timeout) for i in instances
            ]
        for future in futures:
            future.result()

    def _task(self, instance: Instance) -> Task | None:
        with engine_errors(f"inspect container {instance.short_id}", missing_ok=True):
            attrs = self._api.inspect_container(instance.id)
            state = attrs.get("State") or {}
            status = str(state.get("Status", instance.state))
            finished = status in ("exited", "dead")
            when = parse_time(state.get("FinishedAt" if finished else "StartedAt"))
            host = attrs.get("HostConfig") or {}
            return Task(
                name=instance.task_name,
                id=instance.short_id,
                process=instance.process,
                release=instance.release,
                command=instance.labels.get(labels.COMMAND, ""),
                state="up" if status == "running" else status,
                host=self._hostname(),
                size=Size(
                    int(host.get("CpuShares") or 0),
                    int(host.get("Memory") or 0),
                    kit.nproc(int(host.get("PidsLimit") or 0)),
                ),
                updated_at=when or parse_time(attrs.get("Created")) or self._clock(),
                exit_code=int(state.get("ExitCode", 0)) if finished else None,
            )
        return None

    def _hostname(self) -> str:
        if self._host is None:
            with engine_errors("read the engine's info"):
                self._host = str(self._api.info().get("Name", "docker"))
        return self._host

    @contextlib.contextmanager
    def _app_lock(self, app_id: str) -> Iterator[None]:
        with self._guard:
            lock = self._locks.setdefault(app_id, threading.Lock())
        with lock:
            try:
                yield
            finally:
                self._sweeps.wrote(app_id)  # a round's read from before is stale for the app


def _names(instance: Instance, task: str) -> bool:
    if task in (instance.task_name, instance.name):
        return True
    return len(task) >= 4 and instance.id.startswith(task)


def _schedule_problem(manifest: Manifest) -> str | None:
    for process in manifest.processes:
        if process.schedule:
            try:
                cron.parse(process.schedule)
            except Invalid as e:
                return f"{process.name}: {e}"
    return None
