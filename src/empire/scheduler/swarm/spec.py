"""What the Swarm service of a process looks like: a whole ServiceSpec document, built pure.

One service per process type, named `<app>-<process>`: replicas = quantity; the size as
limits (cpu shares / 1024 CPUs, memory, pids); the Procfile's health check run inside the
container by the engine (`timeout N wget` for HTTP, `timeout N nc … -e true` for TCP: busybox
tools the image must carry), else a TCP check of the first port; start-first updates one task
at a time that roll back on failure after a monitor window; dnsrr endpoints (no IPVS here, so
no VIPs); the attachable overlay network, and the router's resolver as DNS server (which
answers `<app>` and `<process>.<app>` with the router's address). Without a router the tasks
carry those names as overlay aliases instead. A process with ports says which in its
service's `empire.port` label: the port the router dials.

The task template is hashed (`empire.spec`, also on every task, so the rollout knows which
tasks run the new spec) and so is the rest of the spec but the replicas (`empire.swarm.config`):
a scale alone changes neither, and Swarm scales without replacing a task.
`EMPIRE_PROCESS_SCALE` is left out of the hash and kept as it is on a scale.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from empire.model import Size
from empire.scheduler import Manifest, ManifestProcess, labels
from empire.scheduler.kit import containers as kit
from empire.scheduler.kit.names import aliases, process_labels
from empire.scheduler.swarm import engine

SECOND = 1_000_000_000
LOG_DRIVER = {"Name": kit.LOG_CONFIG["type"], "Options": kit.LOG_CONFIG["config"]}
DEFAULT_CHECK_INTERVAL = 1.0  # the implicit TCP check of a process with ports
_UNHASHED_ENV = frozenset({"EMPIRE_PROCESS_SCALE"})

Json = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Desired:
    """The service a process should be: its spec, and the hashes that tell what changed."""

    name: str
    spec: Json
    template_hash: str
    config_hash: str

    @property
    def replicas(self) -> int:
        return int(self.spec["Mode"]["Replicated"]["Replicas"])


def service_name(app_name: str, process: str) -> str:
    """`<app>_<process>`: app names have no `_`, so no two apps' services can share a name
    (`acme` + `inc-web` and `acme-inc` + `web` could, with a dash)."""
    return f"{app_name}_{process}"


def run_name(app_name: str, index: int) -> str:
    """`<app>__run_<n>`: a process name never starts with `_`, so no service has it."""
    return f"{app_name}__run_{index}"


def desired_quantity(process: ManifestProcess) -> int:
    """Replicas of a process's service: none for one-off and scheduled processes."""
    return 0 if process.noservice or process.schedule else max(process.quantity, 0)


def healthcheck(process: ManifestProcess) -> Json | None:
    """The engine's health check of the process's containers (None: running is enough)."""
    first = process.ports[0].container if process.ports else None
    check = process.healthcheck
    if check is None:
        if first is None:
            return None
        return _check(_tcp(first, 2), DEFAULT_CHECK_INTERVAL, 2, 0.0)
    port = check.port or first
    if port is None:
        return None
    seconds = max(1, math.ceil(check.timeout))
    test = _http(port, check.path or "/", seconds) if check.type == "http" else _tcp(port, seconds)
    return _check(test, check.interval, seconds, check.grace)


def _http(port: int, path: str, seconds: int) -> list[str]:
    path = path if path.startswith("/") else f"/{path}"
    url = f"http://127.0.0.1:{port}{path}"
    return ["CMD", "timeout", str(seconds), "wget", "-q", "-O", "/dev/null", url]


def _tcp(port: int, seconds: int) -> list[str]:
    # busybox nc has no -z: connect, then hand the socket to `true`, which exits at once.
    return ["CMD", "timeout", str(seconds), "nc", "127.0.0.1", str(port), "-e", "true"]


def _check(test: list[str], interval: float, seconds: int, grace: float) -> Json:
    return {
        "Test": test,
        "Interval": _ns(max(interval, 0.1)),
        "Timeout": _ns(seconds + 1),
        "Retries": 3,
        "StartPeriod": _ns(grace),
    }


def service_labels(
    manifest: Manifest, process: ManifestProcess, *, kind: str, network: str
) -> Json:
    return {
        **process_labels(manifest, process, kind=kind, network=network),
        labels.MANAGED: "true",
    }


def resources(process: ManifestProcess) -> Json:
    limits: Json = {"Pids": kit.pids(process)}
    if process.cpu_shares:
        limits["NanoCPUs"] = kit.nano_cpus(process)
    if process.memory:
        limits["MemoryBytes"] = process.memory
    return {"Limits": limits}


def size(template: Json) -> Size:
    """The size a task template's limits stand for (shares back from CPUs)."""
    limits = (template.get("Resources") or {}).get("Limits") or {}
    return Size(
        round(int(limits.get("NanoCPUs") or 0) * 1024 / SECOND),
        int(limits.get("MemoryBytes") or 0),
        kit.nproc(int(limits.get("Pids") or 0)),
    )


