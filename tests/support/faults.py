"""The fault tier's machinery: a whole stack to break, bounded load, a dedicated engine, a table.

- :class:`FaultStack` - `empire server` on a Docker engine, with a Caddy of its own (started
  here, so that a test can kill and restart it), a unique network, an admin user.
- :class:`Load` - a bounded load on the router (count and time), one connection per request.
- :class:`Netns` - a network namespace of our own; threads that enter it (`setns` changes the
  calling thread only), so daemons started from them and sockets opened by them live there.
- :class:`Engine` - a dedicated dockerd in a :class:`Netns`, with its own socket, pidfile, data
  and exec roots: the engine a test may restart. Never the machine's main one.
- :func:`record` / :func:`table` - the rows of the table the tier prints at the end.

Nothing here imports pytest. Every process started here is a child of the test process, stopped
with a signal and waited for; orphans of dockerd (containerd, shims) come back to this process,
a child subreaper, and are reaped (nothing else on these machines reaps them).
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import docker
import docker.errors
import httpx

from support import services
from support.server import EmpireServer
from support.services import Daemon, ServiceError, free_port
from support.waiting import wait_for

T = TypeVar("T")
NETNS_DIR = Path("/var/run/netns")
_CLONE_NEWNET = 0x40000000
_PR_SET_CHILD_SUBREAPER = 36

# ----------------------------------------------------------------------------- the table


@dataclass
class Row:
    fault: str
    trials: int = 0
    survived: int = 0
    requests: int = 0
    failed: int = 0
    lost: int = 0
    notes: list[str] = field(default_factory=list)


ROWS: dict[str, Row] = {}
# The table follows issue 7's list, whatever order the test files ran in.
ORDER = ("kill -9", "container", "dockerd", "router", "50 concurrent", "PostgreSQL", "deploy:")


def record(
    fault: str,
    *,
    survived: bool,
    requests: int = 0,
    failed: int = 0,
    lost: int = 0,
    note: str = "",
) -> None:
    """Add one trial of `fault` to the table (call it before asserting, so failures count)."""
    row = ROWS.setdefault(fault, Row(fault))
    if note:
        row.notes.append(note)
    row.trials += 1
    row.survived += int(survived)
    row.requests += requests
    row.failed += failed
    row.lost += lost


def table() -> list[str]:
    """The table as text lines (empty when no fault test ran)."""
    if not ROWS:
        return []
    head = ("fault", "trials", "survived", "requests failed", "data lost")
    rows = [
        (
            r.fault,
            str(r.trials),
            f"{r.survived}/{r.trials}",
            f"{r.failed}/{r.requests}",
            str(r.lost),
        )
        for r in sorted(ROWS.values(), key=_rank)
    ]
    widths = [max(len(x[i]) for x in (head, *rows)) for i in range(len(head))]

    def line(cells: tuple[str, ...]) -> str:
        first, *rest = cells
        return (
            "| "
            + " | ".join(
                [first.ljust(widths[0])]
                + [c.rjust(w) for c, w in zip(rest, widths[1:], strict=True)]
            )
            + " |"
        )

    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return [line(head), rule, *(line(r) for r in rows)]


def _rank(row: Row) -> int:
    return next((n for n, prefix in enumerate(ORDER) if row.fault.startswith(prefix)), len(ORDER))


def notes() -> list[str]:
    """The rows' notes, in table order."""
    return [f"{r.fault}: {note}" for r in sorted(ROWS.values(), key=_rank) for note in r.notes]


# ----------------------------------------------------------------------------- namespaces


def _libc() -> Any:
    return ctypes.CDLL(None, use_errno=True)


def become_subreaper() -> None:
    """Make orphaned descendants (dockerd's containerd and shims) children of this process."""
    if _libc().prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise ServiceError(f"prctl(PR_SET_CHILD_SUBREAPER): errno {ctypes.get_errno()}")


