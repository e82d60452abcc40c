"""`emp run` attached, for real: the `emp` console script, a real `empire server` on the Docker
engine (no router), busybox containers; stdin, stdout, stderr, a TTY through a pty, the exit
code, and nothing left behind when the client goes away.
"""

from __future__ import annotations

import fcntl
import os
import signal
import struct
import subprocess
import sys
import termios
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import httpx
import pytest

from empire.model import App, Process, Size
from empire.scheduler.kit import attach as attached
from support.server import EmpireServer
from support.waiting import read_until, wait_for

EMP = Path(sys.executable).parent / "emp"
# exec argv[1:] with SIGINT as a terminal gives it (the same process: signals reach it).
AS_FROM_A_TERMINAL = (
    "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "
    "os.execv(sys.argv[1], sys.argv[1:])"
)
PROCFILE = b"worker: sleep 100000\n"  # scaled to 0: a deploy starts nothing


@dataclass
class Stack:
    server: EmpireServer
    api: httpx.Client
    network: str
    env: dict[str, str]  # emp's environment

    def deploy(self, image: str) -> str:
        """Deploy `image` and return the app's name."""
        with self.api.stream("POST", "/deploys", json={"image": image}, timeout=120) as response:
            assert response.status_code == 200, response.read()
            lines = [line for line in response.iter_lines() if line]
        assert "succeeded" in lines[-1], lines
        return image.split(":")[0]

    def emp(self, *args: str, **kwargs: Any) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            [str(EMP), *args], env=self.env, capture_output=True, timeout=120, check=False, **kwargs
        )


@pytest.fixture
def stack(tmp_path: Path, docker_client: docker.DockerClient) -> Iterator[Stack]:
    network = f"empire-it-{uuid.uuid4().hex[:8]}"
    server = EmpireServer(
        tmp_path / "empire",
        env={
            "EMPIRE_SCHEDULER": "docker",
            "EMPIRE_IMAGES": "docker",
            "EMPIRE_ROUTER": "none",
            "EMPIRE_DOCKER_NETWORK": network,
            "EMPIRE_RECONCILE_INTERVAL": "1",
            "EMPIRE_HEALTH_TIMEOUT": "15",
        },
    )
    server.data_dir.mkdir(parents=True)
    token = server.create_user("alice")
    server.start()
    netrc = tmp_path / "netrc"
    netrc.write_text(f"machine 127.0.0.1:{server.port}\n  login alice\n  password {token}\n")
    netrc.chmod(0o600)
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "EMPIRE_API_URL": server.url,
        "NETRC_PATH": str(netrc),
    }
    api = httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"})
    try:
        yield Stack(server, api, network, env)
    finally:
        api.close()
        server.stop()
        for container in docker_client.containers.list(
            all=True, filters={"label": f"empire.network={network}"}
        ):
            container.remove(force=True)
        for net in docker_client.networks.list(names=[network]):
            net.remove()


def containers_of(client: docker.DockerClient, app: str) -> list[dict[str, Any]]:
    """The engine's list entries of the app's containers (no inspect: they come and go)."""
    return list(client.api.containers(all=True, filters={"label": f"empire.app={app}"}))


def test_stdin_stdout_stderr_and_the_exit_code_without_a_tty(
    stack: Stack, busybox_image, docker_client: docker.DockerClient
) -> None:
    app = stack.deploy(busybox_image(workdir="/app", procfile=PROCFILE).tag)
    script = "read x; echo got $x; echo err >&2; exit 7"
    result = stack.emp("run", "-a", app, "sh", "-c", script, input=b"hello\n")
    assert (result.returncode, result.stdout, result.stderr) == (7, b"got hello\n", b"err\n")

    # Piped stdin to its end (cat needs the end of file), and no stdin at all.
    data = bytes(range(256)) * 64
    piped = stack.emp("run", "-a", app, "cat", input=data)
    assert (piped.returncode, piped.stdout, piped.stderr) == (0, data, b"")
    null = stack.emp(
        "run", "-a", app, "--", "sh", "-c", "cat; echo $TERM-done", stdin=subprocess.DEVNULL
    )
    assert (null.returncode, null.stderr) == (0, b"")
    assert null.stdout.endswith(b"-done\n")

    wait_for(lambda: containers_of(docker_client, app) == [])
    runs = [e for e in stack.api.get(f"/apps/{app}/dynos").json() if ".run." in e["name"]]
    assert runs == []


