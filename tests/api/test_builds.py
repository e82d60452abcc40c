"""POST/GET /apps/{app}/builds on the in-process API with the fake builder: the build stream,
the build resources, refusals before anything is recorded, one build per app at a time."""

from __future__ import annotations

import io
import tarfile
import threading
from pathlib import Path

from fastapi.testclient import TestClient

from api.api_support import ndjson
from empire.builds import BuildSpec, BuildStarted
from empire.builds.fake import FakeBuilder
from support.stack import Stack, make_stack

TAR = {"Content-Type": "application/x-tar"}
WEB = b"web: ./bin/web\n"


def source(dockerfile: bytes = b"FROM scratch\nCOPY . /app\n", **files: bytes) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for name, data in {"Dockerfile": dockerfile, "Procfile": WEB, **files}.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def created(client: TestClient, name: str = "built") -> str:
    assert client.post("/apps", json={"name": name}).status_code == 201
    return name


def test_a_build_streams_its_output_and_deploys_a_release(client: TestClient) -> None:
    app = created(client)
    response = client.post(f"/apps/{app}/builds", content=source(), headers=TAR)
    assert response.status_code == 200, response.text
    build_id = response.headers["build-id"]
    lines = ndjson(response.text)
    assert lines[0]["aux"] == {"build": build_id}
    assert {"stream": "Step 1/2 : FROM scratch\n"} in lines
    assert lines[-1] == {"status": f"Status: Release v1 of {app} succeeded"}
    (build,) = client.get(f"/apps/{app}/builds").json()
    assert build["id"] == build_id and build["status"] == "succeeded"
    assert build["release"]["version"] == 1 and build["image"] == f"{app}:{build_id[:8]}"
    assert build["source_blob"]["checksum"].startswith("SHA256:")
    assert client.get(f"/apps/{app}/builds/{build_id}").json() == build
    output = client.get(build["output_stream_url"].removeprefix("http://testserver")).text
    assert "Successfully tagged" in output
    release = client.get(f"/apps/{app}/releases/1").json()
    assert release["description"] == f"Deploy build {build_id[:8]} (alice)"


def test_a_commit_names_the_release(client: TestClient) -> None:
    app = created(client)
    commit = "1a2b3c4d5e6f" + "0" * 28
    headers = {**TAR, "Build-Commit": commit}
    assert client.post(f"/apps/{app}/builds", content=source(), headers=headers).status_code == 200
    assert client.get(f"/apps/{app}/releases/1").json()["description"] == "Deploy 1a2b3c4 (alice)"
    assert client.get(f"/apps/{app}/builds/{commit}").json()["source_blob"]["version"] == commit
    bad = client.post(f"/apps/{app}/builds", content=source(), headers={"Build-Commit": "HEAD"})
    assert bad.status_code == 400 and "invalid commit 'HEAD'" in bad.json()["message"]


def test_a_failed_build_makes_no_release(client: TestClient) -> None:
    app = created(client)
    response = client.post(f"/apps/{app}/builds", content=source(b"FROM x\nRUN false\n"))
    assert response.status_code == 200
    last = ndjson(response.text)[-1]
    assert "the build failed: The command '/bin/sh -c false'" in last["error"]
    (build,) = client.get(f"/apps/{app}/builds").json()
    assert build["status"] == "failed" and build["release"] is None and build["image"] is None
    assert "the build failed" in build["failure_reason"]
    assert client.get(f"/apps/{app}/releases").json() == []


def test_bad_sources_are_refused_before_any_build_is_recorded(client: TestClient) -> None:
    app = created(client)
    for body, headers, message in [
        (
            b'{"source_blob": {"url": "http://x"}}',
            {"Content-Type": "application/json"},
            "source_blob.url is not served",
        ),
        (source(**{"../escape": b"x"}), TAR, "'../escape' leaves outside the build context"),
        (b"garbage" * 100, TAR, "not a tar archive"),
        (source(b"FROM x\n")[:0], TAR, "the build source is empty"),
        (source(), {"Content-Type": "text/plain"}, "unsupported Content-Type 'text/plain'"),
    ]:
        response = client.post(f"/apps/{app}/builds", content=body, headers=headers)
        assert response.status_code == 400, response.text
        assert message in response.json()["message"]
    assert client.get(f"/apps/{app}/builds").json() == []
    missing = client.get(f"/apps/{app}/builds/nope")
    assert missing.status_code == 404 and missing.json()["message"] == f"no build nope of {app}"
    unknown = client.post("/apps/nope/builds", content=source(), headers=TAR)
    assert unknown.status_code == 404


def test_a_source_over_the_cap_is_413(tmp_path: Path) -> None:
    stack = make_stack(tmp_path, env={"EMPIRE_BUILD_MAX_SOURCE": str(2 << 20)})
    client = stack.client()
    app = created(client)
    big = source(blob=b"\1" * (3 << 20))
    response = client.post(f"/apps/{app}/builds", content=big, headers=TAR)
    assert response.status_code == 413
    assert response.json()["message"] == f"request body too large: the limit is {2 << 20} bytes"
    # Bigger than the other routes' limit (1 MB), within the cap: accepted.
    fits = client.post(f"/apps/{app}/builds", content=source(blob=b"\1" * (3 << 19)), headers=TAR)
    assert fits.status_code == 200, fits.text
    assert client.post("/apps", content=b"x" * (3 << 19)).status_code == 413


