"""Converge an app's service containers to a manifest: scale, heal, and roll start-first.

Per process, containers whose `empire.spec` matches the desired spec and that are alive are
kept (one per index 1..quantity); the missing indices are started; everything else of the app
(old specs, exited or extra instances, processes no longer scaled up) is retired. New
containers must all be healthy before traffic shifts to them; when one is not, the new ones
are removed, the old ones keep serving, and the verdict is ROLLED_BACK with the reason.

Traffic shifts by one change of the app's route (the kept and new instances of each process
with ports, `kit.routing`): from then on new requests, public or internal, reach only those.
The retired instances then get the router's drain (the requests they took finish), then
SIGTERM, then SIGKILL after the stop timeout.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from empire.errors import SchedulerError
from empire.failpoints import OFF, Failpoints
from empire.model import Outcome
from empire.router import Endpoint
from empire.scheduler import Manifest, ManifestProcess, StatusFn, Verdict, labels
from empire.scheduler.docker import containers, health
from empire.scheduler.docker.instances import Instance, list_instances
from empire.scheduler.kit import containers as kit
from empire.scheduler.kit.api import EngineAPI
from empire.scheduler.kit.errors import engine_errors
from empire.scheduler.kit.states import ProcessStates

# The serving instances of each process with ports -> the hosts the route no longer has.
RouteFn = Callable[[Mapping[str, Sequence[Endpoint]]], frozenset[str]]
_WORKERS = 8  # below docker-py's connection pool size (10)


@dataclass(slots=True)
class Plan:
    """What to do with one process type."""

    process: ManifestProcess
    nonce: str
    keep: list[Instance] = field(default_factory=list)
    start: list[int] = field(default_factory=list)
    retire: list[Instance] = field(default_factory=list)


def desired_quantity(process: ManifestProcess) -> int:
    """Instances a process runs as a service: none for one-off and scheduled processes."""
    return 0 if process.noservice or process.schedule else max(process.quantity, 0)


def current_nonce(
    manifest: Manifest,
    process: ManifestProcess,
    found: Iterable[Instance],
    placement: containers.Placement,
) -> str:
    """The restart nonce of the instances already running this process's desired spec."""
    hashes: dict[str, str] = {}  # nonce -> the spec's hash (the instances mostly share one)

    def spec(nonce: str) -> str:
        if nonce not in hashes:
            hashes[nonce] = containers.spec_hash(manifest, process, nonce, placement)
        return hashes[nonce]

    matching = [i for i in found if i.alive and i.spec == spec(i.nonce)]
    return max(matching, key=lambda i: i.created).nonce if matching else ""


def plan(
    manifest: Manifest,
    found: Sequence[Instance],
    placement: containers.Placement,
    nonces: dict[str, str] | None = None,
) -> tuple[list[Plan], list[Instance]]:
    """Split the app's service containers into plans per process, and orphans."""
    plans = []
    names = {p.name for p in manifest.processes}
    for process in manifest.processes:
        mine = [i for i in found if i.process == process.name]
        nonce = (nonces or {}).get(process.name) or current_nonce(
            manifest, process, mine, placement
        )
        spec = containers.spec_hash(manifest, process, nonce, placement)
        wanted = desired_quantity(process)
        step = Plan(process, nonce)
        by_index: dict[int, Instance] = {}
        # Running before restarting, newest first: the best instance of each index is kept.
        for i in sorted(mine, key=lambda i: (i.state == "running", i.created), reverse=True):
            if i.spec == spec and i.alive and 1 <= i.index <= wanted and i.index not in by_index:
                by_index[i.index] = i
            else:
                step.retire.append(i)
        step.keep = [by_index[n] for n in sorted(by_index)]
        step.start = [n for n in range(1, wanted + 1) if n not in by_index]
        plans.append(step)
    orphans = [i for i in found if i.process not in names]
    return plans, orphans