def test_a_tty_through_a_pty_shows_a_prompt_and_runs_what_is_typed(
    stack: Stack, busybox_image, docker_client: docker.DockerClient
) -> None:
    app = stack.deploy(busybox_image(workdir="/app", procfile=PROCFILE).tag)
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
    before = termios.tcgetattr(slave)
    process = subprocess.Popen(
        [str(EMP), "run", "-a", app, "sh"],
        stdin=slave,
        stdout=slave,
        stderr=subprocess.PIPE,
        env={**stack.env, "TERM": "xterm"},
    )
    try:
        screen = read_until(master, b"# ")  # busybox sh's prompt for root
        assert b"# " in screen, screen
        listed = stack.api.get(f"/apps/{app}/dynos").json()
        assert [d["name"] for d in listed] == ["v1.run.1"]  # in ps while it runs
        os.write(master, b"echo answer-$((6*7)); stty size; echo $TERM\r")
        screen = read_until(master, b"xterm")
        assert b"answer-42" in screen and b"30 100" in screen, screen
        os.write(master, b"exit 3\r")
        assert process.wait(timeout=30) == 3
        assert process.stderr is not None and process.stderr.read() == b""
        assert termios.tcgetattr(slave) == before
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        os.close(master)
        os.close(slave)
    wait_for(lambda: containers_of(docker_client, app) == [])


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT])
def test_a_client_that_goes_away_leaves_no_container(
    stack: Stack, busybox_image, docker_client: docker.DockerClient, sig: signal.Signals
) -> None:
    app = stack.deploy(busybox_image(workdir="/app", procfile=PROCFILE).tag)
    process = subprocess.Popen(
        # As from a terminal: ^C acts. A runner started in the background of a shell (`&`,
        # no job control) ignores SIGINT, and emp keeps an ignored SIGINT ignored.
        [sys.executable, "-c", AS_FROM_A_TERMINAL, str(EMP), "run", "-a", app, "sleep", "300"],
        stdin=subprocess.PIPE,  # kept open: the run waits on sleep, not on stdin
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=stack.env,
    )
    try:
        running = wait_for(
            lambda: [c for c in containers_of(docker_client, app) if c["State"] == "running"]
        )
        assert running[0]["Labels"]["empire.attached"] == "true"
        assert running[0]["Labels"]["empire.kind"] == "run"
        process.send_signal(sig)
        code = process.wait(timeout=30)
        assert code == (130 if sig == signal.SIGINT else -signal.SIGKILL)
        wait_for(lambda: containers_of(docker_client, app) == [])
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=30)