class SlowBuilder(FakeBuilder):
    """Holds each build until released; counts the builds running at once."""

    def __init__(self) -> None:
        super().__init__()
        self.running = 0
        self.most = 0
        self.go = threading.Event()
        self.guard = threading.Lock()

    def build(self, spec: BuildSpec, output: object) -> str:
        with self.guard:
            self.running += 1
            self.most = max(self.most, self.running)
        self.go.wait(10)
        try:
            return super().build(spec, output)  # type: ignore[arg-type]
        finally:
            with self.guard:
                self.running -= 1


def test_builds_of_one_app_run_one_at_a_time(stack: Stack) -> None:
    builder = SlowBuilder()
    stack.empire.use_builder(builder, stack.empire.build_limits)
    stack.empire.create("queued", by=stack.user)
    events: list[list[object]] = [[], [], []]
    threads = [
        threading.Thread(
            target=stack.empire.build,
            args=("queued", source()),
            kwargs={"by": stack.user, "progress": events[n].append},
        )
        for n in range(3)
    ]
    for thread in threads:
        thread.start()

    def started() -> int:
        return sum(any(isinstance(e, BuildStarted) for e in got) for got in events)

    while started() < 3:
        threading.Event().wait(0.01)
    builder.go.set()
    for thread in threads:
        thread.join(20)
    assert builder.most == 1
    waited = [any("Waiting for the build in progress" in str(e) for e in got) for got in events]
    assert sum(waited) == 2
    builds = stack.empire.builds("queued", by=stack.user)
    assert [b.status.value for b in builds] == ["succeeded"] * 3


def test_a_git_hook_url_without_a_push_in_progress_holds_no_large_body(stack: Stack) -> None:
    anonymous = TestClient(stack.api)  # no token: the hook's URL is open, its secret the key
    unknown = anonymous.post("/git-hooks/guessed", content=source(), headers=TAR)
    assert unknown.status_code == 404
    assert unknown.json()["message"] == "no push in progress has that hook URL"
    big = anonymous.post("/git-hooks/guessed", content=b"\1" * (2 << 20), headers=TAR)
    assert big.status_code == 413


def test_git_refuses_fetches_and_asks_for_credentials(stack: Stack) -> None:
    anonymous = TestClient(stack.api)
    asked = anonymous.get("/built.git/info/refs?service=git-receive-pack")
    assert asked.status_code == 401 and asked.headers["www-authenticate"].startswith("Basic")
    client = stack.client()
    created(client)
    fetch = client.get("/built.git/info/refs?service=git-upload-pack")
    assert fetch.status_code == 403
    assert "serves pushes only" in fetch.json()["message"]
    refs = client.get("/built.git/info/refs?service=git-receive-pack")
    assert refs.status_code == 200
    assert refs.headers["content-type"] == "application/x-git-receive-pack-advertisement"


class TalkingBuilder(FakeBuilder):
    """Says "before", waits for `go`, says "after", then builds."""

    def __init__(self, images: object) -> None:
        super().__init__(images)
        self.go = threading.Event()
        self.said = threading.Event()

    def build(self, spec: BuildSpec, output: object) -> str:
        output("before")  # type: ignore[operator]
        self.said.set()
        self.go.wait(10)
        output("after")  # type: ignore[operator]
        return super().build(spec, output)  # type: ignore[arg-type]


def test_the_output_stream_follows_a_running_build_to_its_end(stack: Stack) -> None:
    builder = TalkingBuilder(stack.images)
    stack.empire.use_builder(builder, stack.empire.build_limits)
    client = stack.client()
    app = created(client)
    started: list[str] = []

    def run() -> None:
        events: list[object] = []
        stack.empire.build(app, source(), by=stack.user, progress=events.append)

    building = threading.Thread(target=run)
    building.start()
    assert builder.said.wait(10)
    (pending,) = client.get(f"/apps/{app}/builds").json()
    assert pending["status"] == "pending"
    started.append(pending["id"])
    got: list[str] = []
    follower = threading.Thread(
        target=lambda: got.append(client.get(f"/apps/{app}/builds/{started[0]}/output").text)
    )
    follower.start()
    threading.Event().wait(0.3)
    assert follower.is_alive()  # it read "before" and waits for more: the build goes on
    builder.go.set()
    building.join(10)
    follower.join(10)
    assert got and got[0].splitlines()[:3] == ["before", "after", "Step 1/2 : FROM scratch"]
    assert got[0].endswith(f"Successfully tagged {app}:{started[0][:8]}\n")
    # Once it ended: what was kept.
    kept = client.get(f"/apps/{app}/builds/{started[0]}/output").text
    assert kept == got[0]
