"""App images for tests that need them on any engine: FROM scratch plus the static busybox.

    base = build_base(client, workdir)                    # once per engine
    tag = build_app(client, base, workdir, procfile=WEB)  # a Procfile in /app, /www made

Built with docker-py's legacy builder (no BuildKit here); every tag carries a unique
`empire-fx-<uuid8>` part so concurrent runs never share one. Nothing here imports pytest.
"""

from __future__ import annotations

import contextlib
import shutil
import uuid
from pathlib import Path

import docker
import docker.errors

BUSYBOX = Path("/usr/bin/busybox")

# The web process of the fault tests: answers `<release>-<GREETING>` on $PORT.
WEB = (
    b'web: sh -c "echo $EMPIRE_RELEASE-$GREETING > /www/index.html; '
    b'exec httpd -f -p $PORT -h /www"\n'
)
CRASH = b"web: sh -c 'echo boom; exit 3'\n"  # exits at once
MUTE = b"web: sh -c 'echo listening nowhere; exec sleep 3600'\n"  # runs, never healthy


def http_get(host: str, port: int = 80) -> str:
    """A busybox shell command printing the body of `GET http://<host>:<port>/`.

    busybox wget can crash in these containers, and nc closes its side as soon as its input
    ends, which a Go server (the router) takes for a client that went away: the request is
    written, then input stays open until the answer came (or 1 s)."""
    request = f"GET / HTTP/1.0\\r\\nHost: {host}\\r\\n\\r\\n"
    return f"(printf '{request}'; sleep 1) | nc -w 3 {host} {port} | sed '1,/^\\r*$/d'"


def unique(prefix: str = "empire-fx") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def build_base(client: docker.DockerClient, workdir: Path) -> str:
    """Build `FROM scratch` + busybox (applets installed, /www made); return its tag."""
    if not BUSYBOX.is_file():
        raise RuntimeError(f"{BUSYBOX} is missing: apt-get install busybox-static")
    context = workdir / unique("base")
    context.mkdir(parents=True)
    shutil.copy(BUSYBOX, context / "busybox")
    (context / "Dockerfile").write_text(
        "FROM scratch\nCOPY busybox /bin/busybox\n"
        'RUN ["/bin/busybox", "--install", "-s", "/bin"]\nRUN mkdir -p /www /tmp\n'
    )
    return _build(client, context, f"{unique('empire-fx-base')}:latest")


def build_app(
    client: docker.DockerClient, base: str, workdir: Path, *, procfile: bytes, name: str = ""
) -> str:
    """Build an app image on `base` with `procfile` in its WORKDIR /app; return its tag."""
    context = workdir / unique("app")
    context.mkdir(parents=True)
    (context / "Procfile").write_bytes(procfile)
    (context / "Dockerfile").write_text(f"FROM {base}\nWORKDIR /app\nCOPY Procfile Procfile\n")
    return _build(client, context, f"{unique(name or 'empire-fx')}:v1")


def remove(client: docker.DockerClient, *tags: str) -> None:
    for tag in tags:
        with contextlib.suppress(docker.errors.ImageNotFound, docker.errors.APIError):
            client.images.remove(tag, force=True)


def _build(client: docker.DockerClient, context: Path, tag: str) -> str:
    try:
        client.images.build(path=str(context), tag=tag, rm=True, forcerm=True)
    except docker.errors.BuildError as e:
        log = "".join(str(chunk.get("stream", chunk)) for chunk in e.build_log)
        raise RuntimeError(f"building {tag} failed: {e}\n{log}") from e
    return tag
