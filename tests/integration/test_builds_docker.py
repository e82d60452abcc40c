"""Builds from source for real: the real `git` client pushing to `empire server`, `emp deploy
DIR`, the Docker engine's classic builder, the router serving what was built.

Every app's source is a Dockerfile `FROM scratch` plus the static busybox, as the other tests
build their images; the images a build tags (`<app>:<version>`) are removed at the end, with
the apps' containers and the network.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import docker.errors
import httpx
import pytest

from support.server import EmpireServer, docker_env, remove_network
from support.services import free_port
from support.waiting import wait_for

BUSYBOX = Path("/usr/bin/busybox")
EMP = Path(sys.executable).parent / "emp"
TIMEOUT = 25  # EMPIRE_BUILD_TIMEOUT of the server: a tiny build takes a few seconds
MAX_SOURCE = 8_000_000  # EMPIRE_BUILD_MAX_SOURCE of the server
WEB = (
    b'web: sh -c "echo $EMPIRE_RELEASE-$GREETING > /www/index.html; '
    b'exec httpd -f -p $PORT -h /www"\n'
)
DOCKERFILE = (
    "FROM scratch\nCOPY busybox /bin/busybox\n"
    'RUN ["/bin/busybox", "--install", "-s", "/bin"]\n'
    "RUN mkdir -p /www /tmp\nWORKDIR /app\nCOPY Procfile Procfile\n"
)


@dataclass
class Stack:
    server: EmpireServer
    api: httpx.Client
    router: str
    tokens: dict[str, str]
    home: Path

    def create(self, greeting: str = "hello") -> str:
        app = f"b{uuid.uuid4().hex[:8]}"
        assert self.api.post("/apps", json={"name": app}).status_code == 201
        self.api.patch(f"/apps/{app}/config-vars", json={"GREETING": greeting})
        self.api.post(f"/apps/{app}/domains", json={"hostname": f"{app}.test"})
        return app

    def remote(self, app: str, who: str = "alice", token: str | None = None) -> str:
        secret = token if token is not None else self.tokens[who]
        return f"http://{who}:{secret}@127.0.0.1:{self.server.port}/{app}.git"

    def git(self, repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
        env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": str(self.home),
            "GIT_TERMINAL_PROMPT": "0",
            "GIT_AUTHOR_NAME": "Test",
            "GIT_AUTHOR_EMAIL": "t@example.com",
            "GIT_COMMITTER_NAME": "Test",
            "GIT_COMMITTER_EMAIL": "t@example.com",
        }
        return subprocess.run(
            ["git", "-C", str(repo), *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )

    def releases(self, app: str) -> list[dict[str, Any]]:
        return list(self.api.get(f"/apps/{app}/releases").json())

    def builds(self, app: str) -> list[dict[str, Any]]:
        return list(self.api.get(f"/apps/{app}/builds").json())

    def serves(self, app: str) -> str:
        def body() -> str | None:
            with contextlib.suppress(httpx.HTTPError):
                response = httpx.get(f"http://{self.router}/", headers={"Host": f"{app}.test"})
                if response.status_code == 200:
                    return response.text.strip()
            return None

        return wait_for(body, timeout=30, what=f"{app} to serve")


@pytest.fixture(scope="module")
def stack(
    tmp_path_factory: pytest.TempPathFactory, docker_client: docker.DockerClient
) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("builds")
    network = f"empire-it-{uuid.uuid4().hex[:8]}"
    router = f"127.0.0.1:{free_port()}"
    server = EmpireServer(
        tmp / "empire",
        env=docker_env(
            network,
            router,
            EMPIRE_RECONCILE_INTERVAL="2",
            EMPIRE_HEALTH_TIMEOUT="20",
            EMPIRE_STOP_TIMEOUT="3",
            EMPIRE_BUILD_TIMEOUT=str(TIMEOUT),
            EMPIRE_BUILD_MAX_SOURCE=str(MAX_SOURCE),
        ),
    )
    server.data_dir.mkdir(parents=True)
    tokens = {"alice": server.create_user("alice")}
    tokens["vera"] = server.create_user("vera", admin=False)
    server.start()
    api = httpx.Client(
        base_url=server.url, headers={"Authorization": f"Bearer {tokens['alice']}"}, timeout=60
    )
    home = tmp / "home"
    home.mkdir()
    made: list[str] = []
    try:
        yield Stack(server, api, router, tokens, home)
    finally:
        made = [app["name"] for app in api.get("/apps").json()]
        for app in made:
            api.delete(f"/apps/{app}")
        api.close()
        server.stop()
        remove_network(docker_client, network)
        remove_images(docker_client, made)


def remove_images(client: docker.DockerClient, names: list[str]) -> None:
    """Remove every tag of these repositories (by tag: two apps' builds of the same source
    are one image, which another test's container may still use)."""
    for name in names:
        for image in client.api.images(name=name):
            for tag in image.get("RepoTags") or ():
                if tag.rpartition(":")[0] == name:
                    with contextlib.suppress(docker.errors.APIError):
                        client.api.remove_image(tag, force=True)


def source(directory: Path, dockerfile: str = DOCKERFILE, procfile: bytes = WEB) -> Path:
    directory.mkdir(parents=True)
    shutil.copy(BUSYBOX, directory / "busybox")
    (directory / "Dockerfile").write_text(dockerfile)
    (directory / "Procfile").write_bytes(procfile)
    return directory


def repository(stack: Stack, directory: Path, message: str = "First version") -> Path:
    assert stack.git(directory, "init", "-q", "-b", "main").returncode == 0
    assert stack.git(directory, "add", "-A").returncode == 0
    assert stack.git(directory, "commit", "-q", "-m", message).returncode == 0
    return directory


def head(stack: Stack, repo: Path) -> str:
    return stack.git(repo, "rev-parse", "HEAD").stdout.strip()


def tagged(client: docker.DockerClient, tag: str) -> bool:
    try:
        client.api.inspect_image(tag)
    except docker.errors.ImageNotFound:
        return False
    return True


def test_a_push_to_main_builds_deploys_and_serves_the_commit(
    stack: Stack, tmp_path: Path, docker_client: docker.DockerClient
) -> None:
    app = stack.create(greeting="built")
    repo = repository(stack, source(tmp_path / "src"), "Serve a greeting")
    push = stack.git(repo, "push", stack.remote(app), "main")
    assert push.returncode == 0, push.stderr
    commit = head(stack, repo)
    assert "remote: Step 1/6 : FROM scratch" in push.stderr, push.stderr
    assert f"remote: Deployed {commit[:7]}" in push.stderr
    assert stack.serves(app) == "v1-built"
    release = stack.releases(app)[-1]
    assert release["description"] == f"Deploy {commit[:7]}: Serve a greeting (alice)"
    (build,) = stack.builds(app)
    assert build["status"] == "succeeded"
    assert build["source_blob"]["version"] == commit
    assert build["release"]["version"] == 1
    assert tagged(docker_client, f"{app}:{commit[:7]}")
    output = stack.api.get(build["output_stream_url"]).text
    assert "Successfully tagged" in output

    # Another push: a new commit, a new release, the app serves it.
    (repo / "Procfile").write_bytes(WEB.replace(b"GREETING", b"GREETING-2"))
    assert stack.git(repo, "commit", "-qam", "Second").returncode == 0
    push = stack.git(repo, "push", stack.remote(app), "main")
    assert push.returncode == 0, push.stderr
    assert stack.serves(app) == "v2-built-2"


def test_a_broken_dockerfile_fails_the_push_and_makes_no_release(
    stack: Stack, tmp_path: Path, docker_client: docker.DockerClient
) -> None:
    app = stack.create()
    broken = DOCKERFILE + "RUN exit 3\n"
    repo = repository(stack, source(tmp_path / "src", broken))
    push = stack.git(repo, "push", stack.remote(app), "main")
    assert push.returncode != 0
    assert "remote: ERROR: the build failed: The command" in push.stderr
    assert "pre-receive hook declined" in push.stderr
    assert stack.releases(app) == []
    (build,) = stack.builds(app)
    assert build["status"] == "failed" and build["release"] is None
    assert not tagged(docker_client, f"{app}:{head(stack, repo)[:7]}")
    # Nothing moved: the repository has no main.
    listed = stack.git(repo, "ls-remote", stack.remote(app))
    assert "refs/heads/main" not in listed.stdout


def test_a_wrong_token_and_a_viewers_token_are_refused(stack: Stack, tmp_path: Path) -> None:
    app = stack.create()
    repo = repository(stack, source(tmp_path / "src"))
    wrong = stack.git(repo, "push", stack.remote(app, token="not-a-token"), "main")
    assert wrong.returncode != 0
    assert "Authentication failed" in wrong.stderr or "401" in wrong.stderr, wrong.stderr
    stack.api.post(f"/apps/{app}/collaborators", json={"user": "vera", "role": "viewer"})
    viewer = stack.git(repo, "push", stack.remote(app, "vera"), "main")
    assert viewer.returncode != 0
    assert "403" in viewer.stderr, viewer.stderr
    assert stack.builds(app) == [] and stack.releases(app) == []


def test_a_push_to_another_branch_is_refused_saying_so(stack: Stack, tmp_path: Path) -> None:
    app = stack.create()
    repo = repository(stack, source(tmp_path / "src"))
    push = stack.git(repo, "push", stack.remote(app), "main:feature")
    assert push.returncode != 0
    assert "Empire builds and deploys only main or master: refs/heads/feature" in push.stderr
    assert stack.builds(app) == []


def test_a_build_past_the_timeout_is_stopped(stack: Stack, tmp_path: Path) -> None:
    app = stack.create()
    slow = DOCKERFILE + f"RUN sleep {TIMEOUT * 4}\n"
    repo = repository(stack, source(tmp_path / "src", slow))
    push = stack.git(repo, "push", stack.remote(app), "main")
    assert push.returncode != 0
    assert f"took longer than {TIMEOUT} s" in push.stderr, push.stderr
    (build,) = stack.builds(app)
    assert build["status"] == "failed"
    assert stack.releases(app) == []


def test_no_config_var_reaches_the_build(stack: Stack, tmp_path: Path) -> None:
    app = stack.create()
    stack.api.patch(f"/apps/{app}/config-vars", json={"SECRET_TOKEN": "s3cr3t-v4lue"})
    printing = DOCKERFILE + "RUN env\n"
    repo = repository(stack, source(tmp_path / "src", printing))
    push = stack.git(repo, "push", stack.remote(app), "main")
    assert push.returncode == 0, push.stderr
    assert "PATH=" in push.stderr  # the step's environment was printed
    assert "s3cr3t-v4lue" not in push.stderr and "SECRET_TOKEN" not in push.stderr
    assert "EMPIRE_" not in push.stderr.replace("EMPIRE_RELEASE", "")


def test_emp_deploy_dir_builds_and_releases_less_dockerignored_files(
    stack: Stack, tmp_path: Path
) -> None:
    app = stack.create(greeting="from-dir")
    directory = source(tmp_path / "src")
    (directory / ".dockerignore").write_text("secrets/\n*.log\n")
    (directory / "secrets").mkdir()
    (directory / "secrets" / "key").write_text("private")
    (directory / "debug.log").write_text("x")
    netrc = tmp_path / "netrc"
    netrc.write_text(
        f"machine 127.0.0.1:{stack.server.port}\n login alice\n password {stack.tokens['alice']}\n"
    )
    netrc.chmod(0o600)
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "EMPIRE_API_URL": stack.server.url,
        "NETRC_PATH": str(netrc),
        **({"PYTHONPATH": os.environ["PYTHONPATH"]} if "PYTHONPATH" in os.environ else {}),
    }
    done = subprocess.run(
        [str(EMP), "deploy", "-a", app, str(directory)],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stderr + done.stdout
    assert f"Release v1 of {app} succeeded" in done.stdout
    assert stack.serves(app) == "v1-from-dir"
    (build,) = stack.builds(app)
    assert build["status"] == "succeeded"
    assert stack.releases(app)[-1]["description"].startswith(f"Deploy build {build['id'][:8]}")

    # A broken directory: non-zero, saying why, no new release.
    (directory / "Dockerfile").write_text(DOCKERFILE + "RUN exit 4\n")
    failed = subprocess.run(
        [str(EMP), "deploy", "-a", app, str(directory)],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert failed.returncode != 0
    assert "the build failed" in failed.stderr, failed.stderr
    assert len(stack.releases(app)) == 1
    listed = subprocess.run(
        [str(EMP), "builds", "-a", app], env=env, capture_output=True, text=True, check=False
    )
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.splitlines()[0].split()[1] == "failed"
    assert (
        json.loads(
            subprocess.run(
                [str(EMP), "builds", "-a", app, "--json"], env=env, capture_output=True, check=True
            ).stdout
        )[1]["status"]
        == "succeeded"
    )


def test_with_a_registry_the_build_is_pushed_and_deployed_by_digest(
    tmp_path: Path, docker_client: docker.DockerClient, local_registry: Any
) -> None:
    network = f"empire-it-{uuid.uuid4().hex[:8]}"
    server = EmpireServer(
        tmp_path / "empire",
        env={
            "EMPIRE_SCHEDULER": "docker",
            "EMPIRE_IMAGES": "docker",
            "EMPIRE_ROUTER": "none",
            "EMPIRE_DOCKER_NETWORK": network,
            "EMPIRE_HEALTH_TIMEOUT": "20",
            "EMPIRE_REGISTRY": local_registry.address,
            "EMPIRE_ALLOW_LOCAL_REGISTRIES": "true",
        },
    )
    server.data_dir.mkdir(parents=True)
    token = server.create_user("alice")
    server.start()
    api = httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"})
    app = f"r{uuid.uuid4().hex[:8]}"
    repository_name = f"{local_registry.address}/{app}"
    try:
        assert api.post("/apps", json={"name": app}).status_code == 201
        stack = Stack(server, api, "", {"alice": token}, tmp_path)
        repo = repository(stack, source(tmp_path / "src"), "Pushed")
        push = stack.git(repo, "push", stack.remote(app), "main")
        assert push.returncode == 0, push.stderr
        assert f"remote: Pushing {repository_name}:" in push.stderr
        (build,) = stack.builds(app)
        reference = build["image"]
        assert reference.startswith(f"{repository_name}@sha256:")
        digest = reference.rpartition("@")[2]
        manifest = httpx.head(
            f"http://{local_registry.address}/v2/{app}/manifests/{digest}",
            headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json"},
        )
        assert manifest.status_code == 200
        release = stack.releases(app)[-1]
        assert release["description"].startswith(f"Deploy {head(stack, repo)[:7]}: Pushed")
        assert api.get(f"/apps/{app}/releases/1").json()["status"] == "succeeded"
    finally:
        api.delete(f"/apps/{app}")
        api.close()
        server.stop()
        for container in docker_client.containers.list(
            all=True, filters={"label": f"empire.network={network}"}
        ):
            container.remove(force=True)
        remove_images(docker_client, [app, repository_name])
        for net in docker_client.networks.list(names=[network]):
            net.remove()


def test_pushes_of_hostile_or_unbuildable_sources_are_refused_saying_why(
    stack: Stack, tmp_path: Path
) -> None:
    app = stack.create()
    leaking = source(tmp_path / "leak")
    (leaking / "passwd").symlink_to("/etc/passwd")
    repo = repository(stack, leaking)
    push = stack.git(repo, "push", stack.remote(app), "main")
    assert push.returncode != 0
    assert "remote: ERROR: 'passwd' is a symlink to an absolute path ('/etc/passwd')" in (
        push.stderr
    ), push.stderr
    bare = tmp_path / "bare"
    bare.mkdir()
    (bare / "app.py").write_text("print('hi')\n")
    repo = repository(stack, bare)
    push = stack.git(repo, "push", stack.remote(app), "main")
    assert push.returncode != 0
    assert "remote: ERROR: no Dockerfile at the root of the build source" in push.stderr
    assert stack.builds(app) == [] and stack.releases(app) == []


def test_a_small_push_that_unpacks_past_the_cap_is_refused_before_it_fills_memory(
    stack: Stack, tmp_path: Path
) -> None:
    """20 MB of zeros packs to a few KB: the hook stops `git archive` at the cap."""
    app = stack.create()
    bomb = source(tmp_path / "bomb")
    (bomb / "zeros").write_bytes(bytes(20_000_000))
    repo = repository(stack, bomb)
    push = stack.git(repo, "push", stack.remote(app), "main")
    assert push.returncode != 0
    assert f"is over {MAX_SOURCE} bytes unpacked (EMPIRE_BUILD_MAX_SOURCE)" in push.stderr
    assert stack.builds(app) == [] and stack.releases(app) == []


def test_a_huge_binary_build_log_is_escaped_and_cut(stack: Stack, tmp_path: Path) -> None:
    app = stack.create(greeting="noisy")
    noisy = DOCKERFILE + "RUN cat /bin/busybox /bin/busybox\n"  # 4 MB of binary output
    repo = repository(stack, source(tmp_path / "src", noisy))
    push = stack.git(repo, "push", stack.remote(app), "main")
    assert push.returncode == 0, push.stderr[-2000:]
    assert "[... build output cut: more than 1048576 characters ...]" in push.stderr
    assert "\x00" not in push.stderr and "\x1b" not in push.stderr
    assert stack.serves(app) == "v1-noisy"
    (build,) = stack.builds(app)
    assert len(build_output := stack.api.get(build["output_stream_url"]).text) < 1_200_000
    assert "build output cut" in build_output