def task_template(
    manifest: Manifest,
    process: ManifestProcess,
    *,
    kind: str,
    network: str,
    stop_grace: float,
    force_update: int = 0,
    dns: str | None = None,
) -> tuple[Json, str]:
    """The task template of a process, with its hash in the containers' labels."""
    container: Json = {
        "Image": manifest.image,
        "Env": [f"{k}={v}" for k, v in process.env.items()],
        "Labels": service_labels(manifest, process, kind=kind, network=network),
        "Init": True,
        "Sysctls": kit.SYSCTLS,
        "CapabilityDrop": kit.CAP_DROP,
        "StopGracePeriod": _ns(stop_grace),
    }
    if process.command:
        container["Args"] = list(process.command)  # like `docker run IMAGE ARGS`: ENTRYPOINT kept
    if dns:
        container["DNSConfig"] = {"Nameservers": [dns]}
    check = healthcheck(process) if kind == labels.SERVICE else {"Test": ["NONE"]}
    if check is not None:
        container["Healthcheck"] = check
    network_attachment: Json = {"Target": network}
    if kind == labels.SERVICE and not dns and (names := aliases(manifest, process)):
        network_attachment["Aliases"] = names
    condition = "any" if kind == labels.SERVICE else "none"
    template: Json = {
        "ContainerSpec": container,
        "Resources": resources(process),
        "RestartPolicy": {"Condition": condition, "Delay": SECOND, "MaxAttempts": 0},
        "Networks": [network_attachment],
        "LogDriver": LOG_DRIVER,
    }
    hashed = {
        **template,
        "ContainerSpec": {
            **container,
            "Env": [e for e in container["Env"] if e.split("=", 1)[0] not in _UNHASHED_ENV],
        },
    }
    template_hash = engine.digest(hashed)
    container["Labels"] = {**container["Labels"], labels.SPEC: template_hash}
    template["ForceUpdate"] = force_update
    return template, template_hash


def service(
    manifest: Manifest,
    process: ManifestProcess,
    *,
    network: str,
    monitor: float,
    stop_grace: float,
    force_update: int = 0,
    dns: str | None = None,
) -> Desired:
    """The desired service of a process (kind `service`)."""
    name = service_name(manifest.app_name, process.name)
    template, template_hash = task_template(
        manifest,
        process,
        kind=labels.SERVICE,
        network=network,
        stop_grace=stop_grace,
        force_update=force_update,
        dns=dns,
    )
    update = {
        "Parallelism": 1,
        "Delay": 0,
        "FailureAction": "rollback",
        "Monitor": _ns(monitor),
        "MaxFailureRatio": 0,
        "Order": "start-first",
    }
    tags = service_labels(manifest, process, kind=labels.SERVICE, network=network)
    if process.ports:
        tags[labels.PORT] = str(process.ports[0].container)
    rest: Json = {
        "Name": name,
        "Labels": tags,
        "UpdateConfig": update,
        "RollbackConfig": {**update, "Parallelism": 0, "FailureAction": "pause"},
        "EndpointSpec": {"Mode": "dnsrr"},
    }
    config_hash = engine.digest(rest)
    rest["Labels"] = {**rest["Labels"], labels.SPEC: template_hash, labels.CONFIG: config_hash}
    spec = {
        **rest,
        "TaskTemplate": template,
        "Mode": {"Replicated": {"Replicas": desired_quantity(process)}},
    }
    return Desired(name, spec, template_hash, config_hash)


def one_off(
    manifest: Manifest,
    process: ManifestProcess,
    *,
    index: int,
    network: str,
    stop_grace: float,
    dns: str | None = None,
    kind: str = labels.RUN,
) -> Json:
    """The spec of a one-off run (or, with `kind` RELEASE_PHASE, of a release phase, indexed
    by the release): a replicated job of one task that is never restarted."""
    template, template_hash = task_template(
        manifest, process, kind=kind, network=network, stop_grace=stop_grace, dns=dns
    )
    template["ContainerSpec"]["Labels"][labels.INDEX] = str(index)
    run_labels = service_labels(manifest, process, kind=kind, network=network)
    name = run_name(manifest.app_name, index)
    if kind == labels.RELEASE_PHASE:
        name = f"{manifest.app_name}__release_{index}"
    return {
        "Name": name,
        "Labels": {**run_labels, labels.INDEX: str(index), labels.SPEC: template_hash},
        "TaskTemplate": template,
        "Mode": {"ReplicatedJob": {"MaxConcurrent": 1, "TotalCompletions": 1}},
        "EndpointSpec": {"Mode": "dnsrr"},
    }


def _ns(seconds: float) -> int:
    return int(seconds * SECOND)
