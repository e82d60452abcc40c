"""A real `empire server` process for the tiers that test over real HTTP.

    with EmpireServer(tmp_path, env={"EMPIRE_SCHEDULER": "fake", ...}) as server:
        token = server.create_user("alice", admin=True)
        httpx.get(f"{server.url}/apps", headers={"Authorization": f"Bearer {token}"})

The server runs in its own session and is stopped with SIGTERM and a wait (nothing reaps
orphans on these machines).
"""

from __future__ import annotations

import os
import signal
import ssl
import subprocess
from pathlib import Path
from types import TracebackType
from typing import Self

import docker
import httpx

from support.services import REPO_ROOT, ServiceError, free_port
from support.waiting import wait_for

BIN = REPO_ROOT / ".venv" / "bin"


class EmpireServer:
    """`empire server` on a free loopback port with its data in `data_dir`."""

    def __init__(
        self, data_dir: Path, env: dict[str, str] | None = None, port: int | None = None
    ) -> None:
        self.data_dir = data_dir
        self.port = port or free_port()
        # With EMPIRE_TLS_CERT the server answers HTTPS only, trusted through that certificate.
        cert = (env or {}).get("EMPIRE_TLS_CERT")
        self.url = f"{'https' if cert else 'http'}://127.0.0.1:{self.port}"
        self.verify: ssl.SSLContext | bool = (
            ssl.create_default_context(cafile=cert) if cert else True
        )
        inherited = {k: v for k, v in os.environ.items() if not k.startswith("EMPIRE_")}
        self.env = {
            **inherited,
            "EMPIRE_DATA_DIR": str(data_dir),
            "EMPIRE_LOG_LEVEL": "warning",
            **(env or {}),
        }
        self.log_path = data_dir / "server.log"
        self.process: subprocess.Popen[bytes] | None = None

    def empire(self, *args: str, input: str | None = None) -> str:
        """Run an `empire` admin command with the server's settings; return its stdout.

        It runs in this process (the `empire` command's own code, with the server's environment
        and nothing else of EMPIRE_*): a new interpreter per command cost over a second. The
        server itself is the real console script.
        """
        from click.testing import CliRunner

        from empire.main import cli

        outside = {name: None for name in os.environ if name.startswith("EMPIRE_")}
        result = CliRunner().invoke(cli, list(args), input=input, env={**outside, **self.env})
        if result.exit_code != 0:
            raise ServiceError(
                f"empire {' '.join(args)} failed: {result.stderr or result.output}"
                f"{'' if result.exception is None else repr(result.exception)}"
            )
        return result.stdout

    def create_user(self, name: str, *, admin: bool = True, email: str = "") -> str:
        """Create a user and return its API token (the last line `users create` prints)."""
        args = ["users", "create", name, *(["--admin"] if admin else [])]
        if email:
            args += ["--email", email]
        return self.empire(*args).strip().splitlines()[-1]

    def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [str(BIN / "empire"), "server", "--port", str(self.port)],
                env=self.env,
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        process = self.process

        def healthy() -> bool:
            if process.poll() is not None:
                raise ServiceError(f"empire server exited: {self.log_tail()}")
            health = httpx.get(f"{self.url}/health", timeout=1, verify=self.verify)
            return health.status_code == 200

        wait_for(healthy, 60, "empire server to answer /health", ignore=(httpx.HTTPError,))

    def stop(self, sig: signal.Signals = signal.SIGTERM) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(sig)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)

    def log_tail(self, lines: int = 40) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def docker_env(network: str, router: str | None = None, **settings: str) -> dict[str, str]:
    """The settings of an `empire server` on the machine's Docker engine, on a network of its
    own: with `router` (the plain HTTP listener, `127.0.0.1:PORT`) its router container named
    after the network, without it no router. `settings` add to or override the defaults
    (`EMPIRE_HEALTH_TIMEOUT="20"`); the names are the environment's."""
    env = {
        "EMPIRE_SCHEDULER": "docker",
        "EMPIRE_IMAGES": "docker",
        "EMPIRE_DOCKER_NETWORK": network,
        "EMPIRE_RECONCILE_INTERVAL": "1",
        "EMPIRE_HEALTH_TIMEOUT": "15",
        "EMPIRE_DRAIN_SECONDS": "1",
        "EMPIRE_STOP_TIMEOUT": "5",
    }
    if router is None:
        env["EMPIRE_ROUTER"] = "none"
    else:
        env.update(
            EMPIRE_ROUTER_CONTAINER=f"{network}-router",
            EMPIRE_ROUTER_LISTEN=router,
            EMPIRE_ROUTER_TLS_LISTEN=f"127.0.0.1:{free_port()}",
        )
    return {**env, **settings}


def remove_network(docker_client: docker.DockerClient, network: str) -> None:
    """Remove what a server on `network` left on the engine: its containers (the router's
    too), then the network."""
    for container in docker_client.containers.list(
        all=True, filters={"label": f"empire.network={network}"}
    ):
        container.remove(force=True)
    for net in docker_client.networks.list(names=[network]):
        net.remove()
