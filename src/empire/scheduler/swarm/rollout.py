"""Converge an app's Swarm services to a manifest, follow the Swarm updates, give the verdict.

Per process: a missing service is created; a changed task template (or a restart, which bumps
`ForceUpdate`) is a Swarm update, start-first and one task at a time, that Swarm rolls back
itself when a new task fails or is unhealthy within the monitor window; a changed quantity
alone is a scale. The rollout follows each service (its `UpdateStatus`: updating → completed,
or rollback_started → rollback_completed | paused, and its tasks) until every one is done, one
fails, or the deadline passes (`timeout`, plus the monitor window and 5 s per task of the
largest service, for the tasks are replaced one at a time). Outcomes:

- every service converged: SUCCEEDED, then the services of processes no longer wanted go;
- one failed: the services changed by this rollout go back (created ones removed, updated and
  scaled ones rolled back to their previous spec: Swarm's own rollback), and the verdict is
  ROLLED_BACK with the reason (the update's message, the failed task's error and node);
- a node that cannot pull the image of a new service: the same, then SchedulerError naming
  node and image (an update to an image a node cannot pull is rolled back by Swarm: the
  ROLLED_BACK reason says so);
- the deadline passed: what did not finish is reverted the same way; ROLLED_BACK, naming the
  task still not running (or the last one that failed).

Scheduled (cron) processes get no service: the swarm backend does not run them yet.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from empire.errors import SchedulerError
from empire.model import Outcome
from empire.scheduler import Manifest, StatusFn, Verdict, labels
from empire.scheduler.kit.api import EngineAPI
from empire.scheduler.swarm import engine, spec, tasks
from empire.scheduler.swarm.spec import Desired

Json = dict[str, Any]
_ROLLBACK_WAIT = 60.0  # seconds a rollback of ours may take before the verdict says so
_PER_TASK = 5.0  # seconds allowed per task of a rolling update, beyond the monitor window


@dataclass(slots=True)
class Step:
    """What happens to one process's service, and how it is going."""

    process: str
    desired: Desired
    current: Json | None
    action: str  # create | roll | start (a new template, nothing to roll) | scale | keep
    force_update: int = 0
    before: frozenset[str] = frozenset()  # ids of the tasks that existed before the change
    service_id: str = ""
    failure: str | None = None
    done: bool = False
    rolled_back: bool = False  # Swarm rolled it back on its own
    unpullable: bool = False  # a node could not pull the image of the new service
    seen: str = ""  # the last UpdateStatus state seen
    failed: dict[str, Json] = field(default_factory=dict)  # new tasks seen failing, by id
    message: str = ""  # the first message of a rollback or pause
    running: int = -1

    @property
    def replicas(self) -> int:
        return self.desired.replicas


