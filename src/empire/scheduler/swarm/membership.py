"""Which tasks get traffic on Swarm: the running ones, but those Swarm is about to replace.

Swarm starts, checks, replaces and moves tasks on its own, so the route of each app follows its
tasks: while a rollout runs (its follow loop calls `update` at each poll), and from a watcher
thread (`Watcher`, twice a second, two calls for the whole swarm) the rest of the time.

A task is named, for the router, `<service>.<slot>.<task id>` (the name its container has on
the overlay network, which the engine's DNS resolves on every node). A running task whose slot
already has a newer task starting (a start-first update, a restart) is about to be stopped by
Swarm: it leaves the route at once, while its replacement starts, so that by the time Swarm
stops it no new request reaches it. It stays when it is the last one that serves.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager

from empire.errors import SchedulerError
from empire.periodic import Periodic
from empire.router import Endpoint, Router
from empire.scheduler import labels
from empire.scheduler.kit.api import EngineAPI, Json
from empire.scheduler.kit.errors import engine_errors
from empire.scheduler.swarm import engine, tasks

log = logging.getLogger(__name__)


def endpoints(service: Json, found: Iterable[Json]) -> list[Endpoint]:
    """The instances of one service that get traffic (see the module's docstring)."""
    spec = service.get("Spec") or {}
    try:
        port = int((spec.get("Labels") or {}).get(labels.PORT) or 0)
    except ValueError:
        port = 0
    if not port:
        return []
    live = [t for t in found if t.get("DesiredState") == "running"]
    newest: dict[int, Json] = {}
    for task in live:
        slot = int(task.get("Slot") or 0)
        if slot not in newest or str(task.get("CreatedAt", "")) > str(
            newest[slot].get("CreatedAt", "")
        ):
            newest[slot] = task
    running = [t for t in live if tasks.state(t) == "running"]
    staying = [t for t in running if newest.get(int(t.get("Slot") or 0)) is t]
    serving = staying or running
    return [
        Endpoint(f"{spec.get('Name')}.{t.get('Slot')}.{t['ID']}", port)
        for t in sorted(serving, key=lambda t: (int(t.get("Slot") or 0), str(t["ID"])))
    ]


class Membership:
    """Keeps routes in step with tasks, for one app or for every app of the network."""

    def __init__(self, api: EngineAPI, router: Router, network: str) -> None:
        self.api = api
        self.router = router
        self.network = network

    def update(self, app_id: str) -> bool:
        """Bring the app's route in step with its tasks; True when it changed."""
        services = engine.services(
            self.api, f"{labels.APP_ID}={app_id}", f"{labels.KIND}={labels.SERVICE}"
        )
        found = {s["ID"]: engine.tasks(self.api, s["ID"]) for s in services}
        return self._apply(app_id, services, found)

    def update_all(self, lock: Callable[[str], AbstractContextManager[bool]]) -> int:
        """Every app's route (two calls to the manager); apps whose lock is taken (a rollout
        runs: it updates its own route) are skipped. Return how many routes changed."""
        services = engine.services(
            self.api, f"{labels.NETWORK}={self.network}", f"{labels.KIND}={labels.SERVICE}"
        )
        with engine_errors("list the swarm's tasks"):
            live = list(self.api.tasks(filters={"desired-state": "running"}))
        by_service: dict[str, list[Json]] = {}
        for task in live:
            by_service.setdefault(str(task.get("ServiceID")), []).append(task)
        by_app: dict[str, list[Json]] = {}
        for service in services:
            app_id = (service["Spec"].get("Labels") or {}).get(labels.APP_ID, "")
            by_app.setdefault(app_id, []).append(service)
        changed = 0
        for app_id, mine in by_app.items():
            with lock(app_id) as held:
                if held:
                    found = {s["ID"]: by_service.get(s["ID"], []) for s in mine}
                    changed += self._apply(app_id, mine, found)
        return changed

    def _apply(self, app_id: str, services: list[Json], found: dict[str, list[Json]]) -> bool:
        route = self.router.current(app_id)
        if route is None:
            return False  # not routed yet: the app's submit routes it
        by_process = {
            (s["Spec"].get("Labels") or {}).get(labels.PROCESS, ""): endpoints(s, found[s["ID"]])
            for s in services
        }
        processes = tuple((name, tuple(by_process.get(name, ()))) for name, _ in route.processes)
        if processes == route.processes:
            return False
        self.router.route(dataclasses.replace(route, processes=processes))
        return True


def watcher(
    membership: Membership, lock: Callable[[str], AbstractContextManager[bool]], every: float = 0.5
) -> Periodic:
    """A thread that runs `Membership.update_all` twice a second."""

    def round_() -> None:
        try:
            membership.update_all(lock)
        except SchedulerError as e:
            log.warning("swarm routes: %s", e)

    return Periodic("empire-swarm-routes", every, round_)