def reap_orphans() -> list[int]:
    """Reap exited processes adopted by this process (never one a Popen still waits for)."""
    ours = {d.pid for d in services._live if d.pid is not None}
    reaped = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError, ChildProcessError):
            pid = int(stat.parent.name)
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if fields[0] == "Z" and int(fields[1]) == os.getpid() and pid not in ours:
                os.waitpid(pid, os.WNOHANG)
                reaped.append(pid)
    return reaped


def run(argv: list[str], timeout: float = 30) -> str:
    result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    if result.returncode != 0:
        raise ServiceError(f"{' '.join(argv)} failed ({result.returncode}): {result.stderr}")
    return result.stdout


# What this process created, so that a last check can say whether anything was left behind.
CREATED_NETWORKS: set[str] = set()
CREATED_NETNS: set[str] = set()


def leftovers(client: docker.DockerClient) -> list[str]:
    """Remove what this process created and did not clean up; return what that was."""
    found = []
    for network in sorted(CREATED_NETWORKS):
        for c in client.containers.list(
            all=True, filters={"label": f"empire.network={network}"}, ignore_removed=True
        ):
            found.append(f"container {c.name}")
            with contextlib.suppress(docker.errors.APIError):
                c.remove(force=True)
        for net in client.networks.list(names=[network]):
            if net.name == network:
                found.append(f"network {network}")
                with contextlib.suppress(docker.errors.APIError):
                    net.remove()
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=False)
    for name in (line.split()[0] for line in listed.stdout.splitlines() if line.strip()):
        if name in CREATED_NETNS:
            found.append(f"network namespace {name}")
            subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False)
    reap_orphans()
    return found


class Netns:
    """A network namespace of our own (loopback up), deleted by `close`."""

    def __init__(self) -> None:
        self.name = f"empire-fx-{uuid.uuid4().hex[:6]}"
        CREATED_NETNS.add(self.name)
        run(["ip", "netns", "add", self.name])
        self.path = NETNS_DIR / self.name
        run(["ip", "-n", self.name, "link", "set", "lo", "up"])

    def enter(self) -> None:
        """Move the calling thread (only it) into the namespace."""
        fd = os.open(self.path, os.O_RDONLY)
        try:
            if _libc().setns(fd, _CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), f"setns {self.path}")
        finally:
            os.close(fd)

    def thread(self, target: Callable[[], object], name: str = "netns") -> threading.Thread:
        """Start a thread that runs `target` inside the namespace."""

        def body() -> None:
            self.enter()
            target()

        thread = threading.Thread(target=body, name=name, daemon=True)
        thread.start()
        return thread

    def call(self, fn: Callable[[], T]) -> T:
        """Run `fn` in a thread inside the namespace; return its result or raise its error.

        Processes it starts (Popen forks the calling thread) live in the namespace too.
        """
        future: Future[T] = Future()

        def body() -> None:
            try:
                future.set_result(fn())
            except BaseException as e:
                future.set_exception(e)

        self.thread(body).join()
        return future.result()

    def close(self) -> None:
        subprocess.run(["ip", "netns", "del", self.name], capture_output=True, check=False)


