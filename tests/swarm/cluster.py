"""A real two-node Docker Swarm, built from nothing for one test session (or one benchmark).

    with Cluster() as cluster:
        cluster.manager.client                      # docker.DockerClient of the manager
        ref = web_image_of(cluster)                 # an image in the registry every node reaches
        cluster.worker.kill_engine(); cluster.restart_worker()

Two network namespaces `emp-sw-<id>-a` and `-b`, joined by a veth pair with addresses in a
private /24 (`10.251.<n>.0/24`, picked unused), each with a dedicated dockerd (started with
`nsenter --net`, never `ip netns exec`, and with its own pidfile, socket, data and exec roots
under the cluster's temp dir). Engine A inits the swarm and B joins it as a worker. Debian's
docker-registry listens on 0.0.0.0:5000 inside namespace A, so both engines reach it at
`<a-ip>:5000` (an insecure registry for both, by `--insecure-registry <subnet>`).

Reaping: this process becomes a child subreaper, so containerd and its shims, which dockerd
daemonizes, come back to us when they exit and are reaped here (nothing else on these
machines reaps orphans). The machine's main engine is never touched.

A run that dies without its teardown (SIGKILL) leaves its cluster behind: `sweep_stale`, called
by the next session, tears down those whose owner process is gone.

Teardown: `swarm leave --force` on both, SIGTERM both dockerd and wait, stop the registry,
reap, delete the namespaces (and with them the veth pair), unmount whatever is left under the
temp dir, remove it.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import random
import re
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import docker

from support.services import Daemon, ServiceError

NETNS_DIR = Path("/var/run/netns")
BUSYBOX = Path("/usr/bin/busybox")
REGISTRY = Path("/usr/bin/docker-registry")
CADDY = Path("/usr/bin/caddy")
REGISTRY_PORT = 5000
_PR_SET_CHILD_SUBREAPER = 36
_NEEDED = {
    "nsenter": "apt-get install util-linux",
    "ip": "apt-get install iproute2",
    "dockerd": "apt-get install docker.io",
    "curl": "apt-get install curl",
}


def prerequisites() -> list[str]:
    """What is missing to build a cluster on this machine (empty when nothing is)."""
    missing = []
    if os.geteuid() != 0:
        missing.append("root (network namespaces, veth pairs and dockerd need it)")
    for binary, hint in _NEEDED.items():
        if shutil.which(binary) is None:
            missing.append(f"{binary} ({hint})")
    for path, hint in (
        (BUSYBOX, "apt-get install busybox-static"),
        (REGISTRY, "apt-get install docker-registry"),
        (CADDY, "apt-get install caddy"),
    ):
        if not path.is_file():
            missing.append(f"{path} ({hint})")
    return missing


def run(argv: Sequence[str], *, timeout: float = 60, check: bool = True) -> str:
    """Run a command; return its stdout; raise ServiceError (with stderr) when it fails."""
    result = subprocess.run(
        list(argv), capture_output=True, text=True, timeout=timeout, check=False
    )
    if check and result.returncode != 0:
        raise ServiceError(f"{' '.join(argv)} failed ({result.returncode}): {result.stderr}")
    return result.stdout


def _pick_subnet() -> str:
    """A `10.251.<n>` prefix no route, address or namespace of this machine uses yet."""
    used = run(["ip", "-4", "route", "show", "table", "all"]) + run(["ip", "-4", "addr"])
    for name in run(["ip", "netns", "list"]).split():
        used += run(["ip", "-n", name, "-4", "addr"], check=False)
    taken = {int(n) for n in re.findall(r"10\.251\.(\d+)\.", used)}
    free = [n for n in range(1, 255) if n not in taken]
    if not free:
        raise ServiceError("no free 10.251.<n>.0/24 for the test cluster")
    return f"10.251.{random.choice(free)}"


class Node:
    """One engine of the cluster, in its own network namespace."""

    def __init__(self, role: str, netns: str, address: str, root: Path, subnet: str) -> None:
        self.role = role
        self.netns = netns
        self.address = address
        self.dir = root / role
        self.dir.mkdir(parents=True)
        self.socket = self.dir / "docker.sock"
        self.base_url = f"unix://{self.socket}"
        argv = [
            "nsenter",
            f"--net={NETNS_DIR / netns}",
            "--",
            "dockerd",
            "--data-root",
            str(self.dir / "data"),
            "--exec-root",
            str(self.dir / "exec"),
            "-H",
            self.base_url,
            "--pidfile",
            str(self.dir / "docker.pid"),
            "--insecure-registry",
            f"{subnet}.0/24",
            "--log-level",
            "warn",
        ]
        self.daemon = Daemon(f"dockerd {role}", argv, self.dir / "dockerd.log")
        self._client: docker.DockerClient | None = None

    @property
    def client(self) -> docker.DockerClient:
        if self._client is None:
            self._client = docker.DockerClient(
                base_url=self.base_url, version="1.41", max_pool_size=32, timeout=60
            )
        return self._client

    @property
    def api(self) -> Any:
        return self.client.api

    def start(self) -> None:
        self.daemon.start()

    def wait_ready(self) -> None:
        def answers() -> bool:
            try:
                return bool(self.client.ping())
            except Exception:
                return False

        self.daemon.wait_until(answers, "answering on its socket")

    @property
    def node_id(self) -> str:
        return str(self.client.info()["Swarm"]["NodeID"])

    def sh(self, argv: Sequence[str], timeout: float = 30, check: bool = True) -> str:
        """Run a command inside this node's network namespace."""
        return run(
            ["nsenter", f"--net={NETNS_DIR / self.netns}", "--", *argv],
            timeout=timeout,
            check=check,
        )

    def stop(self) -> None:
        if self._client is not None:
            with contextlib.suppress(Exception):
                self._client.close()
            self._client = None
        self.daemon.stop(timeout=45)

    def kill_engine(self) -> None:
        """SIGKILL dockerd. Its containerd dies with it; the shims and containers keep running
        (as when dockerd crashes on a host), so a restarted dockerd finds them again."""
        if self._client is not None:
            with contextlib.suppress(Exception):
                self._client.close()
            self._client = None
        proc = self.daemon.proc
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
        # dockerd's containerd dies with it (parent-death signal) and comes to us, the
        # subreaper: reap it, or a restarted dockerd takes the zombie for a live containerd.
        containerd = _pid(self.dir / "exec" / "containerd" / "containerd.pid")
        deadline = time.monotonic() + 10
        while containerd is not None and _exists(containerd) and time.monotonic() < deadline:
            reap_orphans()
            time.sleep(0.05)


