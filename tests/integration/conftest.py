"""Fixtures for the integration tier: the real Docker engine, busybox images, a local registry.

Images are built FROM scratch with the static busybox (no internet), with the legacy builder;
every name carries a unique `empire-test-<uuid8>` part and is removed at teardown.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import docker
import docker.errors
import pytest

from support.services import free_port
from support.waiting import wait_for

BUSYBOX = "/usr/bin/busybox"
REGISTRY_BINARY = "/usr/bin/docker-registry"
# bcrypt of "empire-secret" (the registry's htpasswd accepts only bcrypt).
REGISTRY_USER = "empire"
REGISTRY_PASSWORD = "empire-secret"
REGISTRY_HTPASSWD = "empire:$2b$04$4JlQkNH4voFalTFU16.gw.bg/r8lTtxzEHkXYi5EdPcoDo8G8fvhK\n"


def unique(prefix: str = "empire-test") -> str:
    """Return a name no other test run uses: `<prefix>-<uuid8>`."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True)
class BuiltImage:
    tag: str
    id: str


@dataclass(frozen=True)
class Registry:
    """A docker-registry process serving on 127.0.0.1 (plain HTTP, which Docker allows there)."""

    address: str
    username: str | None = None
    password: str | None = None


BuildImage = Callable[..., BuiltImage]
PushImage = Callable[[str, Registry, str, str], str]