class Engine:
    """A dedicated dockerd inside `netns`: its own socket, pidfile, data root and exec root."""

    def __init__(self, netns: Netns) -> None:
        self.netns = netns
        # Short paths: containerd's sockets live under the exec root (108-byte limit).
        self.dir = Path(tempfile.mkdtemp(prefix="efx-", dir="/tmp"))
        self.socket = self.dir / "docker.sock"
        self.base_url = f"unix://{self.socket}"
        argv = [
            "nsenter", f"--net={netns.path}", "--",
            "dockerd",
            "--data-root", str(self.dir / "data"),
            "--exec-root", str(self.dir / "exec"),
            "-H", self.base_url,
            "--pidfile", str(self.dir / "docker.pid"),
            "--log-level", "warn",
        ]  # fmt: skip
        self.daemon = Daemon("dockerd (faults)", argv, self.dir / "dockerd.log")
        self.client = docker.DockerClient(
            base_url=self.base_url, version="1.41", max_pool_size=16, timeout=60
        )

    def start(self) -> None:
        become_subreaper()
        self.daemon.start()

        def answers() -> bool:
            try:
                return bool(self.client.ping())
            except Exception:
                return False

        self.daemon.wait_until(answers, "answering on its socket")

    def stop(self) -> None:
        """SIGTERM dockerd and wait (it stops its containers and containerd), then reap."""
        self.daemon.stop(timeout=60)
        for _ in range(20):  # containerd and the shims exit just after dockerd
            reap_orphans()
            time.sleep(0.05)

    def restart(self) -> None:
        self.stop()
        self.start()

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.client.close()
        self.stop()
        for point in sorted(_mounts_under(self.dir), key=len, reverse=True):
            if subprocess.run(["umount", point], capture_output=True, check=False).returncode:
                subprocess.run(["umount", "-l", point], capture_output=True, check=False)
        shutil.rmtree(self.dir, ignore_errors=True)
        reap_orphans()


def _mounts_under(root: Path) -> list[str]:
    points = [ln.split()[4] for ln in Path("/proc/self/mountinfo").read_text().splitlines()]
    return [p for p in points if p == str(root) or p.startswith(f"{root}/")]


# ----------------------------------------------------------------------------- the stack


@dataclass
class Deploy:
    """What a deploy's stream said (it may have been cut by a kill)."""

    status: int
    messages: list[dict[str, Any]]
    error: str = ""

    @property
    def created(self) -> int | None:
        """The version the stream said it created, if it got that far."""
        for m in self.messages:
            text = str(m.get("status", ""))
            if text.startswith("Status: Created new release v"):
                return int(text.split(" v", 1)[1].split()[0])
        return None

    @property
    def verdict(self) -> str:
        return str(self.messages[-1].get("error") or self.messages[-1].get("status", ""))