class Cluster:
    """Two namespaces, two engines (manager and worker), one swarm, one registry."""

    def __init__(self, base_dir: Path | None = None) -> None:
        missing = prerequisites()
        if missing:
            raise ServiceError("cannot build the test swarm; missing: " + "; ".join(missing))
        self.id = uuid.uuid4().hex[:6]
        self.dir = Path(tempfile.mkdtemp(prefix=f"emp-sw-{self.id}-", dir=base_dir))
        self.subnet = _pick_subnet()
        self.netns = (f"emp-sw-{self.id}-a", f"emp-sw-{self.id}-b")
        self.veth = (f"esw{self.id}a", f"esw{self.id}b")
        self.manager = Node("a", self.netns[0], f"{self.subnet}.1", self.dir, self.subnet)
        self.worker = Node("b", self.netns[1], f"{self.subnet}.2", self.dir, self.subnet)
        self.registry = f"{self.manager.address}:{REGISTRY_PORT}"
        self.registry_daemon: Daemon | None = None
        self._created_netns: list[str] = []
        self._closed = False

    # -- life cycle ---------------------------------------------------------------------------

    def start(self) -> None:
        try:
            (self.dir / "owner.pid").write_text(str(os.getpid()))
            _become_subreaper()
            self._network()
            for node in (self.manager, self.worker):
                node.start()
            for node in (self.manager, self.worker):
                node.wait_ready()
            self._swarm()
            self._registry()
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for node in (self.worker, self.manager):
            if node.daemon.running:
                with contextlib.suppress(Exception):
                    node.api.leave_swarm(force=True)
        for node in (self.worker, self.manager):
            with contextlib.suppress(Exception):
                node.stop()
        if self.registry_daemon is not None:
            self.registry_daemon.stop()
        reap_orphans()
        for name in self._created_netns:
            run(["ip", "netns", "del", name], check=False)
        unmount_under(self.dir)
        shutil.rmtree(self.dir, ignore_errors=True)
        reap_orphans()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- pieces -------------------------------------------------------------------------------

    def _network(self) -> None:
        a, b = self.netns
        va, vb = self.veth
        for name in (a, b):
            run(["ip", "netns", "add", name])
            self._created_netns.append(name)
        run(["ip", "link", "add", va, "type", "veth", "peer", "name", vb])
        run(["ip", "link", "set", va, "netns", a])
        run(["ip", "link", "set", vb, "netns", b])
        for ns, dev, node in ((a, va, self.manager), (b, vb, self.worker)):
            run(["ip", "-n", ns, "addr", "add", f"{node.address}/24", "dev", dev])
            run(["ip", "-n", ns, "link", "set", "lo", "up"])
            run(["ip", "-n", ns, "link", "set", dev, "up"])

    def _swarm(self) -> None:
        api = self.manager.api
        spec = api.create_swarm_spec(dispatcher_heartbeat_period=1_000_000_000)
        api.init_swarm(
            advertise_addr=self.manager.address,
            listen_addr=f"{self.manager.address}:2377",
            swarm_spec=spec,
        )
        token = api.inspect_swarm()["JoinTokens"]["Worker"]
        self.worker.api.join_swarm(
            [f"{self.manager.address}:2377"],
            token,
            listen_addr=f"{self.worker.address}:2377",
            advertise_addr=self.worker.address,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            nodes = api.nodes()
            if len(nodes) == 2 and all(n["Status"]["State"] == "ready" for n in nodes):
                return
            time.sleep(0.2)
        raise ServiceError(f"the worker did not join the swarm: {api.nodes()}")

    def _registry(self) -> None:
        storage = self.dir / "registry"
        storage.mkdir()
        config = {
            "version": 0.1,
            "log": {"level": "warn"},
            "storage": {
                "filesystem": {"rootdirectory": str(storage)},
                "delete": {"enabled": True},
            },
            "http": {"addr": f"0.0.0.0:{REGISTRY_PORT}", "secret": "empire-swarm-tests"},
        }
        path = self.dir / "registry.yml"
        path.write_text(json.dumps(config))  # JSON is YAML
        argv = [
            "nsenter",
            f"--net={NETNS_DIR / self.netns[0]}",
            "--",
            str(REGISTRY),
            "serve",
            str(path),
        ]
        self.registry_daemon = Daemon("docker-registry", argv, self.dir / "registry.log")
        self.registry_daemon.start()
        (self.dir / "registry.pid").write_text(str(self.registry_daemon.pid))

        def answers() -> bool:
            code = self.manager.sh(
                [
                    "curl",
                    "-s",
                    "-o",
                    "/dev/null",
                    "-w",
                    "%{http_code}",
                    "-m",
                    "1",
                    f"http://{self.registry}/v2/",
                ],
                check=False,
            )
            return code.strip() == "200"

        self.registry_daemon.wait_until(answers, f"answering at {self.registry}")

    # -- helpers for tests --------------------------------------------------------------------

    def host(self, node: Node) -> str:
        """How `tasks` names the node: both engines share this machine's hostname."""
        return f"{self.manager.client.info()['Name']}@{node.address}"

    def restart_worker(self) -> None:
        """Start the worker's dockerd again (after `kill_engine`): it rejoins the swarm."""
        self.worker.start()
        self.worker.wait_ready()


def sweep_stale(base: Path | None = None) -> list[str]:
    """Tear down the clusters left by runs that died without their teardown (SIGKILL).

    Only clusters whose `owner.pid` names a process that is gone: a cluster another run is
    using is left alone. Returns the directories cleaned.
    """
    cleaned = []
    for root in Path(base or tempfile.gettempdir()).glob("emp-sw-*"):
        owner = _pid(root / "owner.pid")
        if owner is None or _alive(owner):
            continue
        pids = [_pid(root / role / "docker.pid") for role in ("a", "b")]
        pids.append(_pid(root / "registry.pid"))
        for pid in (p for p in pids if p is not None and _alive(p)):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 30
        while any(p is not None and _alive(p) for p in pids) and time.monotonic() < deadline:
            time.sleep(0.2)
        token = root.name.split("-")[2]
        for side in ("a", "b"):
            run(["ip", "netns", "del", f"emp-sw-{token}-{side}"], check=False)
        unmount_under(root)
        shutil.rmtree(root, ignore_errors=True)
        cleaned.append(str(root))
    return cleaned


def _pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def _exists(pid: int) -> bool:
    return Path(f"/proc/{pid}").exists()


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def _become_subreaper() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise ServiceError(f"prctl(PR_SET_CHILD_SUBREAPER): errno {ctypes.get_errno()}")


def reap_orphans() -> list[int]:
    """Reap the exited processes adopted by this subreaper (not the ones a Popen waits for)."""
    from support import services

    ours = {d.pid for d in services._live if d.pid is not None}
    reaped = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            pid = int(stat.parent.name)
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == os.getpid() and fields[0] == "Z" and pid not in ours:
                os.waitpid(pid, os.WNOHANG)
                reaped.append(pid)
    return reaped


def unmount_under(root: Path) -> None:
    """Unmount every mount point below `root`, deepest first (lazily when busy)."""
    for point in sorted(mounts_under(root), key=len, reverse=True):
        if subprocess.run(["umount", point], capture_output=True, check=False).returncode:
            subprocess.run(["umount", "-l", point], capture_output=True, check=False)


def mounts_under(root: Path) -> list[str]:
    """The mount points at or below `root`."""
    points = [ln.split()[4] for ln in Path("/proc/self/mountinfo").read_text().splitlines()]
    return [p for p in points if p == str(root) or p.startswith(f"{root}/")]


# -- images -----------------------------------------------------------------------------------


def build(cluster: Cluster, context: Path, tag: str) -> str:
    """Build with the manager's engine (its legacy builder, no pulls); return the tag."""
    import docker.errors

    try:
        cluster.manager.client.images.build(path=str(context), tag=tag, rm=True, forcerm=True)
    except docker.errors.BuildError as e:
        log = "".join(str(chunk.get("stream", chunk)) for chunk in e.build_log)
        raise ServiceError(f"building {tag} failed: {e}\n{log}") from e
    return tag


def push(cluster: Cluster, image: str, repository: str, tag: str) -> str:
    """Push `image` as `<registry>/<repository>:<tag>`; return the digest reference."""
    api = cluster.manager.api
    target = f"{cluster.registry}/{repository}"
    api.tag(image, target, tag)
    digest = ""
    for message in api.push(target, tag=tag, stream=True, decode=True):
        if message.get("error"):
            raise ServiceError(f"push of {target}:{tag} failed: {message['error']}")
        digest = (message.get("aux") or {}).get("Digest", digest)
    if not digest:
        raise ServiceError(f"no digest from the push of {target}:{tag}")
    return f"{target}@{digest}"


def busybox_context(path: Path, extra: str = "") -> Path:
    """A build context: FROM scratch, the static busybox and its applets, /www and /tmp."""
    path.mkdir(parents=True)
    shutil.copy(BUSYBOX, path / "busybox")
    (path / "Dockerfile").write_text(
        "FROM scratch\nCOPY busybox /bin/busybox\n"
        'RUN ["/bin/busybox", "--install", "-s", "/bin"]\n'
        f"RUN mkdir -p /www /tmp{extra}\n"
    )
    return path


def web_image_of(cluster: Cluster, name: str = "empire-swarm-web", extra: str = "") -> str:
    """The busybox image, pushed to the cluster's registry: its digest reference."""
    context = busybox_context(cluster.dir / "images" / name, extra)
    return push(cluster, build(cluster, context, f"{name}:v1"), name, "v1")


def router_image_of(cluster: Cluster) -> str:
    """A local image of the manager with Debian's caddy (dynamically linked: libs copied)."""
    context = cluster.dir / "images" / "router"
    (context / "lib").mkdir(parents=True)
    shutil.copy(BUSYBOX, context / "busybox")
    shutil.copy(CADDY, context / "caddy")
    loader = ""
    for line in run(["ldd", str(CADDY)]).splitlines():
        parts = line.split()
        if "=>" in parts and len(parts) >= 3 and parts[2].startswith("/"):
            shutil.copy(parts[2], context / "lib")
        elif parts and parts[0].startswith("/") and "ld-linux" in parts[0]:
            loader = parts[0]
            shutil.copy(loader, context / "loader")
    (context / "Dockerfile").write_text(
        "FROM scratch\nCOPY busybox /bin/busybox\n"
        'RUN ["/bin/busybox", "--install", "-s", "/bin"]\n'
        f"COPY loader {loader}\nCOPY lib/ /lib/x86_64-linux-gnu/\nCOPY caddy /usr/bin/caddy\n"
        "RUN mkdir -p /tmp /etc && echo 'hosts: files dns' > /etc/nsswitch.conf\n"
    )
    return build(cluster, context, f"empire-swarm-caddy:{cluster.id}")
