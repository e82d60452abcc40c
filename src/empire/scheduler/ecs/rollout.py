"""Follow ECS deployments to a verdict, within a deadline.

Each changed service is followed by the id of the deployment its create/update call started
(or the primary one, when only the count changed). `describe_services` is polled every
`poll` seconds; the stream gets a line when a deployment's state or counts change and every
new service event. A deployment is done when ECS says its rollout COMPLETED with at least the
desired count running; it failed when ECS says FAILED (the circuit breaker, which then rolls
the service back itself) or when another task definition took over.

When any service fails, or the deadline passes first, the other services Empire changed are
put back on their previous task definitions, so the app runs one release, not two: the
verdict is ROLLED_BACK with the reasons (the rollout's reason and the last stopped task's),
or FAILED when there was nothing to go back to (a first deploy, a scale).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from empire.model import Outcome
from empire.scheduler import StatusFn, Verdict
from empire.scheduler.ecs.aws import Aws, chunks


@dataclass(slots=True)
class Change:
    """A service Empire just created or updated, and the deployment to follow."""

    process: str
    service: str
    deployment: str
    current: str  # the task definition the deployment runs
    previous: str | None = None  # the one before, when the task definition changed
    seen: set[str] = field(default_factory=set)  # service event ids already reported


@dataclass(frozen=True, slots=True)
class Outcomes:
    """Which changes completed, failed (and whether ECS rolled them back), or timed out."""

    done: list[Change]
    failed: list[tuple[Change, str, bool]]
    late: list[tuple[Change, str]]


class Watch:
    def __init__(
        self,
        aws: Aws,
        cluster: str,
        *,
        deadline: float,
        poll: float,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._aws = aws
        self._cluster = cluster
        self.deadline = deadline
        self.poll = poll
        self._sleep = sleep
        self._monotonic = monotonic

    def verdict(self, changes: Sequence[Change], status: StatusFn) -> Verdict:
        """Follow the changes; on failure put the others back; return the verdict."""
        outcomes = self.follow(changes, status)
        if not outcomes.failed and not outcomes.late:
            return Verdict(Outcome.SUCCEEDED)
        reasons = [r for _, r, _ in outcomes.failed] + [r for _, r in outcomes.late]
        failing = [(c, by_ecs) for c, _, by_ecs in outcomes.failed]
        failing += [(c, False) for c, _ in outcomes.late]
        for change, by_ecs in failing:
            if change.previous is not None and by_ecs:
                status(f"Status: {change.process}: ECS rolls back to {_short(change.previous)}")
        put_back = [c for c, by_ecs in failing if not by_ecs] + outcomes.done
        for change in put_back:
            if change.previous is not None:
                self.update(change.service, taskDefinition=change.previous)
                status(f"Status: {change.process}: rolled back to {_short(change.previous)}")
        back = all(c.previous is not None for c, _ in failing)
        return Verdict(Outcome.ROLLED_BACK if back else Outcome.FAILED, "; ".join(reasons))

    def follow(self, changes: Sequence[Change], status: StatusFn) -> Outcomes:
        started = self._monotonic()
        pending = {c.service: c for c in changes}
        done: list[Change] = []
        failed: list[tuple[Change, str, bool]] = []
        shown: dict[str, str] = {}
        while pending:
            found = self.describe(list(pending))
            for name, change in list(pending.items()):
                service = found.get(name)
                if service is None or service.get("status") != "ACTIVE":
                    failed.append((change, f"{change.process}: the ECS service is gone", False))
                    del pending[name]
                    continue
                _events(service, change, status)
                state, line = _progress(service, change)
                if shown.get(name) != line:
                    shown[name] = line
                    status(f"Status: {change.process}: {line}")
                if state == "done":
                    done.append(change)
                    del pending[name]
                elif state == "failed":
                    failed.append((change, self._why(service, change), True))
                    del pending[name]
            if not pending or self._monotonic() - started >= self.deadline:
                break
            self._sleep(self.poll)
        late = [
            (c, f"{c.process}: {_late(self.deadline, shown.get(s, ''))}")
            for s, c in pending.items()
        ]
        return Outcomes(done, failed, late)

    def describe(self, names: Sequence[str]) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for batch in chunks(list(names), 10):
            page = self._aws.must(
                "describe the app's services",
                self._aws.ecs.describe_services,
                cluster=self._cluster,
                services=batch,
            )
            found.update({s["serviceName"]: s for s in page.get("services", [])})
        return found

    def update(self, service: str, **fields: Any) -> Any:
        found = self._aws.must(
            f"update service {service}",
            self._aws.ecs.update_service,
            cluster=self._cluster,
            service=service,
            **fields,
        )
        return found["service"]

    def _why(self, service: Any, change: Change) -> str:
        deployment = _deployment(service, change.deployment)
        reason = str((deployment or {}).get("rolloutStateReason") or "")
        if not reason:
            reason = next(
                (e["message"] for e in service.get("events", []) if "fail" in e["message"]),
                "ECS rolled the deployment back",
            )
        stopped = self._stopped(change)
        return f"{change.process}: {reason}" + (
            f" (last stopped task: {stopped})" if stopped else ""
        )

    def _stopped(self, change: Change) -> str:
        listed = self._aws.must(
            "list the service's stopped tasks",
            self._aws.ecs.list_tasks,
            cluster=self._cluster,
            serviceName=change.service,
            desiredStatus="STOPPED",
            maxResults=10,
        )
        arns = listed.get("taskArns", [])[:10]
        if not arns:
            return ""
        found = self._aws.must(
            "describe the stopped tasks",
            self._aws.ecs.describe_tasks,
            cluster=self._cluster,
            tasks=arns,
        )
        for task in found.get("tasks", []):
            if task.get("taskDefinitionArn") != change.current or not task.get("stoppedReason"):
                continue
            details = [
                f"{c.get('name')} exited with code {c['exitCode']}"
                for c in task.get("containers", [])
                if c.get("exitCode") not in (None, 0)
            ] + [c["reason"] for c in task.get("containers", []) if c.get("reason")]
            extra = f" ({'; '.join(details)})" if details else ""
            return f"{task['stoppedReason']}{extra}"
        return ""


def _deployment(service: Any, deployment: str) -> Any | None:
    return next((d for d in service.get("deployments", []) if d.get("id") == deployment), None)


def _progress(service: Any, change: Change) -> tuple[str, str]:
    """("done" | "failed" | "running", a line describing the deployment)."""
    deployments = service.get("deployments", [])
    tracked = _deployment(service, change.deployment)
    if tracked is None:
        primary = next((d for d in deployments if d.get("status") == "PRIMARY"), None)
        if primary is None or primary.get("taskDefinition") != change.current:
            return "failed", "another deployment replaced this one"
        tracked, change.deployment = primary, str(primary["id"])
    running, desired = int(tracked.get("runningCount", 0)), int(tracked.get("desiredCount", 0))
    pending = int(tracked.get("pendingCount", 0))
    rollout = tracked.get("rolloutState")
    counts = f"{running}/{desired} running" + (f", {pending} pending" if pending > 0 else "")
    line = f"deployment {rollout or tracked.get('status', '')} ({_short(change.current)}), {counts}"
    if rollout == "FAILED":
        return "failed", line
    if rollout == "COMPLETED" and running >= desired:
        return "done", line
    if rollout is None and len(deployments) == 1 and running == desired:
        return "done", line
    return "running", line


def _events(service: Any, change: Change, status: StatusFn) -> None:
    for event in reversed(service.get("events", [])):
        if event["id"] not in change.seen:
            change.seen.add(event["id"])
            status(f"Status: {change.process}: {event['message']}")


def _late(deadline: float, last: str) -> str:
    where = f" (last seen: {last})" if last else ""
    return f"the ECS deployment did not complete within {deadline:g}s{where}"


def _short(arn: str) -> str:
    return arn.rsplit("/", 1)[-1]
