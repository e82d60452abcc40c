"""EcsScheduler: the scheduler contract on Amazon ECS, ELBv2, Route53 and EventBridge.

It keeps no state a restart would lose: every verb reads AWS. It remembers, in memory, the
last manifest submitted per app (so `ps` and `logs` know the app's name and processes) and
what the last successful submit left running (so a reconciler's idle submit costs one call).
Writes to one app are serialized by a lock per app; apps converge in parallel. `prune`
scans at most once per `prune_interval` seconds, as the reconciler calls it every round.
"""

from __future__ import annotations

import contextlib
import dataclasses
import threading
import time
from collections.abc import Callable, Collection, Iterator

from empire.errors import NotFound, NotSupported
from empire.model import Clock, Outcome, Task, utcnow
from empire.scheduler import (
    Attachment,
    LogQuery,
    Manifest,
    ManifestProcess,
    PhaseResult,
    StatusFn,
    Verdict,
    quiet,
)
from empire.scheduler.ecs import logs
from empire.scheduler.ecs.aws import Aws, Clients
from empire.scheduler.ecs.balancers import Balancers
from empire.scheduler.ecs.config import EcsConfig
from empire.scheduler.ecs.converge import Converged, Converger, long_running, scheduled
from empire.scheduler.ecs.cron import Cron
from empire.scheduler.ecs.inventory import Inventory
from empire.scheduler.ecs.parameters import Parameters
from empire.scheduler.ecs.phase import ReleasePhase
from empire.scheduler.ecs.records import Records
from empire.scheduler.ecs.rollout import Change, Watch
from empire.scheduler.ecs.services import Services, primary
from empire.scheduler.ecs.taskdefs import TaskDefinitions
from empire.scheduler.ecs.tasks import Tasks

ATTACHED = "attached runs are not supported on the ECS backend yet: use emp run -d"