@dataclass(slots=True)
class Rollout:
    """Applies a manifest to the swarm through the manager's API."""

    api: EngineAPI
    nodes: tasks.Nodes
    network: str
    monitor: float
    timeout: float
    stop_grace: float
    poll: float = 0.25
    dns: str | None = None  # the router's resolver: every task's DNS server
    drain: float = 0.0
    on_poll: Callable[[], None] = lambda: None  # keeps the app's route in step with its tasks

    def converge(
        self,
        manifest: Manifest,
        status: StatusFn,
        route: Callable[[], None],
        restart: frozenset[str] = frozenset(),
    ) -> Verdict:
        """Converge and return the verdict; `route()` runs once all is well (and the route
        follows the tasks meanwhile: `on_poll`)."""
        found = engine.services(
            self.api, f"{labels.APP_ID}={manifest.app_id}", f"{labels.KIND}={labels.SERVICE}"
        )
        by_process = {s["Spec"]["Labels"].get(labels.PROCESS, ""): s for s in found}
        steps = [
            self._plan(manifest, p.name, by_process.get(p.name), p.name in restart)
            for p in manifest.processes
            if not (p.noservice or p.schedule)
        ]
        wanted = {s.process for s in steps}
        orphans = [s for name, s in by_process.items() if name not in wanted]
        for p in manifest.processes:
            if p.schedule:
                status(f"Status: {p.name}: scheduled processes do not run on the swarm backend")
        if any(s.action != "keep" for s in steps):
            engine.ensure_network(self.api, self.network)
        for step in steps:
            self._apply(manifest, step, status)
        failures = self._follow(manifest, steps, status)
        if failures:
            self._revert(steps, status)
            reason = "; ".join(failures)
            status(f"Status: rolled back: {reason}")
            if any(s.unpullable for s in steps):
                raise SchedulerError(reason)
            return Verdict(Outcome.ROLLED_BACK, f"v{manifest.release} was not rolled out: {reason}")
        try:
            route()
        except SchedulerError as e:
            return Verdict(Outcome.FAILED, f"cannot update the route: {e}")
        if orphans and self.drain:
            time.sleep(self.drain)  # out of the route: the requests they took finish
        for orphan in orphans:
            engine.remove_service(self.api, orphan["ID"])
            status(f"Status: removed service {orphan['Spec']['Name']}")
        return Verdict(Outcome.SUCCEEDED)

    def settled(
        self, manifest: Manifest, status: StatusFn, found: list[Json], route: Callable[[], None]
    ) -> Verdict | None:
        """The verdict of an app whose services (`found`: a reconcile round's read) are what
        the manifest wants, with nothing to create, update, scale or remove: its route is
        kept in step (`route`), no call to the manager is made. None when there is something
        to do: the caller converges on a fresh read."""
        by_process = {s["Spec"]["Labels"].get(labels.PROCESS, ""): s for s in found}
        steps = [
            self._plan(manifest, p.name, by_process.get(p.name), False)
            if by_process.get(p.name) is not None
            else None
            for p in manifest.processes
            if not (p.noservice or p.schedule)
        ]
        wanted = {p.name for p in manifest.processes if not (p.noservice or p.schedule)}
        if any(s is None or s.action != "keep" for s in steps) or set(by_process) - wanted:
            return None
        for p in manifest.processes:
            if p.schedule:
                status(f"Status: {p.name}: scheduled processes do not run on the swarm backend")
        for step in steps:
            assert step is not None
            self._apply(manifest, step, status)
        try:
            route()
        except SchedulerError as e:
            return Verdict(Outcome.FAILED, f"cannot update the route: {e}")
        return Verdict(Outcome.SUCCEEDED)

    # -- planning and applying ----------------------------------------------------------------

    def _plan(self, manifest: Manifest, name: str, current: Json | None, restart: bool) -> Step:
        tags = (current or {}).get("Spec", {}).get("Labels") or {}
        template = (current or {}).get("Spec", {}).get("TaskTemplate") or {}
        force = int(template.get("ForceUpdate") or 0) + (1 if restart else 0)
        process = manifest.process(name)
        assert process is not None
        desired = spec.service(
            manifest,
            process,
            network=self.network,
            monitor=self.monitor,
            stop_grace=self.stop_grace,
            force_update=force,
            dns=self.dns,
        )
        if current is None:
            return Step(name, desired, None, "create", force)
        replicas = int(current["Spec"].get("Mode", {}).get("Replicated", {}).get("Replicas", 0))
        if restart or tags.get(labels.SPEC) != desired.template_hash:
            # Nothing runs (or will): a new template, but nothing to roll.
            action = "roll" if replicas and desired.replicas else "start"
        elif tags.get(labels.CONFIG) != desired.config_hash or replicas != desired.replicas:
            action = "scale"
        else:
            action = "keep"
        # A kept service is not followed: the tasks it had before matter only to a change.
        before = (
            frozenset()
            if action == "keep"
            else frozenset(t["ID"] for t in engine.tasks(self.api, current["ID"]))
        )
        return Step(name, desired, current, action, force, before, current["ID"])

    def _apply(self, manifest: Manifest, step: Step, status: StatusFn) -> None:
        n = step.replicas
        what = f"{n} instance{'' if n == 1 else 's'} of v{manifest.release}"
        if step.action == "keep":
            status(f"Status: {step.process}: {what} running")
            step.done = True
            return
        document = step.desired.spec
        if step.action == "create":
            status(f"Status: {step.process}: creating service {step.desired.name} ({what})")
            step.service_id = engine.create_service(
                self.api, document, f"service {step.desired.name}"
            )
            return
        assert step.current is not None
        if step.action == "scale":  # the running template stays (and EMPIRE_PROCESS_SCALE)
            document = {**document, "TaskTemplate": step.current["Spec"]["TaskTemplate"]}
            status(f"Status: {step.process}: scaling to {n} instance{'' if n == 1 else 's'}")
        elif step.action == "roll":
            status(f"Status: {step.process}: rolling to {what}, start-first, one at a time")
        else:
            status(f"Status: {step.process}: starting {what}")
        engine.update_service(self.api, step.current, document)

    # -- following ----------------------------------------------------------------------------

    def _follow(self, manifest: Manifest, steps: list[Step], status: StatusFn) -> list[str]:
        started = time.monotonic()
        slowest = max((s.replicas for s in steps if not s.done), default=0)
        deadline = started + self.timeout + slowest * (self.monitor + _PER_TASK)
        while True:
            for step in steps:
                if not step.done and step.failure is None:
                    self._check(manifest, step, status)
            self.on_poll()
            failures = [s.failure for s in steps if s.failure is not None]
            if failures or all(s.done for s in steps):
                return failures
            if time.monotonic() >= deadline:
                late = [s for s in steps if not s.done]
                return [self._late(s, time.monotonic() - started) for s in late]
            time.sleep(self.poll)

    def _check(self, manifest: Manifest, step: Step, status: StatusFn) -> None:
        found = engine.tasks(self.api, step.service_id)
        new = [
            t
            for t in found
            if t["ID"] not in step.before
            and tasks.runs_spec(t, step.desired.template_hash, step.force_update)
        ]
        # A scale keeps the tasks it had: they count (the others count only new tasks).
        counted = found if step.action == "scale" else new
        running = sum(
            1
            for t in counted
            if tasks.state(t) == "running"
            and _wanted(t)
            and tasks.runs_spec(t, step.desired.template_hash, step.force_update)
        )
        # Swarm keeps a few tasks per slot: remember the failures before they are pruned.
        step.failed.update(
            (t["ID"], t) for t in found if t["ID"] not in step.before and tasks.failing(t)
        )
        if step.action == "roll":
            service = engine.inspect_service(self.api, step.service_id) or {}
            update = service.get("UpdateStatus") or {}
            state = str(update.get("State", ""))
            if state and state != step.seen:
                step.seen = state
                step.message = step.message or (
                    str(update.get("Message") or "") if state != "updating" else ""
                )
                status(f"Status: {step.process}: swarm update {state}: {update.get('Message')}")
            if state == "rollback_completed" or state.endswith("paused"):
                step.rolled_back = state == "rollback_completed"
                step.failure = self._swarm_reason(step, update, found)
                return
            finished = state == "completed"
        else:
            failed = [t for t in new if tasks.state(t) in engine.FAILED]
            if failed:
                step.failure = tasks.failure(failed[-1], self.nodes)
                step.unpullable = step.action == "create" and tasks.unpullable(failed[-1])
                return
            finished = True
        if running != step.running and running <= step.replicas:
            step.running = running
            if running < step.replicas and step.action != "scale":
                release = f"v{manifest.release}"
                status(f"Status: {step.process}: {running}/{step.replicas} of {release} running")
        if finished and running >= step.replicas and _settled(found, step.replicas):
            step.done = True
            status(f"Status: {step.process}: {step.replicas}/{step.replicas} healthy")

    def _swarm_reason(self, step: Step, update: Json, found: list[Json]) -> str:
        """Why Swarm rolled back (or paused): the task its first message names."""
        state = str(update.get("State"))
        message = step.message or str(update.get("Message") or state)
        if state == "rollback_completed":
            what = f"{step.process}: Swarm rolled the update back"
        else:
            what = f"{step.process}: the Swarm update is {state} ({message})"
        known = {**step.failed, **{t["ID"]: t for t in found}}
        new = [t for i, t in known.items() if i not in step.before]
        culprit = next((t for i, t in known.items() if i in message), None)
        return f"{what}: {tasks.why(new, self.nodes, culprit) or message}"

    def _late(self, step: Step, waited: float) -> str:
        found = engine.tasks(self.api, step.service_id)
        known = {**step.failed, **{t["ID"]: t for t in found}}
        new = [t for i, t in known.items() if i not in step.before]
        why = tasks.why(new, self.nodes) or "the swarm update did not finish"
        return f"{step.process}: not healthy after {waited:.0f}s: {why}"

    # -- going back ---------------------------------------------------------------------------

    def _revert(self, steps: list[Step], status: StatusFn) -> None:
        waiting = []
        for step in steps:
            if step.action == "keep" or step.rolled_back or not step.service_id:
                continue
            if step.action == "create":
                engine.remove_service(self.api, step.service_id)
                status(f"Status: {step.process}: removed the new service {step.desired.name}")
                continue
            service = engine.inspect_service(self.api, step.service_id)
            if service is None:
                continue
            engine.rollback_service(self.api, service)
            waiting.append(step)
        deadline = time.monotonic() + _ROLLBACK_WAIT
        while waiting and time.monotonic() < deadline:
            for step in list(waiting):
                service = engine.inspect_service(self.api, step.service_id) or {}
                state = (service.get("UpdateStatus") or {}).get("State", "")
                if state in ("rollback_completed", "rollback_paused", ""):
                    waiting.remove(step)
                    status(
                        f"Status: {step.process}: back to the previous spec ({state or 'scaled'})"
                    )
            time.sleep(self.poll)
        for step in waiting:
            status(f"Status: {step.process}: the rollback is still running")


def _wanted(task: Json) -> bool:
    return task.get("DesiredState") == "running"


def _settled(found: list[Json], replicas: int) -> bool:
    """No more tasks are meant to run than wanted (old ones of a scale-down have been told)."""
    return sum(1 for t in found if _wanted(t)) <= replicas