class Rollout:
    """Applies plans against the engine."""

    def __init__(
        self,
        api: EngineAPI,
        network: containers.Network,
        *,
        health_timeout: float,
        min_running: float,
        stop_timeout: int,
        drain: float,
        poll: float,
        failpoints: Failpoints = OFF,
        states: ProcessStates | None = None,
    ) -> None:
        self._api = api
        self._states = states or ProcessStates(None)
        self._network = network
        self._health_timeout = health_timeout
        self._min_running = min_running
        self._stop_timeout = stop_timeout
        self._drain = drain
        self._poll = poll
        self._failpoints = failpoints
        # App id -> ids of its containers known to be healthy and armed (restart policy set).
        self._verified: dict[str, set[str]] = {}

    def converge(
        self,
        manifest: Manifest,
        found: Sequence[Instance],
        route: RouteFn,
        status: StatusFn,
        nonces: dict[str, str] | None = None,
    ) -> Verdict:
        placement = self._network.place(manifest.app_id)
        plans, orphans = plan(manifest, found, placement, nonces)
        unchecked = self._unchecked(manifest.app_id, plans)
        if not any(p.start or p.retire for p in plans) and not orphans and not unchecked:
            return self._steady(manifest, plans, route, status)
        started = self._start(manifest, placement, plans, status)
        if started:
            self._failpoints.hit("mid-rollout")
        if unchecked:
            status(
                f"Status: checking {_count(len(unchecked))} of v{manifest.release} "
                "that a rollout left unchecked"
            )
            started += unchecked
        left: frozenset[str] = frozenset()
        try:
            failure = health.wait_healthy(
                self._api,
                started,
                timeout=self._health_timeout,
                min_running=self._min_running,
                poll=self._poll,
                on_healthy=_progress(started, status, partial(self._up, manifest)),
            )
            if failure is None:
                self._parallel(lambda c: containers.arm(self._api, c.id), started)
                left = self._shift(manifest, plans, started, route)
        except Exception as e:  # the engine or the router failed: keep the old ones serving
            self._discard([c.id for c in started])
            if isinstance(e, SchedulerError):
                raise
            return Verdict(Outcome.FAILED, f"cannot shift traffic to v{manifest.release}: {e}")
        if failure is not None:
            status(f"Status: {failure}")
            self._discard([c.id for c in started])
            status(f"Status: removed the new instances of v{manifest.release}; rolled back")
            return Verdict(Outcome.ROLLED_BACK, f"v{manifest.release} was not healthy: {failure}")
        self._verified[manifest.app_id] = {i.id for p in plans for i in p.keep} | {
            c.id for c in started
        }
        retired = [i for p in plans for i in p.retire] + orphans
        if retired:
            self._failpoints.hit("draining")
        if any(i.name in left and i.alive for i in retired):
            time.sleep(self._drain)  # the requests the old instances took finish
        self._retire(retired, status)
        return Verdict(Outcome.SUCCEEDED)

    def settled(
        self, manifest: Manifest, found: Sequence[Instance], route: RouteFn, status: StatusFn
    ) -> Verdict | None:
        """The verdict of an app these containers (a reconcile round's read) show converged,
        with nothing to start, retire or check: its route is kept in step, no engine call is
        made. None when there is something to do: the caller reads the app afresh."""
        placement = self._network.place(manifest.app_id)
        plans, orphans = plan(manifest, found, placement)
        known = self._verified.get(manifest.app_id, set())
        if orphans or any(p.start or p.retire for p in plans):
            return None
        if any(i.id not in known for p in plans for i in p.keep):
            return None
        return self._steady(manifest, plans, route, status)

    def _steady(
        self, manifest: Manifest, plans: list[Plan], route: RouteFn, status: StatusFn
    ) -> Verdict:
        """Nothing to roll: the route follows the kept instances."""
        try:
            route(_endpoints(plans, {}))
        except Exception as e:  # the router's own errors
            return Verdict(Outcome.FAILED, f"cannot update the route: {e}")
        for p in plans:
            if p.keep:
                status(
                    f"Status: {p.process.name}: {_count(len(p.keep))} of "
                    f"v{manifest.release} running"
                )
        return Verdict(Outcome.SUCCEEDED)

    def forget(self, app_id: str) -> None:
        """The app is gone: drop what was known of its containers."""
        self._verified.pop(app_id, None)

    def _up(self, manifest: Manifest, candidate: health.Candidate) -> None:
        self._states.up(manifest, candidate.process, candidate.index)

    def _unchecked(self, app_id: str, plans: list[Plan]) -> list[health.Candidate]:
        """Take out of the plans' `keep` the instances no rollout saw healthy; return them.

        A container is armed (given its restart policy) only once it was healthy. One that is
        alive and unarmed was started by a rollout that never finished (Empire was killed
        mid-rollout): keeping it as is would route traffic to an instance nobody checked, that
        the engine would not restart either. It is health-checked and armed like a new one, or
        removed with the rest of the rollout when it is not healthy. What this process armed
        or saw armed is remembered, so a steady reconcile inspects nothing.
        """
        known = self._verified.setdefault(app_id, set())
        unchecked: list[health.Candidate] = []
        for p in plans:
            for i in [i for i in p.keep if i.id not in known]:
                with engine_errors(f"inspect container {i.short_id}", missing_ok=True):
                    attrs = self._api.inspect_container(i.id)
                    policy = ((attrs.get("HostConfig") or {}).get("RestartPolicy") or {}).get(
                        "Name"
                    )
                    if policy not in (None, "", "no"):
                        known.add(i.id)
                        continue
                    p.keep.remove(i)
                    check = health.check_for(p.process)
                    unchecked.append(health.Candidate(i.id, p.process.name, i.index, check))
                    continue
                p.keep.remove(i)  # gone since it was listed: start its index again
                p.start.append(i.index)
        return unchecked

    def _shift(
        self,
        manifest: Manifest,
        plans: list[Plan],
        started: list[health.Candidate],
        route: RouteFn,
    ) -> frozenset[str]:
        """Route each process to its kept and new instances; return the hosts it left."""
        names: dict[str, str] = {}
        if started:
            found = list_instances(
                self._api, f"{labels.APP_ID}={manifest.app_id}", f"{labels.KIND}={labels.SERVICE}"
            )
            names = {i.id: i.name for i in found}
        new = {c.id: (c.process, names.get(c.id, "")) for c in started}
        return route(_endpoints(plans, new))

    def _start(
        self,
        manifest: Manifest,
        placement: containers.Placement,
        plans: list[Plan],
        status: StatusFn,
    ) -> list[health.Candidate]:
        jobs = [(p, n) for p in plans for n in p.start]
        if not jobs:
            return []
        for p in plans:
            if p.start:
                status(
                    f"Status: {p.process.name}: starting {_count(len(p.start))} "
                    f"of v{manifest.release}"
                )

        def start(job: tuple[Plan, int]) -> health.Candidate:
            p, index = job
            container_id = containers.create(
                self._api,
                manifest,
                p.process,
                kind=labels.SERVICE,
                index=index,
                nonce=p.nonce,
                placement=placement,
            )
            kit.start(self._api, container_id)
            self._states.starting(manifest, p.process.name, index, p.process.shown)
            return health.Candidate(
                container_id, p.process.name, index, health.check_for(p.process)
            )

        with ThreadPoolExecutor(max_workers=_WORKERS) as pool:
            futures = [pool.submit(start, job) for job in jobs]
        done = [f.result() for f in futures if f.exception() is None]
        errors = [e for f in futures if (e := f.exception()) is not None]
        if errors:
            self._network.forget()
            self._discard([c.id for c in done])
            raise errors[0]
        return done

    def _retire(self, retired: list[Instance], status: StatusFn) -> None:
        if not retired:
            return
        self._remove([i.id for i in retired])
        groups = Counter((i.process, i.release, i.alive) for i in retired)
        for (process, release, alive), n in sorted(groups.items()):
            verb = "stopped" if alive else "removed"
            what = _count(n) if alive else _count(n, "exited instance")
            status(f"Status: {process}: {verb} {what} of v{release}")

    def _remove(self, ids: list[str]) -> None:
        self._parallel(lambda i: kit.remove(self._api, i, self._stop_timeout), ids)

    def _discard(self, ids: list[str]) -> None:
        """Remove new instances that never served: no need to wait for a graceful stop."""
        self._parallel(lambda i: kit.remove(self._api, i, None), ids)

    def _parallel(self, fn: Callable[[Any], None], items: Sequence[Any]) -> None:
        if not items:
            return
        with ThreadPoolExecutor(max_workers=min(_WORKERS, len(items))) as pool:
            for future in [pool.submit(fn, item) for item in items]:
                future.result()


def _endpoints(plans: list[Plan], new: Mapping[str, tuple[str, str]]) -> dict[str, list[Endpoint]]:
    """The instances each process with ports serves on: kept ones, and new ones (id ->
    (process, container name)), by index."""
    found: dict[str, list[Endpoint]] = {}
    for p in plans:
        if not p.process.ports or not desired_quantity(p.process):
            continue
        port = p.process.ports[0].container
        names = [i.name for i in sorted(p.keep, key=lambda i: i.index)]
        names += [name for process, name in new.values() if process == p.process.name and name]
        found[p.process.name] = [Endpoint(name, port) for name in names]
    return found


def _progress(
    started: list[health.Candidate],
    status: StatusFn,
    up: Callable[[health.Candidate], None] = lambda _: None,
) -> Callable[[health.Candidate], None]:
    totals = Counter(c.process for c in started)
    healthy: Counter[str] = Counter()

    def on_healthy(candidate: health.Candidate) -> None:
        up(candidate)
        healthy[candidate.process] += 1
        if healthy[candidate.process] == totals[candidate.process]:
            n = totals[candidate.process]
            status(f"Status: {candidate.process}: {n}/{n} healthy")

    return on_healthy


def _count(n: int, noun: str = "instance") -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"
