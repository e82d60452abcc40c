"""`git push http://HOST:PORT/<app>.git`: git's smart HTTP, served by `git http-backend`.

Only pushing is served (`git-receive-pack`; fetching and cloning are refused): the gate has
authenticated the request (Basic: any user name, the API token as the password, as `emp login`
wrote it in ~/.netrc) and the push needs the deployer role on an existing app. The request is
handed to `git http-backend` (CGI) with a small environment of its own (nothing of Empire's);
the app's repository's pre-receive hook (`empire.builds.git`) posts the pushed commit back to
`POST /git-hooks/<secret>` over loopback, where it is built and deployed like `POST
/apps/{app}/builds`, its progress going back to the pusher as `remote:` lines. The secret is
made for one push and forgotten when it ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import signal
import time
import urllib.parse
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from anyio import to_thread
from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse

from empire.api import errors
from empire.api.builds import stream_build
from empire.api.context import Ctx
from empire.builds.git import REPO, repository
from empire.core import Empire
from empire.errors import Forbidden, Invalid, NotFound
from empire.model import User

router = APIRouter()
SERVICE = "git-receive-pack"


@dataclass(frozen=True, slots=True)
class Push:
    """What a hook's secret stands for: who pushes to which app, until when."""

    user: User
    app: str
    message: str | None
    expires: float


class Pushes:
    """The secrets of the pushes in progress (one per push, forgotten when it ends)."""

    def __init__(self) -> None:
        self._pushes: dict[str, Push] = {}

    def open(self, push: Push) -> str:
        secret = secrets.token_urlsafe(32)
        self._pushes[secret] = push
        return secret

    def close(self, secret: str) -> None:
        self._pushes.pop(secret, None)

    def get(self, secret: str) -> Push | None:
        push = self._pushes.get(secret)
        if push is None or push.expires < time.monotonic():
            return None
        return push


@router.get("/{app}.git/info/refs")
async def info_refs(app: str, c: Ctx, request: Request) -> Response:
    service = request.query_params.get("service", "")
    return await _backend(app, c, request, "info/refs", service)


@router.post("/{app}.git/git-receive-pack")
async def receive_pack(app: str, c: Ctx, request: Request) -> Response:
    return await _backend(app, c, request, SERVICE, SERVICE)


@router.post("/{app}.git/git-upload-pack")
async def upload_pack(app: str, c: Ctx) -> Response:
    raise Forbidden("Empire's git serves pushes only: fetching and cloning are refused")


@router.post("/git-hooks/{secret}")  # open (the secret is the credential): the hook's callback
async def hook(secret: str, request: Request) -> Response:
    pushes: Pushes = request.app.state.git_pushes
    push = pushes.get(secret)
    if push is None:
        return errors.response(404, "not_found", "no push in progress has that hook URL")
    source = await request.body()
    commit = request.headers.get("build-commit", "").strip()
    subject = urllib.parse.unquote(request.headers.get("build-subject", ""))
    empire: Empire = request.app.state.empire
    return await stream_build(
        None,
        lambda emit: empire.build(
            push.app,
            source,
            by=push.user,
            message=push.message,
            commit=commit,
            subject=subject,
            progress=emit,
        ),
    )


