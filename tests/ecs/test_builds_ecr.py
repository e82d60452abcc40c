"""Builds pushed to ECR: the builder logs in with ECR's authorization token, from moto's ECR.

An ECS server has no `docker login` behind it: with EMPIRE_REGISTRY set to an ECR registry
host, the wiring gives the Docker builder an `EcrToken`, which asks AWS (here: the tier's real
`moto_server`, at EMPIRE_AWS_ENDPOINT_URL) for the token, keeps it until shortly before it
expires, and hands it to the engine's push. moto serves no registry, so the engine is a fake
one recording what the push was given; the build is then released on ECS (moto) from the
digest the push reported, through the real facade. What AWS refuses is a failed build whose
reason says what was asked and what AWS answered.

moto's tokens say they expired on 2015-01-01: the cache is driven by a clock set before that.
"""

from __future__ import annotations

import base64
import io
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from ecs.ecs_support import ACCOUNT, REGION, Infra, container
from empire import progress
from empire.builds import BuildFailed, BuildLimits, BuildSpec, BuildStatus
from empire.builds.docker import DockerBuilder
from empire.builds.registry import DockerConfig, EcrToken, ecr_registry
from empire.events import MemorySink
from empire.images.fake import FakeImages
from empire.model import Outcome
from empire.settings import Settings
from empire.store import migrate
from empire.store.sql import SqlStore, connect
from empire.wiring import build_empire, build_registry_credentials, ecr_client
from support.services import free_port
from support.waiting import wait_for

