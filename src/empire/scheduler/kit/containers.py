"""What every container an engine-based backend starts shares: limits, hardening, removal.

Every container gets a memory and pids limit (a process without `nproc` gets `DEFAULT_PIDS`),
`no-new-privileges`, an init process, the capabilities a web process never needs dropped
(raw sockets above all: no ARP or DNS spoofing of the other apps on the network), rotated
json-file logs, and the sysctl that lets an unprivileged process listen below port 1024.
"""

from __future__ import annotations

import collections
import threading
from typing import Any

import docker.errors

from empire.scheduler import ManifestProcess
from empire.scheduler.kit.api import EngineAPI
from empire.scheduler.kit.errors import engine_errors

LOG_CONFIG = {"type": "json-file", "config": {"max-size": "10m", "max-file": "3"}}
SYSCTLS = {"net.ipv4.ip_unprivileged_port_start": "0"}
SECURITY_OPT = ["no-new-privileges"]
# Dropped from Docker's default set: raw and packet sockets (spoofing on the shared network),
# device nodes, audit writes, chroot, and file capabilities.
CAP_DROP = ["NET_RAW", "MKNOD", "AUDIT_WRITE", "SYS_CHROOT", "SETFCAP"]
DEFAULT_PIDS = 32768  # the pids limit of a process whose size sets none (PX, raw sizes)
NANO = 1_000_000_000


def pids(process: ManifestProcess) -> int:
    """The pids limit a process runs with."""
    return process.nproc or DEFAULT_PIDS


def nproc(pids_limit: int) -> int:
    """The size's nproc that a container's pids limit stands for (0: the default)."""
    return 0 if pids_limit in (0, -1, DEFAULT_PIDS) else pids_limit


def nano_cpus(process: ManifestProcess) -> int | None:
    """The process's CPU shares as a hard limit in CPUs (1024 shares = 1 CPU), as Swarm takes."""
    return process.cpu_shares * NANO // 1024 if process.cpu_shares else None


def host_config(
    api: EngineAPI,
    process: ManifestProcess,
    *,
    network: str,
    hard_cpu: bool = False,
    **options: Any,
) -> Any:
    """The host config of a container of `process` on `network` (more `options` as given).

    CPU is relative shares on one host, a hard limit (`hard_cpu`) where Swarm would set one.
    """
    cpu: dict[str, Any] = (
        {"nano_cpus": nano_cpus(process)}
        if hard_cpu
        else {"cpu_shares": process.cpu_shares or None}
    )
    return api.create_host_config(
        **cpu,
        mem_limit=process.memory or None,
        pids_limit=pids(process),
        security_opt=SECURITY_OPT,
        cap_drop=CAP_DROP,
        init=True,
        log_config=LOG_CONFIG,
        sysctls=SYSCTLS,
        network_mode=network,
        **options,
    )


def start(api: EngineAPI, container_id: str) -> None:
    """Start a created container; remove it when it cannot start."""
    try:
        with engine_errors(f"start container {container_id[:12]}"):
            api.start(container_id)
    except Exception:
        remove(api, container_id, None)
        raise


def remove(api: EngineAPI, container_id: str, stop_timeout: int | None) -> None:
    """Stop a container (SIGTERM, then SIGKILL after `stop_timeout` s) and remove it.

    With no `stop_timeout` the container is killed at once. Gone already is fine. Its end is
    then Empire's doing (`stopped_by_empire`), not a crash.
    """
    _STOPPED.mark(container_id)
    if stop_timeout is not None:
        with engine_errors(f"stop container {container_id[:12]}", missing_ok=True):
            api.stop(container_id, timeout=stop_timeout)
    with engine_errors(f"remove container {container_id[:12]}", missing_ok=True):
        try:
            api.remove_container(container_id, force=True)
        except docker.errors.APIError as e:
            if e.status_code != 409:
                raise
            # The engine is removing it already (an auto-removed run): wait until it is gone.
            api.wait(container_id, timeout=30, condition="removed")


class _Stopped:
    """The last containers Empire stopped or removed itself (bounded), by id."""

    def __init__(self, size: int = 10_000) -> None:
        self._ids: collections.OrderedDict[str, None] = collections.OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def mark(self, container_id: str) -> None:
        with self._lock:
            self._ids[container_id] = None
            while len(self._ids) > self._size:
                self._ids.popitem(last=False)

    def __contains__(self, container_id: str) -> bool:
        with self._lock:
            return container_id in self._ids


_STOPPED = _Stopped()


def stopped_by_empire(container_id: str) -> bool:
    """Whether Empire stopped or removed the container (`remove`): its exit is no crash."""
    return container_id in _STOPPED