@pytest.fixture(scope="session")
def busybox_base(
    docker_client: docker.DockerClient, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[BuiltImage]:
    """Build the session's base image: FROM scratch plus the static busybox, no CMD."""
    if not Path(BUSYBOX).is_file():
        pytest.fail(f"{BUSYBOX} is missing: apt-get install busybox-static", pytrace=False)
    context = tmp_path_factory.mktemp("busybox-base")
    shutil.copy(BUSYBOX, context / "busybox")
    (context / "Dockerfile").write_text(
        'FROM scratch\nCOPY busybox /bin/busybox\nRUN ["/bin/busybox", "--install", "-s", "/bin"]\n'
    )
    image = _build(docker_client, context, f"{unique('empire-test-base')}:latest")
    yield image
    _remove(docker_client, image.tag)


@pytest.fixture
def busybox_image(
    docker_client: docker.DockerClient, busybox_base: BuiltImage, tmp_path: Path
) -> Iterator[BuildImage]:
    """Build images on the busybox base; call with workdir, procfile, cmd, entrypoint, run."""
    built: list[str] = []

    def build(
        *,
        workdir: str | None = None,
        procfile: bytes | None = None,
        cmd: list[str] | None = None,
        entrypoint: list[str] | None = None,
        run: str | None = None,
    ) -> BuiltImage:
        context = tmp_path / unique("context")
        context.mkdir()
        lines = [f"FROM {busybox_base.tag}"]
        if workdir:
            lines.append(f"WORKDIR {workdir}")
        if procfile is not None:
            (context / "Procfile").write_bytes(procfile)
            lines.append("COPY Procfile Procfile")
        if run:
            lines.append(f"RUN {run}")
        if entrypoint:
            lines.append(f"ENTRYPOINT {json.dumps(entrypoint)}")
        if cmd:
            lines.append(f"CMD {json.dumps(cmd)}")
        (context / "Dockerfile").write_text("\n".join(lines) + "\n")
        image = _build(docker_client, context, f"{unique()}:v1")
        built.append(image.tag)
        return image

    yield build
    for tag in built:
        _remove(docker_client, tag)


@pytest.fixture
def push_image(docker_client: docker.DockerClient) -> Iterator[PushImage]:
    """Tag an image into a registry and push it; return the pushed `host:port/repo:tag`."""
    pushed: list[str] = []

    def push(image: str, registry: Registry, repository: str, tag: str) -> str:
        target = f"{registry.address}/{repository}"
        local = docker_client.images.get(image)
        local.tag(target, tag)
        # A pull by digest leaves an untagged image with the same ID: remove it by ID too.
        pushed.extend([f"{target}:{tag}", str(local.id)])
        auth = (
            {"username": registry.username, "password": registry.password}
            if registry.username
            else None
        )
        for message in docker_client.api.push(
            target, tag=tag, stream=True, decode=True, auth_config=auth
        ):
            if message.get("error"):
                raise AssertionError(f"push of {target}:{tag} failed: {message['error']}")
        return f"{target}:{tag}"

    yield push
    for ref in pushed:  # also removes what a test pulled back
        _remove(docker_client, ref)


@pytest.fixture(scope="session")
def local_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    """Run Debian's docker-registry on a free 127.0.0.1 port, without authentication."""
    yield from _run_registry(tmp_path_factory.mktemp("registry"), htpasswd=None)


@pytest.fixture(scope="session")
def auth_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    """Run a docker-registry that requires REGISTRY_USER / REGISTRY_PASSWORD (htpasswd)."""
    yield from _run_registry(tmp_path_factory.mktemp("auth-registry"), htpasswd=REGISTRY_HTPASSWD)


def _build(client: docker.DockerClient, context: Path, tag: str) -> BuiltImage:
    # docker-py's build API uses the engine's legacy builder (no BuildKit) unless asked.
    try:
        image, _ = client.images.build(path=str(context), tag=tag, rm=True, forcerm=True)
    except docker.errors.BuildError as e:
        log = "".join(str(chunk.get("stream", chunk)) for chunk in e.build_log)
        raise AssertionError(f"building {tag} failed: {e}\n{log}") from e
    return BuiltImage(tag=tag, id=str(image.id))


def _remove(client: docker.DockerClient, image: str) -> None:
    with contextlib.suppress(docker.errors.ImageNotFound):
        client.images.remove(image, force=True)


def _run_registry(root: Path, htpasswd: str | None) -> Iterator[Registry]:
    if not Path(REGISTRY_BINARY).is_file():
        pytest.fail(f"{REGISTRY_BINARY} is missing: apt-get install docker-registry", pytrace=False)
    port = free_port()
    address = f"127.0.0.1:{port}"
    config = {
        "version": 0.1,
        "log": {"level": "warn"},
        "storage": {
            "filesystem": {"rootdirectory": str(root / "data")},
            "delete": {"enabled": True},
        },
        "http": {"addr": address},
    }
    if htpasswd is not None:
        (root / "htpasswd").write_text(htpasswd)
        config["auth"] = {"htpasswd": {"realm": "empire-test", "path": str(root / "htpasswd")}}
    # JSON is YAML, and needs no yaml import here.
    (root / "config.yml").write_text(json.dumps(config))
    log = (root / "registry.log").open("wb")
    process = subprocess.Popen(
        [REGISTRY_BINARY, "serve", str(root / "config.yml")], stdout=log, stderr=log
    )
    try:
        _wait_for_registry(address, process, root / "registry.log")
        if htpasswd is None:
            yield Registry(address=address)
        else:
            yield Registry(address=address, username=REGISTRY_USER, password=REGISTRY_PASSWORD)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def _wait_for_registry(address: str, process: subprocess.Popen[bytes], log: Path) -> None:
    def answers() -> bool:
        if process.poll() is not None:
            pytest.fail(f"docker-registry exited ({process.returncode}): {log.read_text()}")
        try:
            with urllib.request.urlopen(f"http://{address}/v2/", timeout=1):
                return True
        except urllib.error.HTTPError as e:
            return e.code == 401  # up, and asking for the credentials it was configured with
        except OSError:
            return False

    wait_for(answers, 15, f"docker-registry on {address}", interval=0.05, detail=log.read_text)


# -- The Docker scheduler (tests/integration/test_scheduler_docker*.py) -----------------------
# A unique bridge network per test, cleaned up with every container the scheduler labelled with
# it; a router that records what it is told; manifests built by the real `manifest.build`.


class RecordingRouter:
    """A Router that keeps the table in memory and records every call with its time.

    It has no resolver, so containers carry the legacy network aliases; `upstreams` maps a
    route's web instances to their ports published on 127.0.0.1, for tests to reach them.
    """

    drain = 0.3

    def __init__(self, client: docker.DockerClient, resolver: str | None = None) -> None:
        import threading

        self.client = client
        self.table: dict[str, object] = {}
        self.calls: list[tuple[float, str, object]] = []  # (time.time(), verb, route or app id)
        self._resolver = resolver
        self._lock = threading.Lock()

    def route(self, route: object) -> None:
        with self._lock:
            if route.empty:  # type: ignore[attr-defined]
                self.table.pop(route.app_id, None)  # type: ignore[attr-defined]
            else:
                self.table[route.app_id] = route  # type: ignore[attr-defined]
            self.calls.append((time.time(), "route", route))

    def remove(self, app_id: str) -> None:
        with self._lock:
            self.table.pop(app_id, None)
            self.calls.append((time.time(), "remove", app_id))

    def routes(self) -> list[object]:
        with self._lock:
            return list(self.table.values())

    def current(self, app_id: str) -> object | None:
        with self._lock:
            return self.table.get(app_id)

    def resolver(self) -> str | None:
        return self._resolver

    def join(self, network: str) -> str | None:
        with self._lock:
            self.calls.append((time.time(), "join", network))
        return self._resolver

    def leave(self, network: str) -> None:
        with self._lock:
            self.calls.append((time.time(), "leave", network))

    def ensure(self) -> bool:
        return False

    def start(self) -> None:
        pass

    def close(self) -> None:
        pass

    def status(self) -> dict[str, object]:
        return {"router": "recording"}

    def hosts(self, app_id: str, process: str = "web") -> tuple[str, ...]:
        """The container names the app's route sends `process`'s requests to."""
        route = self.current(app_id)
        if route is None:
            return ()
        return tuple(e.host for e in route.endpoints(process))  # type: ignore[attr-defined]

    def upstreams(self, app_id: str, process: str = "web") -> tuple[str, ...]:
        """`127.0.0.1:<port>` of each instance of the route: where its first port is published."""
        found = []
        for host in self.hosts(app_id, process):
            ports = self.client.api.inspect_container(host)["NetworkSettings"]["Ports"]
            bindings = next(iter(b for b in ports.values() if b), [])
            found.append(f"127.0.0.1:{bindings[0]['HostPort']}")
        return tuple(found)


@pytest.fixture
def docker_network(docker_client: docker.DockerClient) -> Iterator[str]:
    """A network name no other test uses; its containers and the network go at teardown."""
    name = unique("empire-test-net")
    yield name
    for container in docker_client.containers.list(
        all=True, filters={"label": f"empire.network={name}"}, ignore_removed=True
    ):
        with contextlib.suppress(docker.errors.APIError):
            container.remove(force=True)
    for network in docker_client.networks.list(names=[name]):
        if network.name == name:
            with contextlib.suppress(docker.errors.APIError):
                network.remove()


@pytest.fixture
def recording_router(docker_client: docker.DockerClient) -> RecordingRouter:
    return RecordingRouter(docker_client)


@pytest.fixture
def docker_scheduler(
    docker_client: docker.DockerClient, docker_network: str, recording_router: RecordingRouter
) -> Iterator[Callable[..., object]]:
    """Make DockerSchedulers on the test's network and router (keyword overrides allowed)."""
    from empire.scheduler.docker import DockerScheduler

    made: list[DockerScheduler] = []

    def make(**options: object) -> DockerScheduler:
        settings: dict[str, object] = {
            "network": docker_network,
            "health_timeout": 20.0,
            "min_running": 1.0,
            "drain": 0.3,
        }
        settings.update(options)
        scheduler = DockerScheduler(docker_client, recording_router, **settings)  # type: ignore[arg-type]
        made.append(scheduler)
        return scheduler

    yield make
    for scheduler in made:
        scheduler.close()


@pytest.fixture
def make_manifest(busybox_base: BuiltImage) -> Callable[..., object]:
    """Build a Manifest with `empire.manifest.build` from a formation of `model.Process`es."""
    import dataclasses
    from datetime import UTC, datetime

    from empire import manifest as manifests
    from empire.model import App, Config, Exposure, Release, Slug

    def make(
        app: App,
        version: int,
        formation: dict[str, object],
        *,
        domains: tuple[str, ...] = (),
        config: dict[str, str] | None = None,
        image: str | None = None,
    ) -> object:
        now = datetime.now(UTC)
        release = Release(
            id=f"{app.id}-v{version}",
            app_id=app.id,
            app_name=app.name,
            version=version,
            slug=Slug(id=f"slug-{version}", image=image or busybox_base.tag, procfile=b""),
            config=Config(id=f"config-{version}", app_id=app.id, vars=config or {}, created_at=now),
            formation=formation,  # type: ignore[arg-type]
            description=f"v{version}",
            created_at=now,
            updated_at=now,
        )
        exposure = Exposure.PUBLIC if domains else Exposure.PRIVATE  # as adding one does
        return manifests.build(dataclasses.replace(app, exposure=exposure), release, domains)

    return make