HOST = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com"
EXPIRES = datetime(2015, 1, 1, tzinfo=UTC)  # what moto says of every token
DIGEST = "sha256:" + "ab" * 32


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class PushEngine:
    """The slice of docker-py's APIClient the Docker builder calls, in memory: every build
    succeeds with one image, every push reports DIGEST; each push's `auth_config` is kept."""

    def __init__(self) -> None:
        self.pushes: list[tuple[str, str, dict[str, str] | None]] = []
        self.tags: list[tuple[str, str, str]] = []
        self.removed: list[str] = []

    @property
    def api(self) -> PushEngine:
        return self

    def _url(self, path: str) -> str:
        return f"http+docker://fake{path}"

    def _post(self, url: str, **_: Any) -> Any:
        return io.BytesIO()

    def _raise_for_status(self, response: Any) -> None:
        return None

    def _stream_helper(self, response: Any, decode: bool = False) -> Iterator[dict[str, Any]]:
        yield {"stream": "Step 1/1 : FROM scratch\n"}
        yield {"aux": {"ID": "sha256:" + "cd" * 32}}

    def tag(self, image: str, repository: str, tag: str) -> bool:
        self.tags.append((image, repository, tag))
        return True

    def push(
        self, repository: str, tag: str, auth_config: dict[str, str] | None = None, **_: Any
    ) -> Iterator[dict[str, Any]]:
        self.pushes.append((repository, tag, auth_config))
        yield {"status": "Pushed", "id": "layer"}
        yield {"aux": {"Tag": tag, "Digest": DIGEST, "Size": 1}}

    def inspect_image(self, image: str) -> dict[str, Any]:
        return {"Id": "sha256:" + "cd" * 32}

    def images(self, name: str | None = None) -> list[dict[str, Any]]:
        return []

    def remove_image(self, image: str) -> None:
        self.removed.append(image)


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The server's AWS credentials, from boto3's usual chain (here: the environment)."""
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_CONFIG_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")


def counted(client: Any) -> list[int]:
    """Count the GetAuthorizationToken calls `client` sends (botocore's own event hook)."""
    calls: list[int] = []
    client.meta.events.register(
        "before-call.ecr.GetAuthorizationToken", lambda **_: calls.append(1)
    )
    return calls


def source() -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        data = b"FROM scratch\n"
        info = tarfile.TarInfo("Dockerfile")
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def spec(app: str = "acme") -> BuildSpec:
    return BuildSpec(app, "0123456789abcdef", f"{app}:01234567", source(), BuildLimits())


def expected_auth() -> dict[str, str]:
    return {
        "username": "AWS",
        "password": f"{ACCOUNT}-auth-token",  # moto's token, decoded
        "serveraddress": f"https://{HOST}",
    }


def test_the_wiring_picks_ecr_token_for_an_ecr_registry(
    moto_url: str, aws_env: None, tmp_path: Path
) -> None:
    def credentials(**env: str) -> Any:
        return build_registry_credentials(
            Settings.from_env({"EMPIRE_DATA_DIR": str(tmp_path), **env})
        )

    ecr = credentials(EMPIRE_REGISTRY=f"{HOST}/team", EMPIRE_AWS_ENDPOINT_URL=moto_url)
    assert isinstance(ecr, EcrToken)
    assert (ecr.registry.account, ecr.registry.region) == (ACCOUNT, REGION)
    assert ecr.auth() == expected_auth()  # from moto, at EMPIRE_AWS_ENDPOINT_URL
    config = tmp_path / "config.json"
    config.write_text('{"auths": {"registry.example.com": {"auth": "dTpw"}}}')
    other = credentials(EMPIRE_REGISTRY="registry.example.com", EMPIRE_DOCKER_CONFIG=str(config))
    assert isinstance(other, DockerConfig)
    assert other.auth() == {
        "username": "u",
        "password": "p",
        "serveraddress": "registry.example.com",
    }
    assert credentials(EMPIRE_REGISTRY="registry.example.com") is None
    assert credentials() is None
    # Look-alikes are not ECR's: the config.json path is kept for them.
    for host in (
        f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com.evil.test",
        f"1.dkr.ecr.{REGION}.amazonaws.com",
    ):
        assert ecr_registry(host) is None


def test_the_token_is_cached_until_shortly_before_it_expires(moto_url: str, aws_env: None) -> None:
    client = ecr_client(REGION, moto_url)
    calls = counted(client)
    clock = Clock(EXPIRES - timedelta(hours=12))
    token = EcrToken(client, ecr_registry(HOST) or pytest.fail("not ECR"), now=clock)

    assert token.auth() == expected_auth()
    clock.now = EXPIRES - timedelta(minutes=16)
    assert token.auth() == expected_auth()
    assert len(calls) == 1  # cached
    clock.now = EXPIRES - timedelta(minutes=14)  # within REFRESH_BEFORE: asked again
    assert token.auth() == expected_auth()
    assert len(calls) == 2
    clock.now = EXPIRES + timedelta(days=1)  # expired (moto's token, with the real clock)
    token.auth()
    token.auth()
    assert len(calls) == 4  # an expired token is never reused


def test_the_push_gets_the_token_and_the_release_is_made_from_the_digest(
    moto_url: str, aws_env: None, infra: Infra, tmp_path: Path
) -> None:
    settings = Settings.from_env(
        {
            "EMPIRE_DATA_DIR": str(tmp_path),
            "EMPIRE_IMAGES": "fake",
            "EMPIRE_SCHEDULER": "fake",
            "EMPIRE_REGISTRY": HOST,
            "EMPIRE_AWS_ENDPOINT_URL": moto_url,
        }
    )
    engine = PushEngine()
    credentials = build_registry_credentials(settings)
    assert isinstance(credentials, EcrToken)
    calls = counted(credentials.client)
    builder = DockerBuilder(engine, registry=settings.registry, credentials=credentials)
    store = SqlStore(connect(settings.database_url), expected_revision=migrate.head())
    migrate.upgrade(store.engine)
    images = FakeImages(default_procfile=b"web: ./bin/web\n", accept_any=True)
    facade = build_empire(
        settings,
        store=store,
        images=images,
        scheduler=infra.scheduler(),
        events=MemorySink(),
        builder=builder,
    )
    alice, _ = facade.create_user("alice", admin=True)
    facade.create("acme", by=alice)
    events: list[Any] = []

    build = facade.build("acme", source(), by=alice, progress=events.append)

    assert build.status is BuildStatus.SUCCEEDED, build.reason
    assert build.image == f"{HOST}/acme@{DIGEST}"
    assert [(repo, auth) for repo, _, auth in engine.pushes] == [(f"{HOST}/acme", expected_auth())]
    assert len(calls) == 1
    # ECR refuses a push to a repository nobody made: the first build of an app makes it.
    listed = credentials.client.describe_repositories()["repositories"]
    assert [r["repositoryName"] for r in listed] == ["acme"]
    assert build.release_version == 1
    release = facade.release("acme", "v1", by=alice)
    assert release.slug.image.startswith(f"{HOST}/acme@sha256:")
    assert release.outcome is Outcome.SUCCEEDED, release.reason
    services = infra.services()
    definition = infra.task_definition(services["acme_web"]["taskDefinition"])
    assert container(definition)["image"].startswith(f"{HOST}/acme@sha256:")
    assert any(isinstance(e, progress.Status) and e.text == f"Built {build.image}" for e in events)

    creates = []
    credentials.client.meta.events.register(
        "before-call.ecr.CreateRepository", lambda **_: creates.append(1)
    )
    again = facade.build("acme", source(), by=alice)
    assert again.status is BuildStatus.SUCCEEDED, again.reason
    assert creates == [] and len(engine.pushes) == 2  # the repository is known: not asked again
    # A repository someone else made (an operator, another Empire) is taken as it is.
    facade.create("other", by=alice)
    ecr_client(REGION, moto_url).create_repository(repositoryName="other")  # not Empire's
    other = facade.build("other", source(), by=alice)
    assert other.status is BuildStatus.SUCCEEDED, other.reason
    assert other.image == f"{HOST}/other@{DIGEST}"
    assert creates == [1]  # asked, and ECR's RepositoryAlreadyExistsException taken as a yes


def test_what_aws_refuses_fails_the_build_with_its_reason(tmp_path: Path, aws_env: None) -> None:
    """A moto server enforcing IAM: the server's credentials are unknown to it."""
    port = free_port()
    log = tmp_path / "moto.log"
    with log.open("wb") as out:
        server = subprocess.Popen(
            [str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
            stdout=out,
            stderr=out,
            env={"PATH": "/usr/bin:/bin", "INITIAL_NO_AUTH_ACTION_COUNT": "0"},
        )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_for(lambda: _answers(url), 30, f"moto_server (see {log})", ignore=(OSError,))
        engine = PushEngine()
        registry = ecr_registry(HOST) or pytest.fail("not ECR")
        token = EcrToken(ecr_client(REGION, url), registry)
        builder = DockerBuilder(engine, registry=HOST, credentials=token)
        with pytest.raises(BuildFailed) as refused:
            builder.build(spec(), lambda _line: None)
        message = refused.value.message
        assert f"cannot get ECR's authorization token for {HOST}" in message
        assert "ecr:GetAuthorizationToken" in message
        assert message.endswith(
            ": InvalidClientTokenId: The security token included in the request is invalid."
        )  # moto's answer is XML, where ECR's protocol is JSON: read for its Code and Message
        assert engine.pushes == []  # nothing pushed without credentials
        assert f"{HOST}/acme:01234567" in engine.removed and "acme:01234567" in engine.removed
    finally:
        server.terminate()
        server.wait(10)

    # No AWS endpoint at all (the server just stopped): said as plainly.
    down = EcrToken(ecr_client(REGION, url), registry)
    with pytest.raises(BuildFailed) as unreachable:
        DockerBuilder(PushEngine(), registry=HOST, credentials=down).build(spec(), print)
    assert "Could not connect to the endpoint URL" in unreachable.value.message


def test_tokens_that_are_not_user_password_are_refused() -> None:
    class Answers:
        def __init__(self, token: str) -> None:
            self.token = token

        def get_authorization_token(self, **_: Any) -> dict[str, Any]:
            return {"authorizationData": [{"authorizationToken": self.token}]}

    registry = ecr_registry(HOST) or pytest.fail("not ECR")
    for bad in ("not base64!", base64.b64encode(b"no-colon").decode(), ""):
        with pytest.raises(BuildFailed, match="is not base64 user:password"):
            EcrToken(Answers(bad), registry).auth()
    good = EcrToken(Answers(base64.b64encode(b"AWS:secret").decode()), registry)
    assert good.auth() == {
        "username": "AWS",
        "password": "secret",
        "serveraddress": f"https://{HOST}",
    }


def _answers(url: str) -> bool:
    import urllib.request

    urllib.request.urlopen(f"{url}/moto-api/", timeout=1).close()
    return True
