"""Converge an app's AWS resources to a manifest, then follow the rollout to its verdict.

Order matters: task definitions and target groups first, then listener rules (ECS wants a
target group behind a listener before a service uses it), then services, schedule rules and
records; what the manifest no longer has goes last (its rules first, then services, then
target groups), so nothing in use is deleted.

The release's config vars are stored in Parameter Store before the first task definition
naming them is registered. After a successful rollout the replaced task definitions are
deregistered, so each process keeps one ACTIVE revision, and the parameters of older
releases are deleted with them. A submit identical to the last successful one only checks, in one
`describe_services` call, that the services still run what it left them running.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from empire.errors import Invalid, SchedulerError
from empire.model import Outcome
from empire.scheduler import Manifest, ManifestProcess, StatusFn, Verdict
from empire.scheduler.ecs import cron as cron_
from empire.scheduler.ecs.balancers import Balancers, internal_hosts
from empire.scheduler.ecs.config import CRON, PROCESS, SERVICE, EcsConfig, dns_label
from empire.scheduler.ecs.cron import Cron
from empire.scheduler.ecs.parameters import Parameters
from empire.scheduler.ecs.records import Records
from empire.scheduler.ecs.rollout import Change, Watch
from empire.scheduler.ecs.services import Services, primary, target_groups
from empire.scheduler.ecs.taskdefs import TaskDefinitions, definition


@dataclass(slots=True)
class Converged:
    """What the last successful submit of an app left running."""

    fingerprint: str
    services: dict[str, tuple[str, int]] = field(default_factory=dict)  # name -> (td, count)


def fingerprint(manifest: Manifest) -> str:
    text = json.dumps(asdict(manifest), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def long_running(manifest: Manifest) -> list[ManifestProcess]:
    return [p for p in manifest.processes if not p.noservice and not p.schedule]


def scheduled(manifest: Manifest) -> list[ManifestProcess]:
    return [p for p in manifest.processes if p.schedule and not p.noservice]


class Converger:
    def __init__(
        self,
        config: EcsConfig,
        taskdefs: TaskDefinitions,
        services: Services,
        balancers: Balancers,
        records: Records,
        cron: Cron,
        watch: Watch,
        parameters: Parameters,
    ) -> None:
        self._config = config
        self._taskdefs = taskdefs
        self._parameters = parameters
        self._services = services
        self._balancers = balancers
        self._records = records
        self._cron = cron
        self._watch = watch

    def unchanged(
        self, manifest: Manifest, last: Converged | None, found: dict[str, Any] | None = None
    ) -> bool:
        """Whether the app still runs exactly what the last successful submit left; `found`
        is its services as a reconcile round described them (else they are described now)."""
        if last is None or last.fingerprint != fingerprint(manifest):
            return False
        if found is None:
            found = self._services.describe(list(last.services))
        for name, (task_definition, count) in last.services.items():
            service = found.get(name)
            if service is None or service.get("taskDefinition") != task_definition:
                return False
            if service.get("desiredCount") != count or len(service.get("deployments", [])) != 1:
                return False
        return True

    def submit(self, manifest: Manifest, status: StatusFn) -> tuple[Verdict, Converged]:
        try:
            self._config.task_role(manifest.env)
            for process in scheduled(manifest):
                cron_.expression(process.schedule or "")
                if not self._config.events_role_arn:
                    raise Invalid(
                        f"{process.name}: cron processes need EMPIRE_ECS_EVENTS_ROLE_ARN, a "
                        "role EventBridge assumes to run tasks"
                    )
        except Invalid as e:
            return Verdict(Outcome.FAILED, str(e)), Converged("")
        app, app_id = manifest.app_name, manifest.app_id
        existing = self._services.owned(f"{app}_")
        foreign = sorted(n for n, (owner, _) in existing.items() if owner != app_id)
        if foreign:
            raise SchedulerError(
                f"the ECS services {', '.join(foreign)} belong to another app named {app}: "
                "they are removed when Empire prunes destroyed apps; deploy again after that"
            )
        services = {name: service for name, (_, service) in existing.items()}
        wanted = {self._config.service_name(app, p.name): p for p in long_running(manifest)}

        definitions: dict[str, tuple[str, bool]] = {}
        groups: dict[str, str] = {}
        for name, process in wanted.items():
            spec = definition(
                self._config, manifest, process, self._config.family(app, process.name), SERVICE
            )
            current = services[name]["taskDefinition"] if name in services else None
            definitions[name] = self._taskdefs.ensure(spec, current, self._store(manifest))
            if definitions[name][1]:
                status(f"Status: {process.name}: registered {_short(definitions[name][0])}")
            if process.ports:
                groups[name] = self._balancers.ensure_target_group(manifest, process)

        owned = set(groups.values())
        for service in services.values():
            owned |= target_groups(service)
        self._route(manifest, wanted, groups, owned, status)

        changes = []
        for name, process in wanted.items():
            task_definition = definitions[name][0]
            group = groups.get(name)
            if name not in services:
                tags = self._config.tags(app_id, app, **{PROCESS: process.name})
                created = self._services.create(name, task_definition, process, group, tags)
                status(f"Status: {process.name}: created service {name}, {process.quantity} wanted")
                changes.append(_change(process, created, task_definition, None))
                continue
            service = services[name]
            fields = self._services.changes(service, task_definition, process, group)
            if fields:
                service = self._services.update(name, **fields)
                status(
                    f"Status: {process.name}: updated service {name} ({', '.join(sorted(fields))})"
                )
            previous = services[name]["taskDefinition"] if "taskDefinition" in fields else None
            changes.append(_change(process, service, task_definition, previous))

        replaced, scheduled_new = self._schedule(manifest, status)
        self._records.converge(app_id, app, _record_names(manifest, wanted))
        self._drop(app, services, wanted, owned - set(groups.values()), status)

        verdict = self._watch.verdict(changes, status)
        if verdict.outcome is Outcome.SUCCEEDED:
            for arn in replaced + [c.previous for c in changes if c.previous]:
                self._taskdefs.deregister(arn)
            if scheduled_new or any(registered for _, registered in definitions.values()):
                self._parameters.prune(app_id, manifest.release)
            state = {c.service: (c.current, max(wanted[c.service].quantity, 0)) for c in changes}
            return verdict, Converged(fingerprint(manifest), state)
        for change in changes:
            if change.previous is not None:
                self._taskdefs.deregister(change.current)
        return verdict, Converged("")

    def _route(
        self,
        manifest: Manifest,
        wanted: dict[str, ManifestProcess],
        groups: dict[str, str],
        owned: set[str],
        status: StatusFn,
    ) -> None:
        zone = self._records.zone()
        tags = self._config.tags(manifest.app_id, manifest.app_name)
        internal = {
            groups[n]: internal_hosts(manifest, p, zone) for n, p in wanted.items() if n in groups
        }
        self._balancers.converge(self._config.internal_listener_arn, internal, owned, tags)
        web = self._config.service_name(manifest.app_name, "web")
        public: dict[str, list[str]] = {}
        if manifest.public and web in groups and manifest.domains:
            public[groups[web]] = sorted(manifest.domains)
            certificate = manifest.certs.get("web", "")
            if certificate.startswith("arn:"):
                self._balancers.add_certificate(self._config.public_listener_arn, certificate)
            elif certificate:
                status(
                    "Status: web: the ECS backend attaches certificates by ARN (ACM or IAM) to "
                    "the shared HTTPS listener; import this one into ACM and attach its ARN"
                )
        self._balancers.converge(self._config.public_listener_arn, public, owned, tags)

    def _store(self, manifest: Manifest) -> Callable[[], None]:
        """What a registration calls first: store the release's config parameters."""
        return lambda: self._parameters.ensure(manifest)

    def _schedule(self, manifest: Manifest, status: StatusFn) -> tuple[list[str], bool]:
        """Put the app's schedule rules; return the task definitions they no longer run, and
        whether any was registered."""
        app = manifest.app_name
        replaced = []
        any_registered = False
        for process in scheduled(manifest):
            family = self._config.family(app, process.name)
            spec = definition(self._config, manifest, process, family, CRON)
            target = self._cron.current(app, process.name)
            current = _target_definition(target)
            arn, registered = self._taskdefs.ensure(spec, current, self._store(manifest))
            any_registered |= registered
            self._cron.put(manifest, process, arn, target)
            if registered:
                status(f"Status: {process.name}: scheduled {_short(arn)} at {process.schedule}")
                if current:
                    replaced.append(current)
        keep = {self._config.rule_name(app, p.name) for p in scheduled(manifest)}
        for name, arn in self._cron.listed(f"{self._config.rule_prefix()}{app}."):
            if name in keep or self._config.owner(self._cron.tags(arn)) != manifest.app_id:
                continue
            gone = name.rsplit(".", 1)[-1]
            old = _target_definition(self._cron.current(app, gone))
            self._cron.delete(name)
            if old:
                replaced.append(old)
            status(f"Status: {gone}: removed schedule rule {name}")
        return replaced, any_registered

    def _drop(
        self,
        app: str,
        services: dict[str, Any],
        wanted: dict[str, ManifestProcess],
        groups: set[str],
        status: StatusFn,
    ) -> None:
        for name, service in services.items():
            if name not in wanted:
                self._services.delete(name)
                self._taskdefs.deregister(str(service["taskDefinition"]))
                status(f"Status: {name.removeprefix(app + '_')}: deleted service {name}")
        for group in sorted(groups):
            self._balancers.delete_target_group(group)


def _change(
    process: ManifestProcess, service: Any, task_definition: str, previous: str | None
) -> Change:
    seen = {str(e["id"]) for e in service.get("events", [])}
    return Change(
        process.name, str(service["serviceName"]), primary(service), task_definition, previous, seen
    )


def _target_definition(target: dict[str, Any] | None) -> str | None:
    parameters = (target or {}).get("EcsParameters") or {}
    return str(parameters["TaskDefinitionArn"]) if parameters.get("TaskDefinitionArn") else None


def _record_names(manifest: Manifest, wanted: dict[str, ManifestProcess]) -> list[str]:
    names = []
    for process in wanted.values():
        if process.ports:
            names.append(f"{dns_label(process.name)}.{manifest.app_name}")
            if process.name == "web":
                names.append(manifest.app_name)
    return names


def _short(arn: str) -> str:
    return arn.rsplit("/", 1)[-1]