class EcsScheduler:
    """The scheduler contract on Amazon ECS."""

    def __init__(
        self,
        clients: Clients,
        config: EcsConfig,
        *,
        clock: Clock = utcnow,
        deadline: float = 600.0,
        poll_interval: float = 5.0,
        phase_poll_interval: float | None = None,
        prune_interval: float = 300.0,
        throttle_attempts: int = 6,
        throttle_backoff: float = 0.5,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self.aws = Aws(clients, attempts=throttle_attempts, backoff=throttle_backoff, sleep=sleep)
        self._taskdefs = TaskDefinitions(self.aws)
        self._parameters = Parameters(self.aws, config)
        self._services = Services(self.aws, config)
        self._balancers = Balancers(self.aws, config)
        self._records = Records(self.aws, config, self._balancers)
        self._cron = Cron(self.aws, config)
        self.watch = Watch(
            self.aws,
            config.cluster,
            deadline=deadline,
            poll=poll_interval,
            sleep=sleep,
            monotonic=monotonic,
        )
        self._converger = Converger(
            config,
            self._taskdefs,
            self._services,
            self._balancers,
            self._records,
            self._cron,
            self.watch,
            self._parameters,
        )
        self._tasks = Tasks(self.aws, config, self._taskdefs, self._parameters, clock)
        self._phase = ReleasePhase(
            self.aws,
            config,
            self._taskdefs,
            self._parameters,
            # A release phase holds a deploy up: follow it more closely than a rollout.
            poll=phase_poll_interval if phase_poll_interval is not None else min(poll_interval, 2),
            sleep=sleep,
            monotonic=monotonic,
        )
        self._inventory = Inventory(
            self.aws,
            config,
            self._services,
            self._balancers,
            self._records,
            self._cron,
            self._taskdefs,
            self._parameters,
        )
        self._poll = poll_interval
        self._sleep = sleep
        self._monotonic = monotonic
        self._prune_interval = prune_interval
        self._pruned: float | None = None
        self._known: dict[str, Manifest] = {}
        self._converged: dict[str, Converged] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    # -- the contract -------------------------------------------------------------------------

    def submit(self, manifest: Manifest, status: StatusFn | None = None) -> Verdict:
        """Converge the app's AWS resources to the manifest and follow the rollout."""
        with self._app_lock(manifest.app_id):
            self._known[manifest.app_id] = manifest
            if self._converger.unchanged(manifest, self._converged.get(manifest.app_id)):
                return Verdict(Outcome.SUCCEEDED)
            self._converged.pop(manifest.app_id, None)
            verdict, converged = self._converger.submit(manifest, status or quiet)
            if converged.fingerprint:
                self._converged[manifest.app_id] = converged
            return verdict

    def restart(
        self, manifest: Manifest, process: str | None = None, status: StatusFn | None = None
    ) -> Verdict:
        """Start a new deployment of the app's services (or one's): new tasks, same release."""
        if process is not None and manifest.process(process) is None:
            raise NotFound(
                f"no process type {process!r} in {manifest.app_name}", resource="formation"
            )
        names = {
            self.config.service_name(manifest.app_name, p.name): p
            for p in long_running(manifest)
            if process in (None, p.name)
        }
        with self._app_lock(manifest.app_id):
            found = self._services.describe(list(names))
            if not found:
                raise NotFound(f"{manifest.app_name} has no ECS services: deploy it first")
            changes = []
            for name in sorted(found):
                service = self._services.update(name, forceNewDeployment=True)
                seen = {str(e["id"]) for e in service.get("events", [])}
                changes.append(
                    Change(
                        names[name].name,
                        name,
                        primary(service),
                        str(service["taskDefinition"]),
                        None,
                        seen,
                    )
                )
            return self.watch.verdict(changes, status or quiet)

    def remove(self, app_id: str) -> None:
        """Delete every resource tagged with the app's id in this installation."""
        with self._app_lock(app_id):
            self._known.pop(app_id, None)
            self._converged.pop(app_id, None)
            self._inventory.stop_runs(app_id)
            found = self._inventory.scan().get(app_id)
            if found:
                self._inventory.delete(found)
            self._parameters.forget(app_id)

    def tasks(self, app_id: str) -> list[Task]:
        """The app's service, scheduled and one-off tasks, as ECS reports them."""
        manifest = self._known.get(app_id)
        if manifest is None:
            services = [n for n, (owner, _) in self._services.owned().items() if owner == app_id]
            return self._tasks.running(app_id, services, [])
        app = manifest.app_name
        services = [self.config.service_name(app, p.name) for p in long_running(manifest)]
        families = [self.config.family(app, p.name) for p in scheduled(manifest)]
        return self._tasks.running(app_id, services, families)

    def stop(self, app_id: str, task: str) -> None:
        """Stop one task; its service starts a replacement."""
        self._tasks.stop(app_id, task, self.tasks(app_id))

    def run(self, manifest: Manifest, process: ManifestProcess) -> Task:
        """Start a detached one-off task with `run_task`."""
        one_off = dataclasses.replace(process, healthcheck=None, ports=(), quantity=1)
        return self._tasks.run(manifest, one_off)

    def attach(
        self,
        manifest: Manifest,
        process: ManifestProcess,
        *,
        tty: bool,
        rows: int | None = None,
        cols: int | None = None,
    ) -> Attachment:
        """Attached runs need a connection to the task's Docker engine: not supported yet."""
        raise NotSupported(ATTACHED)

    def logs(self, app_id: str, query: LogQuery) -> Iterator[str]:
        """The app's lines from CloudWatch Logs; follow if asked."""
        manifest = self._known.get(app_id)
        if manifest is None:
            return iter(())
        return logs.read(
            self.aws,
            self.config.log_group,
            manifest.app_name,
            query,
            poll=self._poll,
            sleep=self._sleep,
        )

    def subscribe(self, changed: Callable[[str], None]) -> Callable[[], None]:
        """ECS's news is not followed yet: the rounds heal (in batches of 10 describes)."""
        return lambda: None

    def sweep(self) -> contextlib.AbstractContextManager[None]:
        """A reconcile round: nothing is read ahead."""
        return contextlib.nullcontext()

    def prune(self, keep: Collection[str]) -> None:
        """Delete the resources of apps not in `keep` (at most once per prune interval).

        Apps this scheduler has submitted or run a release phase for (and not removed) are kept
        too, so an app created while the caller was reading `keep` is not pruned.
        """
        now = self._monotonic()
        if self._pruned is not None and now - self._pruned < self._prune_interval:
            return
        self._pruned = now
        for app_id, found in self._inventory.scan().items():
            # An app submitted through this scheduler and not removed is alive, even when it
            # was created after the caller read `keep`.
            if app_id in keep or app_id in self._known or self._parameters.wrote(app_id):
                continue
            with self._app_lock(app_id):
                self._known.pop(app_id, None)
                self._converged.pop(app_id, None)
                self._inventory.delete(found)
                self._parameters.forget(app_id)

    def release_phase(
        self,
        manifest: Manifest,
        process: ManifestProcess,
        *,
        timeout: float,
        output: Callable[[str], None],
    ) -> PhaseResult:
        """Run the release command as an ECS task of the new release and await its exit.

        No service is touched: the caller submits the release only after an exit 0. The
        app's lock is not held, so the reconciler keeps the current release healthy meanwhile.
        """
        return self._phase.run(manifest, process, timeout=timeout, output=output)

    def status(self) -> dict[str, object]:
        """Nothing of its own to report: AWS runs the load balancers."""
        return {}

    def start(self) -> None:
        """Nothing runs in the background: ECS and EventBridge keep the apps running."""

    def close(self) -> None:
        """Nothing runs in the background: nothing to stop."""

    # -- helpers ------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _app_lock(self, app_id: str) -> Iterator[None]:
        with self._guard:
            lock = self._locks.setdefault(app_id, threading.Lock())
        with lock:
            yield