def test_a_reader_that_stops_reading_ends_the_run(
    stack: Stack, busybox_image, docker_client: docker.DockerClient
) -> None:
    """`emp run yes | head -n 3`: emp dies of the closed pipe mid-stream; nothing stays."""
    app = stack.deploy(busybox_image(workdir="/app", procfile=PROCFILE).tag)
    result = subprocess.run(
        ["sh", "-c", f'"{EMP}" run -a "{app}" yes </dev/null | head -n 3'],
        env=stack.env,
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert (result.returncode, result.stdout) == (0, b"y\ny\ny\n")
    wait_for(lambda: containers_of(docker_client, app) == [])


# -- the scheduler on its own ---------------------------------------------------------------

SMALL = Size(cpu_shares=128, memory=64 * 1024 * 1024, nproc=64)


def new_app() -> App:
    from datetime import UTC, datetime

    now = datetime.now(UTC)
    return App(id=str(uuid.uuid4()), name="acme-inc", created_at=now, updated_at=now)


def test_the_attached_container_and_its_end(docker_client, docker_scheduler, make_manifest):
    scheduler = docker_scheduler()
    app = new_app()
    run = Process("run", ("sh", "-c", "echo out; echo err >&2; cat; exit 5"), 1, SMALL)
    manifest = make_manifest(app, 2, {"run": run}, config={"GREETING": "hi"})

    attachment = scheduler.attach(manifest, manifest.processes[0], tty=False)

    assert attachment.name == "v2.run.1"
    attrs = docker_client.api.inspect_container(attachment.container_id)
    labels = attrs["Config"]["Labels"]
    assert (labels["empire.kind"], labels["empire.attached"]) == ("run", "true")
    assert labels["empire.app.id"] == app.id
    assert attrs["Config"]["OpenStdin"] and attrs["Config"]["StdinOnce"]
    assert attrs["Config"]["Tty"] is False
    assert attrs["HostConfig"]["AutoRemove"] is False
    assert attrs["HostConfig"]["Memory"] == SMALL.memory
    assert attrs["HostConfig"]["SecurityOpt"] == ["no-new-privileges"]
    assert "GREETING=hi" in attrs["Config"]["Env"]
    assert [t.name for t in scheduler.tasks(app.id)] == ["v2.run.1"]

    attachment.write(b"from stdin\n")
    attachment.close_stdin()
    chunks = list(attachment.output())
    assert b"".join(d for s, d in chunks if s == 1) == b"out\nfrom stdin\n"
    assert b"".join(d for s, d in chunks if s == 2) == b"err\n"
    assert attachment.wait(30) == 5
    assert [t.state for t in scheduler.tasks(app.id)] == ["exited"]  # until the caller kills
    attachment.kill()
    attachment.kill()  # idempotent
    assert scheduler.tasks(app.id) == []


def test_a_kill_ends_a_blocked_reader_and_removes_the_container(docker_scheduler, make_manifest):
    scheduler = docker_scheduler()
    app = new_app()
    manifest = make_manifest(app, 1, {"run": Process("run", ("sleep", "300"), 1, SMALL)})
    attachment = scheduler.attach(manifest, manifest.processes[0], tty=True, rows=30, cols=90)
    assert attachment.wait(0.5) is None  # still running
    chunks: list[tuple[int, bytes]] = []
    import threading

    reader = threading.Thread(target=lambda: chunks.extend(attachment.output()))
    reader.start()
    attachment.kill()
    reader.join(15)
    assert not reader.is_alive()
    assert scheduler.tasks(app.id) == []
    attachment.resize(10, 10)  # after the end: quietly nothing
    attachment.write(b"dropped")


def test_stopped_attached_containers_left_by_a_dead_server_are_reaped(
    docker_client, docker_scheduler, make_manifest, monkeypatch
):
    scheduler = docker_scheduler()
    app = new_app()
    manifest = make_manifest(app, 1, {"run": Process("run", ("true",), 1, SMALL)})
    orphan = scheduler.attach(manifest, manifest.processes[0], tty=False)
    assert orphan.wait(30) == 0  # ...and its server died before removing it
    detached = scheduler.run(manifest, manifest.processes[0])
    wait_for(lambda: [t.name for t in scheduler.tasks(app.id)] == [orphan.name])

    fresh = scheduler.attach(manifest, manifest.processes[0], tty=False)  # too recent to reap
    assert orphan.name in [t.name for t in scheduler.tasks(app.id)]
    fresh.kill()
    monkeypatch.setattr(attached, "STALE_AFTER", 0.0)
    latest = scheduler.attach(manifest, manifest.processes[0], tty=False)
    assert [t.name for t in scheduler.tasks(app.id)] == [latest.name]
    assert latest.name != orphan.name and detached.name != orphan.name
    latest.kill()
