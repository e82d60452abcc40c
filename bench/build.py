"""Builds from source, against building and deploying by hand, in one run.

    .venv/bin/python bench/build.py [ROUNDS]

Starts `empire server` (Docker scheduler, its router container) on free loopback ports and
measures, for a tiny app (FROM scratch + the static busybox, httpd serving a version file):
- `git push` to Empire → the router serves the new version (Empire builds and deploys);
- by hand: `docker build` of the same directory + `emp deploy IMAGE` → serving;
each with a warm cache (only the last step changes: a new version file) and a cold one (a new
first step: every step after it runs again). Medians of ROUNDS (default 3) rounds, and the
ratio push / by hand (target ≤ 1.3).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import docker
import docker.errors
import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from support.server import EmpireServer  # noqa: E402
from support.services import free_port  # noqa: E402

EMP = Path(sys.executable).parent / "emp"
PROCFILE = 'web: sh -c "cp /app/version.txt /www/index.html; exec httpd -f -p $PORT -h /www"\n'


def dockerfile(nonce: str) -> str:
    return (
        "FROM scratch\nCOPY busybox /bin/busybox\n"
        'RUN ["/bin/busybox", "--install", "-s", "/bin"]\n'
        f"RUN mkdir -p /www /tmp && echo {nonce} > /nonce\n"
        "WORKDIR /app\nCOPY Procfile Procfile\nCOPY version.txt version.txt\n"
    )


def serving(router: str, host: str, version: str, deadline: float = 120) -> None:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        with contextlib.suppress(httpx.HTTPError):
            response = httpx.get(f"http://{router}/", headers={"Host": host}, timeout=2)
            if response.status_code == 200 and response.text.strip() == version:
                return
        time.sleep(0.02)
    raise RuntimeError(f"{host} never served {version}")


def run(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args[:3])} failed: {done.stderr[-2000:]}")
    return done.stdout


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    client = docker.from_env()
    work = Path(tempfile.mkdtemp(prefix="empire-bench-build-"))
    network = f"empire-bb-{uuid.uuid4().hex[:8]}"
    router = f"127.0.0.1:{free_port()}"
    server = EmpireServer(
        work / "empire",
        env={
            "EMPIRE_SCHEDULER": "docker",
            "EMPIRE_IMAGES": "docker",
            "EMPIRE_ROUTER_CONTAINER": f"{network}-router",
            "EMPIRE_ROUTER_LISTEN": router,
            "EMPIRE_ROUTER_TLS_LISTEN": f"127.0.0.1:{free_port()}",
            "EMPIRE_DOCKER_NETWORK": network,
            "EMPIRE_LOG_LEVEL": "warning",
        },
    )
    server.data_dir.mkdir(parents=True)
    token = server.create_user("bench")
    server.start()
    api = httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"})
    netrc = work / "netrc"
    netrc.write_text(f"machine 127.0.0.1:{server.port}\n login bench\n password {token}\n")
    netrc.chmod(0o600)
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(work),
        "EMPIRE_API_URL": server.url,
        "NETRC_PATH": str(netrc),
        "GIT_AUTHOR_NAME": "bench",
        "GIT_AUTHOR_EMAIL": "b@example.com",
        "GIT_COMMITTER_NAME": "bench",
        "GIT_COMMITTER_EMAIL": "b@example.com",
        **({"PYTHONPATH": os.environ["PYTHONPATH"]} if "PYTHONPATH" in os.environ else {}),
    }
    suffix = uuid.uuid4().hex[:6]
    pushed, manual = f"bpush-{suffix}", f"bhand-{suffix}"
    for app in (pushed, manual):
        api.post("/apps", json={"name": app}).raise_for_status()
        api.post(f"/apps/{app}/domains", json={"hostname": f"{app}.bench"}).raise_for_status()
    sources = {}
    for app in (pushed, manual):
        directory = work / app
        directory.mkdir()
        shutil.copy2("/usr/bin/busybox", directory / "busybox")
        (directory / "Procfile").write_text(PROCFILE)
        sources[app] = directory
    repo = sources[pushed]
    run("git", "init", "-q", "-b", "main", cwd=repo, env=env)
    remote = f"http://bench:{token}@127.0.0.1:{server.port}/{pushed}.git"
    figures: dict[str, list[float]] = {}
    counter = 0

    def step(kind: str, nonce: str) -> None:
        nonlocal counter
        counter += 1
        version = f"{kind}-{counter}"
        for app, directory in sources.items():  # own layers per app: no cache shared
            (directory / "Dockerfile").write_text(dockerfile(f"{nonce}-{app}"))
            (directory / "version.txt").write_text(version + "\n")
        run("git", "add", "-A", cwd=repo, env=env)
        run("git", "commit", "-qm", version, cwd=repo, env=env)

        def by_push() -> None:
            run("git", "push", "-q", remote, "main", cwd=repo, env=env)
            serving(router, f"{pushed}.bench", version)

        def by_hand() -> None:
            tag = f"{manual}:{version}"
            run("docker", "build", "-q", "-t", tag, str(sources[manual]), env=env)
            run(str(EMP), "deploy", "-a", manual, tag, env=env)
            serving(router, f"{manual}.bench", version)

        order: list[tuple[str, Callable[[], None]]] = [("push", by_push), ("hand", by_hand)]
        if counter % 2:
            order.reverse()  # neither path always goes first
        for name, fn in order:
            started = time.monotonic()
            fn()
            figures.setdefault(f"{kind} {name}", []).append(time.monotonic() - started)

    try:
        step("first", uuid.uuid4().hex)  # both apps' first release, the base layers: not counted
        figures.clear()
        for _ in range(rounds):
            step("warm", "fixed")
        for _ in range(rounds):
            step("cold", uuid.uuid4().hex)
        print(f"build → serving, median of {rounds} rounds (seconds):")
        for kind in ("warm", "cold"):
            push = statistics.median(figures[f"{kind} push"])
            hand = statistics.median(figures[f"{kind} hand"])
            print(
                f"  {kind} cache: git push {push:6.2f}   docker build + emp deploy {hand:6.2f}"
                f"   ratio {push / hand:4.2f} (target ≤ 1.3)"
            )
    finally:
        for app in (pushed, manual):
            with contextlib.suppress(httpx.HTTPError):
                api.delete(f"/apps/{app}")
        api.close()
        server.stop()
        for container in client.containers.list(
            all=True, filters={"label": f"empire.network={network}"}
        ):
            container.remove(force=True)
        for app in (pushed, manual):
            for image in client.api.images(name=app):
                for tag in image.get("RepoTags") or ():
                    with contextlib.suppress(docker.errors.APIError):
                        client.api.remove_image(tag, force=True)
        for net in client.networks.list(names=[network]):
            net.remove()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
