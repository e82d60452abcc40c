"""The network every container of a backend joins, with one address kept for the router.

The router (Caddy and the resolver, `empire.router`) is every container's DNS server, so its
address must never change: a network Empire creates gets a configured subnet whose lower half
is kept out of the engine's allocation (`IPRange` is the upper half), and the router takes
the subnet's second address. The subnet itself is the one the engine would have picked: the
network is created plain first, read, and made again with that subnet configured.

A network made otherwise (by hand, or by an older Empire) is used as it is: the router then
has whatever address the engine gives it (`reserved` is None).

The engine lets two networks share a name when they are created at once, and then refuses
every container that names it ("ambiguous"). So one caller at a time makes a given network
(the router's supervision and a first deploy both ask at start), and a name found twice is
settled: the oldest stays, the others go when nothing is attached to them.
"""

from __future__ import annotations

import ipaddress
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from empire.errors import SchedulerError
from empire.scheduler import labels
from empire.scheduler.kit.api import EngineAPI, Json
from empire.scheduler.kit.errors import engine_errors

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Network:
    name: str
    driver: str
    subnet: str | None
    reserved: str | None  # the router's address, when the network keeps one for it


_LOCKS: dict[str, threading.Lock] = {}
_LOCKS_LOCK = threading.Lock()


def _lock(name: str) -> threading.Lock:
    with _LOCKS_LOCK:
        return _LOCKS.setdefault(name, threading.Lock())


def ensure_network(api: EngineAPI, name: str, *, driver: str = "bridge") -> Network:
    """Find the network, or create it with the router's address kept; return what it is."""
    with _lock(name):
        return _ensure(api, name, driver)


def _ensure(api: EngineAPI, name: str, driver: str) -> Network:
    found = _find(api, name)
    if found is None:
        options = {"attachable": True} if driver == "overlay" else {}
        with engine_errors(f"create the {name} network"):
            api.create_network(name, driver=driver, check_duplicate=True, **options)
            first = _find(api, name)
            picked = _subnet(first) if first is not None else None
            if picked is not None and ipaddress.ip_network(picked[0]).version == 4:
                subnet = ipaddress.ip_network(picked[0])
                upper = list(subnet.subnets())[1]
                api.remove_network(first["Id"])  # type: ignore[index]
                # Swarm removes an overlay network in the background: wait until it is gone.
                _settle(lambda: _find(api, name) is None, f"the {name} network to go")
                ipam = {
                    "Driver": "default",
                    "Config": [
                        {"Subnet": str(subnet), "IPRange": str(upper), "Gateway": picked[1]}
                    ],
                }
                api.create_network(
                    name,
                    driver=driver,
                    check_duplicate=True,
                    ipam=ipam,
                    labels={labels.MANAGED: "true"},
                    **options,
                )
        _settle(
            lambda: (_find(api, name) or {}).get("Driver") == driver,
            f"the {name} network to be made",
        )
        found = _find(api, name)
        if found is None:
            raise SchedulerError(f"the {name} network could not be created")
    if found.get("Driver") != driver:
        raise SchedulerError(
            f"network {name} exists with driver {found.get('Driver')}: this backend needs a "
            f"{'attachable overlay' if driver == 'overlay' else driver} network; pick another "
            "name or remove it"
        )
    return _describe(found)


def _settle(done: Callable[[], bool], what: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            raise SchedulerError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.1)


def _find(api: EngineAPI, name: str) -> Json | None:
    """The network of that name. When there are several (made at once), the one with the most
    containers on this engine, then the oldest; the others are removed when nothing is
    attached to them (a removal the engine refuses, an overlay network used on other nodes,
    is left for the next look)."""
    with engine_errors(f"look up the {name} network"):
        same = [n for n in api.networks(names=[name]) if n.get("Name") == name]
        if not same:
            return None
        found = [dict(api.inspect_network(n["Id"])) for n in same]
    found.sort(key=lambda n: (-len(n.get("Containers") or {}), _created(n)))
    for extra in found[1:]:
        if not extra.get("Containers"):
            try:
                with engine_errors(f"remove a second {name} network", missing_ok=True):
                    api.remove_network(extra["Id"])
            except SchedulerError as exc:
                log.warning("%s", exc)
    return found[0]


def _created(network: Json) -> str:
    """When the engine made it, as text that sorts in time order (the engine trims trailing
    zeros of the nanoseconds: `...:21Z`, `...:21.3Z`)."""
    stamp = str(network.get("Created") or "")
    whole, _, fraction = stamp.partition(".")
    digits = fraction[: len(fraction) - len(fraction.lstrip("0123456789"))]
    if not fraction:  # `2026-12-07T00:21:54Z` or with an offset
        whole = whole.rstrip("Z")
    return f"{whole[:19]}.{digits.ljust(9, '0')}"


def _subnet(network: Json) -> tuple[str, str] | None:
    for config in (network.get("IPAM") or {}).get("Config") or []:
        subnet = config.get("Subnet")
        if subnet and ":" not in subnet:
            gateway = config.get("Gateway") or str(next(ipaddress.ip_network(subnet).hosts()))
            return str(subnet), str(gateway)
    return None


def _describe(network: Json) -> Network:
    reserved = None
    subnet = None
    for config in (network.get("IPAM") or {}).get("Config") or []:
        if not config.get("Subnet") or ":" in config["Subnet"]:
            continue
        subnet = str(config["Subnet"])
        if config.get("IPRange"):
            net = ipaddress.ip_network(subnet)
            allocated = ipaddress.ip_network(config["IPRange"])
            candidate = net.network_address + 2
            gateway = config.get("Gateway")
            if candidate not in allocated and str(candidate) != gateway:
                reserved = str(candidate)
        break
    return Network(str(network["Name"]), str(network.get("Driver", "")), subnet, reserved)
