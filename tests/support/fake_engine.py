"""A Docker engine in memory that counts its calls: what the reconciler's call counts are
measured against (the real engine is in the integration tier).

It implements the slice of docker-py's `APIClient` the Docker backend calls for a rollout:
containers (list by label, create, start, stop, remove, inspect, update), networks (one bridge
network, made on demand), logs (none) and info. Every container "listens": its published ports
all map to `port`, a real socket the test owns, so the backend's TCP health checks pass. Tests
can kill a container behind the backend's back (`die`), as a crash would.
"""

from __future__ import annotations

import itertools
import secrets
import threading
from collections import Counter
from collections.abc import Mapping
from typing import Any

import docker.errors


class FakeEngine:
    def __init__(self, *, port: int = 0) -> None:
        self.port = port
        self.calls: Counter[str] = Counter()
        self.containers_by_id: dict[str, dict[str, Any]] = {}
        self.networks_by_name: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self._clock = itertools.count(1_700_000_000)

    @property
    def api(self) -> FakeEngine:  # docker.DockerClient.api
        return self

    def reset(self) -> None:
        self.calls.clear()

    # -- containers ---------------------------------------------------------------------------

    def containers(self, *, all: bool = False, filters: Mapping[str, Any] | None = None) -> Any:
        self.calls["containers"] += 1
        wanted = list((filters or {}).get("label") or [])
        with self._lock:
            found = [
                c for c in self.containers_by_id.values() if _matches(c["Config"]["Labels"], wanted)
            ]
            if not all:
                found = [c for c in found if c["State"]["Status"] == "running"]
            return [_entry(c) for c in found]

    def inspect_container(self, container: str) -> Any:
        self.calls["inspect_container"] += 1
        return self._get(container)

    def create_host_config(self, **options: Any) -> Any:
        return dict(options)

    def create_endpoint_config(self, **options: Any) -> Any:
        return dict(options)

    def create_networking_config(self, endpoints_config: Mapping[str, Any]) -> Any:
        return dict(endpoints_config)

    def create_container(self, image: str, command: Any = None, **options: Any) -> Any:
        self.calls["create_container"] += 1
        container_id = secrets.token_hex(32)
        host = options.get("host_config") or {}
        ports = {
            f"{port}/tcp": [{"HostIp": "127.0.0.1", "HostPort": str(self.port)}]
            for port in host.get("port_bindings") or {}
        }
        with self._lock:
            self.containers_by_id[container_id] = {
                "Id": container_id,
                "Name": "/" + str(options.get("name") or container_id[:12]),
                "Created": "2026-01-01T00:00:00Z",
                "CreatedUnix": next(self._clock),
                "Config": {"Image": image, "Labels": dict(options.get("labels") or {})},
                "State": {"Status": "created", "ExitCode": 0},
                "HostConfig": {
                    "RestartPolicy": dict(host.get("restart_policy") or {"Name": "no"}),
                    "CpuShares": host.get("cpu_shares") or 0,
                    "Memory": host.get("mem_limit") or 0,
                    "PidsLimit": host.get("pids_limit") or 0,
                },
                "NetworkSettings": {"Ports": ports},
            }
        return {"Id": container_id}

    def start(self, container: str) -> None:
        self.calls["start"] += 1
        self._get(container)["State"]["Status"] = "running"

    def stop(self, container: str, timeout: int | None = None) -> None:
        self.calls["stop"] += 1
        self._get(container)["State"].update(Status="exited", ExitCode=0)

    def kill(self, container: str, signal: str | int | None = None) -> None:
        self.die(container, 137)

    def remove_container(self, container: str, *, force: bool = False) -> None:
        self.calls["remove_container"] += 1
        with self._lock:
            if self.containers_by_id.pop(container, None) is None:
                raise _missing(container)

    def update_container(self, container: str, **options: Any) -> Any:
        self.calls["update_container"] += 1
        policy = options.get("restart_policy")
        if policy:
            self._get(container)["HostConfig"]["RestartPolicy"] = dict(policy)
        return {}

    def wait(
        self, container: str, timeout: float | None = None, condition: str | None = None
    ) -> Any:
        return {"StatusCode": 0}

    def logs(self, container: str, **options: Any) -> Any:
        return b""

    def info(self) -> Any:
        return {"Name": "fake-engine"}

    def die(self, container: str, code: int = 1) -> None:
        """The container's process exits (a crash), behind the backend's back."""
        self._get(container)["State"].update(Status="exited", ExitCode=code)

    def _get(self, container: str) -> dict[str, Any]:
        with self._lock:
            found = self.containers_by_id.get(container)
        if found is None:
            raise _missing(container)
        return found

    # -- networks -----------------------------------------------------------------------------

    def networks(self, names: Any = None, **options: Any) -> Any:
        self.calls["networks"] += 1
        with self._lock:
            return [
                {"Name": n["Name"], "Id": n["Id"]}
                for n in self.networks_by_name.values()
                if not names or n["Name"] in names
            ]

    def inspect_network(self, net_id: str, **options: Any) -> Any:
        with self._lock:
            for n in self.networks_by_name.values():
                if n["Id"] == net_id:
                    return dict(n)
        raise _missing(net_id)

    def create_network(self, name: str, **options: Any) -> Any:
        self.calls["create_network"] += 1
        index = len(self.networks_by_name) + 1
        with self._lock:
            self.networks_by_name[name] = {
                "Name": name,
                "Id": secrets.token_hex(32),
                "Driver": options.get("driver") or "bridge",
                "Created": "2026-01-01T00:00:00Z",
                "Containers": {},
                "IPAM": options.get("ipam")
                or {"Config": [{"Subnet": f"10.{index}.0.0/16", "Gateway": f"10.{index}.0.1"}]},
            }
        return {"Id": self.networks_by_name[name]["Id"]}

    def remove_network(self, net_id: str) -> None:
        with self._lock:
            for name, n in list(self.networks_by_name.items()):
                if n["Id"] == net_id:
                    del self.networks_by_name[name]


def _matches(tags: Mapping[str, str], selectors: list[str]) -> bool:
    for selector in selectors:
        key, eq, value = selector.partition("=")
        if key not in tags or (eq and tags[key] != value):
            return False
    return True


def _entry(container: Mapping[str, Any]) -> dict[str, Any]:
    ports = [
        {"PrivatePort": int(k.split("/")[0]), "PublicPort": int(b["HostPort"]), "IP": b["HostIp"]}
        for k, bindings in container["NetworkSettings"]["Ports"].items()
        for b in bindings
    ]
    return {
        "Id": container["Id"],
        "Names": [container["Name"]],
        "Labels": dict(container["Config"]["Labels"]),
        "State": container["State"]["Status"],
        "Ports": ports,
        "Created": container["CreatedUnix"],
    }


def _missing(what: str) -> docker.errors.NotFound:
    return docker.errors.NotFound(f"No such object: {what}")