async def _backend(app: str, c: Ctx, request: Request, path: str, service: str) -> Response:
    """Check the caller may push to the app, then hand the request to `git http-backend`."""
    root: Path | None = request.app.state.git_root
    if root is None:
        raise NotFound("git pushes are not enabled on this server", resource="app")
    if not REPO.match(app):
        raise Invalid(f"invalid app name {app!r} in the repository URL")
    found = await c.call(c.empire.authorize_push, app, by=c.user)
    if service != SERVICE:
        raise Forbidden(
            f"Empire's git serves pushes only ({SERVICE}): {service or 'dumb HTTP'} is refused"
        )
    kind = request.headers.get("content-type", "")
    if request.method == "POST" and kind != f"application/x-{SERVICE}-request":
        raise Invalid(f"a push is sent as application/x-{SERVICE}-request, not {kind!r}")
    repo = await to_thread.run_sync(repository, root, found.name, found.id)
    slot = c.stream_slot()
    pushes: Pushes = request.app.state.git_pushes
    timeout: float = request.app.state.git_timeout
    secret = pushes.open(Push(c.user, found.name, c.message, time.monotonic() + timeout))
    server = request.scope.get("server") or ("127.0.0.1", 0)
    host = server[0] if server[0] not in ("0.0.0.0", "::", "") else "127.0.0.1"
    host = f"[{host}]" if ":" in host else host
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(repo),
        "LANG": "C.UTF-8",
        "GIT_PROJECT_ROOT": str(repo.parent),
        "GIT_HTTP_EXPORT_ALL": "1",
        "PATH_INFO": f"/{repo.name}/{path}",
        "REQUEST_METHOD": request.method,
        "QUERY_STRING": request.url.query,
        "CONTENT_TYPE": request.headers.get("content-type", ""),
        "REMOTE_USER": c.user.name,
        "REMOTE_ADDR": request.client.host if request.client else "",
        "GIT_HTTP_MAX_REQUEST_BUFFER": "100M",
        "PUSH_HOOK_URL": f"http://{host}:{server[1]}/git-hooks/{secret}",
        # The hook stops `git archive` past this many bytes: a small push of a huge file of
        # zeros expands to gigabytes, which must never reach memory.
        "PUSH_MAX_SOURCE": str(request.app.state.git_max_source),
    }
    if request.headers.get("content-encoding"):
        env["HTTP_CONTENT_ENCODING"] = request.headers["content-encoding"]
    if request.headers.get("git-protocol"):
        env["GIT_PROTOCOL"] = request.headers["git-protocol"]
    body = await request.body()
    env["CONTENT_LENGTH"] = str(len(body))
    try:
        process = await asyncio.create_subprocess_exec(
            "git",
            "http-backend",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
            env=env,
            cwd=str(repo),
            start_new_session=True,  # its own process group: receive-pack, the hook, archive
        )
    except BaseException:
        pushes.close(secret)
        slot.release()
        raise
    assert process.stdin is not None and process.stdout is not None
    feeder = asyncio.ensure_future(_feed(process.stdin, body))
    try:
        status, headers = await asyncio.wait_for(_headers(process.stdout), timeout)
    except BaseException:
        _stop(process)
        pushes.close(secret)
        slot.release()
        feeder.cancel()
        raise

    def done() -> None:
        pushes.close(secret)
        slot.release()

    return StreamingResponse(
        _rest(process, feeder, timeout, done),
        status_code=status,
        headers=headers,
    )


async def _feed(stdin: asyncio.StreamWriter, body: bytes) -> None:
    with contextlib.suppress(OSError):
        stdin.write(body)
        await stdin.drain()
        stdin.close()


async def _headers(stdout: asyncio.StreamReader) -> tuple[int, dict[str, str]]:
    """Read the CGI response's headers: `Status:` and the rest, up to the blank line."""
    status = 200
    headers: dict[str, str] = {}
    while True:
        line = (await stdout.readline()).decode("latin-1").rstrip("\r\n")
        if not line:
            return status, headers
        name, _, value = line.partition(":")
        if name.lower() == "status":
            status = int(value.strip().split()[0])
        elif name.lower() not in ("content-length", "transfer-encoding", "connection"):
            headers[name.strip()] = value.strip()


async def _rest(
    process: asyncio.subprocess.Process, feeder: Any, timeout: float, done: Callable[[], None]
) -> AsyncIterator[bytes]:
    assert process.stdout is not None
    deadline = time.monotonic() + timeout
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            chunk = await asyncio.wait_for(process.stdout.read(65536), left)
            if not chunk:
                break
            yield chunk
    finally:
        feeder.cancel()
        try:
            await asyncio.wait_for(process.wait(), 5)
        except BaseException:
            _stop(process)
        else:
            _stop(process)  # a hook still running after http-backend ended
        done()


def _stop(process: asyncio.subprocess.Process) -> None:
    """Kill http-backend and everything it started (receive-pack, the hook, git archive):
    they are its process group, so none is left behind."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
