"""A real Prometheus (Debian's `prometheus`) for the tests that scrape Empire.

    with Prometheus(tmp_path, target="127.0.0.1:8080", token="...") as prom:
        prom.query('empire_process_running{app="acme"}')

It runs with a config and a data directory of its own, on a free loopback port, scraping one
target every second; it is stopped with SIGTERM and a wait. Only the v1 query API is used,
which Prometheus 2.x and 3.x both serve.
"""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import httpx

from support.services import ServiceError, free_port
from support.waiting import wait_for


def prometheus_binary() -> str | None:
    return shutil.which("prometheus")


def prometheus_version(binary: str) -> tuple[int, ...]:
    """The version `prometheus --version` prints, e.g. (2, 42, 0)."""
    text = subprocess.run(
        [binary, "--version"], capture_output=True, text=True, timeout=30, check=False
    )
    found = re.search(r"version (\d+)\.(\d+)\.(\d+)", text.stdout + text.stderr)
    if found is None:
        raise ServiceError(f"cannot read the version of {binary}: {text.stdout}{text.stderr}")
    return tuple(int(part) for part in found.groups())


class Prometheus:
    def __init__(self, root: Path, *, target: str, token: str | None = None) -> None:
        binary = prometheus_binary()
        if binary is None:
            raise ServiceError("prometheus is missing: apt-get install prometheus")
        self.binary = binary
        self.version = prometheus_version(binary)
        self.root = root
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.target = target
        self.token = token
        self.log_path = root / "prometheus.log"
        self.process: subprocess.Popen[bytes] | None = None

    def config(self) -> str:
        auth = (
            f"    authorization:\n      type: Bearer\n      credentials: {self.token}\n"
            if self.token
            else ""
        )
        return (
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
            "scrape_configs:\n"
            "  - job_name: empire\n"
            "    metrics_path: /metrics\n"
            f"{auth}"
            "    static_configs:\n"
            f"      - targets: ['{self.target}']\n"
        )

    def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        config = self.root / "prometheus.yml"
        config.write_text(self.config())
        data = self.root / "data"
        data.mkdir(exist_ok=True)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    self.binary,
                    f"--config.file={config}",
                    f"--storage.tsdb.path={data}",
                    f"--web.listen-address=127.0.0.1:{self.port}",
                ],
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        process = self.process

        def ready() -> bool:
            if process.poll() is not None:
                raise ServiceError(f"prometheus exited: {self.log_tail()}")
            return httpx.get(f"{self.url}/-/ready", timeout=1).status_code == 200

        wait_for(ready, 60, "prometheus to be ready", ignore=(httpx.HTTPError,))

    def query(self, promql: str) -> list[dict[str, Any]]:
        """An instant query's result vector."""
        response = httpx.get(f"{self.url}/api/v1/query", params={"query": promql}, timeout=5)
        response.raise_for_status()
        body = response.json()
        assert body["status"] == "success", body
        result: list[dict[str, Any]] = body["data"]["result"]
        return result

    def targets(self) -> list[dict[str, Any]]:
        response = httpx.get(f"{self.url}/api/v1/targets", timeout=5)
        response.raise_for_status()
        active: list[dict[str, Any]] = response.json()["data"]["activeTargets"]
        return active

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)

    def log_tail(self, lines: int = 30) -> str:
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
