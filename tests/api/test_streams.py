"""Long responses (log follows, deploy progress) over a real server: they hold no worker of
the server's shared pool while idle, end when their client goes away, and a token may have
only so many open at once (429 past it).

The scheduler's follow is replaced by a blocking one, as the backends' are on a quiet app:
`next()` waits for the next line. A backend may yield "" (nothing new) now and then; the
`heartbeat` variant does, the silent one never does.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from api.api_support import APP, IMAGE, PROCFILE, Served, error
from empire.api import create_app
from empire.images import ImageRef, ResolvedImage
from empire.images.fake import FakeImages
from empire.scheduler import LogQuery
from support.stack import Stack, make_stack
from support.waiting import wait_for

PER_TOKEN = 3
POOL = 40  # anyio's default thread limiter: the workers of every synchronous request


class QuietFollow:
    """Follows that block until a line is pushed (to every open follow); with `heartbeat`,
    they yield "" every few hundredths of a second meanwhile. Counts those opened and closed."""

    def __init__(self, *, heartbeat: bool) -> None:
        self.heartbeat = heartbeat
        self.opened = 0
        self.closed = 0
        self._inboxes: list[queue.Queue[str]] = []
        self._lock = threading.Lock()

    def logs(self, app_id: str, query: LogQuery) -> Iterator[str]:
        inbox: queue.Queue[str] = queue.Queue()
        with self._lock:
            self.opened += 1
            self._inboxes.append(inbox)
        try:
            while True:
                try:
                    yield inbox.get(timeout=0.05)
                except queue.Empty:
                    if self.heartbeat:
                        yield ""
        finally:
            with self._lock:
                self.closed += 1
                self._inboxes.remove(inbox)

    def push(self, line: str) -> None:
        with self._lock:
            for inbox in self._inboxes:
                inbox.put(line)


def setup(tmp_path: Path, heartbeat: bool) -> tuple[Stack, QuietFollow, Served]:
    stack = make_stack(tmp_path)
    stack.images.add(IMAGE, procfile=PROCFILE)
    stack.empire.deploy(IMAGE, by=stack.user)
    follow = QuietFollow(heartbeat=heartbeat)
    stack.scheduler.logs = follow.logs  # type: ignore[method-assign]
    return stack, follow, Served(create_app(stack.empire, streams_per_token=PER_TOKEN))


def tokens(stack: Stack, count: int) -> list[str]:
    """`count` viewers of the app, a token each."""
    found = []
    for n in range(count):
        _, token = stack.empire.create_user(f"viewer{n}")
        stack.empire.grant(APP, f"viewer{n}", "viewer", by=stack.user)
        found.append(token)
    return found


def open_follow(streams: contextlib.ExitStack, url: str, token: str) -> httpx.Response:
    """`emp log` on the app; the response is open (its headers read) when this returns."""
    client = streams.enter_context(httpx.Client(base_url=url, timeout=30))
    request = client.build_request(
        "POST",
        f"/apps/{APP}/log-sessions",
        json={},
        headers={"Authorization": f"Bearer {token}"},
    )
    response = client.send(request, stream=True)
    streams.callback(response.close)
    return response


def test_idle_follows_hold_no_worker_of_the_shared_pool(tmp_path: Path) -> None:
    """More idle follows than the pool has workers, from several tokens: a request served
    by a worker of the pool still answers."""
    stack, follow, served = setup(tmp_path, heartbeat=False)
    count = POOL + 5
    with served, contextlib.ExitStack() as streams:
        for token in tokens(stack, -(-count // PER_TOKEN)):
            for _ in range(PER_TOKEN):
                assert open_follow(streams, served.url, token).status_code == 200
        wait_for(lambda: follow.opened >= count, what="every follow to open", interval=0.02)
        headers = {"Authorization": f"Bearer {stack.token}"}
        created = httpx.post(
            f"{served.url}/apps", json={"name": "still-served"}, headers=headers, timeout=20
        )
        assert created.status_code == 201, created.text  # POST /apps runs in the pool
        follow.push("2026-11-26T10:00:00Z acme-inc[web.1]: hello")  # the silent ones end


def test_a_follow_streams_its_lines_and_ends_when_its_client_goes(tmp_path: Path) -> None:
    stack, follow, served = setup(tmp_path, heartbeat=True)
    with served, contextlib.ExitStack() as streams:
        response = open_follow(streams, served.url, stack.token)
        follow.push("line 1")
        lines = response.iter_lines()
        assert next(lines) == "line 1"
        response.close()
        # the backend's follow is closed (its generator's finally ran) once the client is gone
        wait_for(lambda: follow.closed == 1, what="the follow to be closed", interval=0.02)


@pytest.mark.parametrize("heartbeat", [True, False], ids=["heartbeat", "silent"])
def test_streams_per_token_are_bounded_and_a_slot_comes_back(
    tmp_path: Path, heartbeat: bool
) -> None:
    stack, follow, served = setup(tmp_path, heartbeat=heartbeat)
    with served, contextlib.ExitStack() as streams:
        first = [open_follow(streams, served.url, stack.token) for _ in range(PER_TOKEN)]
        assert all(r.status_code == 200 for r in first)
        wait_for(lambda: follow.opened == PER_TOKEN, what="the follows to open", interval=0.02)
        headers = {"Authorization": f"Bearer {stack.token}"}
        refused = httpx.post(f"{served.url}/apps/{APP}/log-sessions", json={}, headers=headers)
        body = error(refused, 429, "rate_limit")
        assert body["message"].startswith(
            f"too many streams open with this API token: at most {PER_TOKEN} log streams"
        )
        assert int(refused.headers["retry-after"]) >= 1
        assert follow.opened == PER_TOKEN  # refused before the backend was asked
        # another token has slots of its own, and requests that are not streams pass
        [other] = tokens(stack, 1)
        assert open_follow(streams, served.url, other).status_code == 200
        assert httpx.get(f"{served.url}/apps/{APP}", headers=headers).status_code == 200

        first[0].close()

        def closed() -> bool:
            if not heartbeat:  # a backend that never yields while idle: closed at its next line
                follow.push("2026-11-26T10:00:00Z acme-inc[web.1]: now and then")
            return follow.closed >= 1

        wait_for(closed, what="the follow of the client that left to close", interval=0.02)
        again = open_follow(streams, served.url, stack.token)
        assert again.status_code == 200


class SlowRegistry(FakeImages):
    """A registry that answers only when `release` is set: every pull waits."""

    def __init__(self) -> None:
        super().__init__(default_procfile=b"web: ./bin/web\n", accept_any=True)
        self.release = threading.Event()
        self.waiting = 0
        self._lock = threading.Lock()

    def resolve(self, ref: ImageRef, progress: object = None) -> ResolvedImage:
        with self._lock:
            self.waiting += 1
        self.release.wait(timeout=60)
        return super().resolve(ref, progress)  # type: ignore[arg-type]


def test_deploys_waiting_on_a_slow_registry_hold_no_worker_of_the_shared_pool(
    tmp_path: Path,
) -> None:
    stack = make_stack(tmp_path)
    registry = SlowRegistry()
    stack.empire.images = registry
    served = Served(create_app(stack.empire, streams_per_token=PER_TOKEN))
    count = POOL + 5
    with served:
        users = tokens_of_users(stack, -(-count // PER_TOKEN))
        deploys: list[httpx.Response] = []
        opened = threading.Semaphore(0)

        def deploy(token: str, n: int) -> None:
            with httpx.Client(base_url=served.url, timeout=60) as client:
                request = client.build_request(
                    "POST",
                    "/deploys",
                    json={"image": f"acme/app-{n}:v1"},
                    headers={"Authorization": f"Bearer {token}"},
                )
                response = client.send(request, stream=True)
                deploys.append(response)
                opened.release()
                response.read()

        threads = [
            threading.Thread(target=deploy, args=(users[n // PER_TOKEN], n), daemon=True)
            for n in range(count)
        ]
        for thread in threads:
            thread.start()
        for _ in range(count):
            assert opened.acquire(timeout=30), "a deploy did not answer"
        wait_for(
            lambda: registry.waiting == count,
            what="every deploy to wait on the registry",
            interval=0.02,
        )
        headers = {"Authorization": f"Bearer {stack.token}"}
        created = httpx.post(
            f"{served.url}/apps", json={"name": "still-served"}, headers=headers, timeout=20
        )
        assert created.status_code == 201, created.text
        registry.release.set()
        for thread in threads:
            thread.join(timeout=60)
        assert all(r.status_code == 200 for r in deploys)
        assert all(r.text.rstrip().endswith('succeeded"}') for r in deploys), deploys[0].text


def tokens_of_users(stack: Stack, count: int) -> list[str]:
    """`count` users (any user may deploy an app of their own), a token each."""
    return [stack.empire.create_user(f"deployer{n}")[1] for n in range(count)]