class FaultStack:
    """`empire server` on an engine, with its router container, on a unique network.

    With `netns` (a dedicated engine in it), the server is started inside it, and every
    request of the helpers is made from inside it: the engine's loopback ports are only there.
    """

    def __init__(
        self,
        base_dir: Path,
        client: docker.DockerClient,
        *,
        docker_host: str = "unix:///var/run/docker.sock",
        netns: Netns | None = None,
        database_url: str | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        base_dir.mkdir(parents=True, exist_ok=True)
        self.client = client
        self.netns = netns
        self.network = f"empire-fx-net-{uuid.uuid4().hex[:8]}"
        if netns is None:  # a dedicated engine goes away with everything on it
            CREATED_NETWORKS.add(self.network)
        self.router_container = f"{self.network}-router"
        self.router = f"127.0.0.1:{free_port()}"
        self.database_url = database_url
        self.env = {
            "EMPIRE_SCHEDULER": "docker",
            "EMPIRE_IMAGES": "docker",
            "EMPIRE_DOCKER_HOST": docker_host,
            "EMPIRE_ROUTER_CONTAINER": self.router_container,
            "EMPIRE_ROUTER_LISTEN": self.router,
            "EMPIRE_ROUTER_TLS_LISTEN": f"127.0.0.1:{free_port()}",
            "EMPIRE_DOCKER_NETWORK": self.network,
            "EMPIRE_RECONCILE_INTERVAL": "1",
            "EMPIRE_HEALTH_TIMEOUT": "10",
            # The tests' registries listen on 127.0.0.1, which Empire refuses unless told.
            "EMPIRE_ALLOW_LOCAL_REGISTRIES": "true",
            **({"EMPIRE_DATABASE_URL": database_url} if database_url else {}),
            **(env or {}),
        }
        self.server = EmpireServer(base_dir / "empire", env=dict(self.env))
        self.token = ""
        self._closed = False

    # -- life cycle ---------------------------------------------------------------------------

    def in_ns(self, fn: Callable[[], T]) -> T:
        return fn() if self.netns is None else self.netns.call(fn)

    def start(self) -> FaultStack:
        self.server.data_dir.mkdir(parents=True, exist_ok=True)
        if self.database_url:
            self.server.empire("migrate")
        self.token = self.server.create_user("alice")
        self.in_ns(self.server.start)
        return self

    def restart(self, *, failpoints: str = "", stop: signal.Signals = signal.SIGTERM) -> None:
        """Stop the server (SIGTERM, or `stop`) and start it again, with these failpoints."""
        self.server.stop(stop)
        self.server.env = {**self.server.env, "EMPIRE_FAILPOINTS": failpoints}
        if not failpoints:
            self.server.env.pop("EMPIRE_FAILPOINTS")
        self.in_ns(self.server.start)

    def kill9(self) -> None:
        """kill -9 the server, and reap it."""
        self.server.stop(signal.SIGKILL)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self.server.stop()
        finally:
            self.remove_containers()

    def remove_containers(self) -> None:
        with contextlib.suppress(docker.errors.APIError, Exception):
            for c in self.client.containers.list(
                all=True, filters={"label": f"empire.network={self.network}"}, ignore_removed=True
            ):
                with contextlib.suppress(docker.errors.APIError):
                    c.remove(force=True)
            for net in self.client.networks.list(names=[self.network]):
                if net.name == self.network:
                    with contextlib.suppress(docker.errors.APIError):
                        net.remove()

    def __enter__(self) -> FaultStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the API ------------------------------------------------------------------------------

    def call(self, method: str, path: str, *, timeout: float = 60, **kwargs: Any) -> httpx.Response:
        """One API request on a connection of its own (one client per caller, as `emp` is)."""

        def go() -> httpx.Response:
            headers = {"Authorization": f"Bearer {self.token}", **kwargs.pop("headers", {})}
            with httpx.Client(base_url=self.server.url, timeout=timeout) as client:
                return client.request(method, path, headers=headers, **kwargs)

        return self.in_ns(go)

    def deploy(self, image: str, app: str) -> Deploy:
        """POST /apps/{app}/deploys (creating the app first when needed); read the stream."""

        def go() -> Deploy:
            if not self.app_exists(app):
                created = self.call("POST", "/apps", json={"name": app})
                assert created.status_code == 201, created.text
            path = f"/apps/{app}/deploys"
            messages: list[dict[str, Any]] = []
            headers = {"Authorization": f"Bearer {self.token}"}
            try:
                with (
                    httpx.Client(base_url=self.server.url, timeout=180) as client,
                    client.stream("POST", path, json={"image": image}, headers=headers) as r,
                ):
                    if r.status_code != 200:
                        r.read()
                        return Deploy(r.status_code, [r.json()], r.text)
                    for line in r.iter_lines():
                        if line:
                            messages.append(json.loads(line))
                    return Deploy(200, messages)
            except httpx.HTTPError as e:  # the server died under us
                return Deploy(0, messages, f"{type(e).__name__}: {e}")

        return self.in_ns(go)

    def app_exists(self, app: str) -> bool:
        return self.call("GET", f"/apps/{app}").status_code == 200

    def deploy_in_background(self, image: str, app: str) -> Future[Deploy]:
        future: Future[Deploy] = Future()

        def go() -> None:
            try:
                future.set_result(self.deploy(image, app))
            except BaseException as e:
                future.set_exception(e)

        threading.Thread(target=go, name="deploy", daemon=True).start()
        return future

    def releases(self, app: str) -> list[dict[str, Any]]:
        r = self.call("GET", f"/apps/{app}/releases", headers={"Range": "version ..; max=1000"})
        assert r.status_code in (200, 206), r.text
        return list(r.json())

    def get(self, host: str, path: str = "/") -> tuple[int, str]:
        """A request through the router: (status, body), (0, error) when nothing answered."""

        def go() -> tuple[int, str]:
            try:
                r = httpx.get(f"http://{self.router}{path}", headers={"Host": host}, timeout=5)
                return r.status_code, r.text.strip()
            except httpx.HTTPError as e:
                return 0, f"{type(e).__name__}: {e}"

        return self.in_ns(go)

    def wait_for(self, what: str, check: Callable[[], bool], timeout: float = 30) -> float:
        """Poll `check` until true; return how long it took; raise AssertionError with `what`."""
        start = time.monotonic()
        wait_for(
            check,
            timeout,
            what,
            interval=0.2,
            ignore=(httpx.HTTPError, docker.errors.APIError),
            detail=self.server.log_tail,
        )
        return time.monotonic() - start

    def wait_failpoint(self, name: str, work: Future[Any], timeout: float = 60) -> None:
        """Wait until the server pauses at failpoint `name` while doing `work`."""
        marker = self.server.data_dir / f"failpoint-{name}"

        def there() -> bool:
            if work.done() and not marker.exists():
                raise AssertionError(f"finished without reaching failpoint {name}: {work.result()}")
            return marker.exists()

        self.wait_for(f"at failpoint {name}", there, timeout)
        marker.unlink()

    # -- what runs ----------------------------------------------------------------------------

    def containers(self, app_id: str | None = None) -> list[Any]:
        """The service containers on the stack's network (of one app)."""
        labels = [f"empire.network={self.network}", "empire.kind=service"]
        if app_id:
            labels.append(f"empire.app.id={app_id}")
        return list(
            self.client.containers.list(all=True, filters={"label": labels}, ignore_removed=True)
        )

    def orphans(self) -> list[str]:
        """Containers on the stack's network of no live app, and leftover Procfile probes."""
        apps = self.call("GET", "/apps").json()
        known = {a["id"] for a in apps}
        found = [
            f"{c.name} belongs to no app"
            for c in self.client.containers.list(
                all=True, filters={"label": f"empire.network={self.network}"}, ignore_removed=True
            )
            if c.labels.get("empire.app.id") not in known
            and c.labels.get("empire.managed") != "true"  # the router: no app's
        ]
        images = {r["image"] for a in apps for r in self.releases(a["name"]) if r.get("image")}
        for image in images:
            for c in self.client.containers.list(
                all=True,
                filters={"label": "io.empire.procfile-probe", "ancestor": image},
                ignore_removed=True,
            ):
                found.append(f"Procfile probe {c.name} of {image} was left behind")
        return found

    def problems(self, app: str, host: str | None = None, quantity: int = 1) -> list[str]:
        """Why `app` has not converged to one consistent release (empty when it has).

        Versions 1..N without gap or duplicate, one current release and none pending, exactly
        `quantity` running and armed web containers of the current release and nothing else of
        the app, and (with `host`) the router serving the current release.
        """
        found: list[str] = []
        releases = self.releases(app)
        versions = sorted(r["version"] for r in releases)
        if versions != list(range(1, len(versions) + 1)):
            found.append(f"versions are not 1..{len(versions)}: {versions}")
        current = [r for r in releases if r["current"]]
        pending = [r["version"] for r in releases if r["outcome"] == "pending"]
        if pending:
            found.append(f"releases still pending: {pending}")
        if len(current) != 1:
            return [*found, f"{len(current)} current releases"]
        version = current[0]["version"]
        app_id = current[0]["app"]["id"]
        for c in self.containers(app_id):
            labels = c.labels
            policy = c.attrs["HostConfig"]["RestartPolicy"]["Name"]
            if labels.get("empire.release") != f"v{version}":
                found.append(f"{c.name} ({c.status}) is of {labels.get('empire.release')}")
            elif c.status != "running":
                found.append(f"{c.name} is {c.status}")
            elif policy != "unless-stopped":
                found.append(f"{c.name} runs with restart policy {policy!r}, not armed")
        running = [
            c
            for c in self.containers(app_id)
            if c.status == "running" and c.labels.get("empire.release") == f"v{version}"
        ]
        if len(running) != quantity:
            found.append(f"{len(running)} running containers of v{version}, not {quantity}")
        if host is not None:
            status, body = self.get(host)
            if status != 200 or not body.startswith(f"v{version}-"):
                found.append(f"the router answers {status} {body[:80]!r}, not v{version}")
        return found

    def converge(
        self, app: str, host: str | None = None, quantity: int = 1, timeout: float = 40
    ) -> list[str]:
        """Wait until `problems` is empty; return the problems left at the deadline."""
        deadline = time.monotonic() + timeout
        while True:
            left = self.problems(app, host, quantity)
            if not left or time.monotonic() > deadline:
                return left
            time.sleep(0.3)


# ----------------------------------------------------------------------------- load


@dataclass
class Load:
    """A bounded load on the router: at most `max_requests`, `interval` apart, `max_seconds`.

    Each request opens its own connection, as independent clients do. A request fails when it
    does not answer 200 with a body `accept` likes (by default any `v<N>-` body).
    """

    stack: FaultStack
    host: str
    accept: Callable[[str], bool] = lambda body: body.startswith("v")
    max_requests: int = 12_000
    max_seconds: float = 150.0
    interval: float = 0.01
    results: list[tuple[float, int, str]] = field(default_factory=list)  # (sent at, status, body)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> Load:
        def loop() -> None:
            limits = httpx.Limits(max_keepalive_connections=0)
            deadline = time.monotonic() + self.max_seconds
            url = f"http://{self.stack.router}/"
            with httpx.Client(timeout=5, limits=limits) as client:
                for _ in range(self.max_requests):
                    if self._stop.is_set() or time.monotonic() > deadline:
                        return
                    sent = time.monotonic()
                    try:
                        r = client.get(url, headers={"Host": self.host})
                        status, body = r.status_code, r.text.strip()
                    except httpx.HTTPError as e:
                        status, body = 0, f"{type(e).__name__}: {e}"
                    self.results.append((sent, status, body))
                    time.sleep(self.interval)

        if self.stack.netns is None:
            self._thread = threading.Thread(target=loop, name="load", daemon=True)
            self._thread.start()
        else:
            self._thread = self.stack.netns.thread(loop, name="load")
        return self

    def more(self, requests: int, timeout: float = 60) -> Load:
        """Wait until the load has sent `requests` more requests: a stretch of traffic counted
        in requests, not seconds (about 100 a second while the router answers)."""
        start = len(self.results)
        wait_for(lambda: len(self.results) >= start + requests, timeout, f"{requests} requests")
        return self

    def stop(self) -> Load:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        return self

    @property
    def failures(self) -> list[tuple[float, int, str]]:
        return [r for r in self.results if r[1] != 200 or not self.accept(r[2])]

    def outage(self) -> float:
        """The longest time the router answered nothing good: first failure of a run of
        failures to the next success (0.0 when nothing failed)."""
        longest, began = 0.0, None
        for sent, status, body in self.results:
            bad = status != 200 or not self.accept(body)
            if bad and began is None:
                began = sent
            elif not bad and began is not None:
                longest, began = max(longest, sent - began), None
        if began is not None and self.results:
            longest = max(longest, self.results[-1][0] - began)
        return longest

    def bodies(self) -> set[str]:
        return {body for _, status, body in self.results if status == 200}

    def __enter__(self) -> Load:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextlib.contextmanager
def loaded(stack: FaultStack, host: str, **options: Any) -> Iterator[Load]:
    load = Load(stack, host, **options).start()
    try:
        yield load
    finally:
        load.stop()
