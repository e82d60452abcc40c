"""The credentials a build's push gives its registry: a Docker config.json, or ECR's token.

With EMPIRE_REGISTRY the Docker builder pushes every image it builds there, and the engine needs
the registry's credentials with the push (its `auth_config`). Two sources, chosen by the wiring
from the registry's host:

- `DockerConfig`: a Docker `config.json` (EMPIRE_DOCKER_CONFIG), read at each push, so a
  rotated file is seen without a restart.
- `EcrToken`: for an ECR registry (`<account>.dkr.ecr.<region>.amazonaws.com`), ECR's
  authorization token, asked of AWS with the server's own credentials (an ECS server has no
  `docker login` to lean on, nor a config.json to keep fresh). ECR's answer is base64
  `user:password`, valid for 12 hours: it is kept until REFRESH_BEFORE its expiry, then asked
  again. ECR refuses a push to a repository nobody created, so `prepare` creates `<app>`'s
  before its first push. What AWS refuses (no credentials, no `ecr:GetAuthorizationToken` or
  `ecr:CreateRepository`, no endpoint) fails the build with a message saying what was asked
  and what AWS answered.

This module imports neither boto3 nor botocore: the ECR client is given (wiring makes it), and
AWS's errors are read by their shape.
"""

from __future__ import annotations

import base64
import binascii
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from empire.builds import BuildFailed

REFRESH_BEFORE = timedelta(minutes=15)  # a token this close to its expiry is asked again
REASON = 500  # characters of AWS's answer kept in a build's failure
XML_CODE = re.compile(r"<Code>(?P<code>[^<]{1,200})</Code>")
XML_MESSAGE = re.compile(r"<Message>(?P<message>[^<]{1,1000})</Message>")
ECR_HOST = re.compile(
    r"(?P<account>[0-9]{12})\.dkr\.ecr(?:-fips)?\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(?:\.cn)?"
)


class Credentials(Protocol):
    """What a push sends the registry (docker-py's `auth_config`), or None: anonymous."""

    def auth(self) -> dict[str, str] | None: ...

    def prepare(self, repository: str) -> None:
        """Make the registry ready to take `repository` (`host[/path]/<app>`) before a push."""
        ...


@dataclass(frozen=True, slots=True)
class EcrRegistry:
    """An ECR registry host, parsed: whose it is and where."""

    host: str
    account: str
    region: str


def ecr_registry(registry: str) -> EcrRegistry | None:
    """The ECR registry `registry` (`host[/path]`) names, or None when its host is not ECR's."""
    host = registry.split("/", 1)[0].lower()
    match = ECR_HOST.fullmatch(host)
    if match is None:
        return None
    return EcrRegistry(host=host, account=match["account"], region=match["region"])


class DockerConfig:
    """The credentials a Docker `config.json` holds for the registry's host."""

    def __init__(self, path: str, registry: str) -> None:
        self.path = path
        self.host = registry.split("/", 1)[0]

    def auth(self) -> dict[str, str] | None:
        from docker import auth

        config = auth.load_config(self.path)
        found = auth.resolve_authconfig(config, self.host)
        return {str(k): str(v) for k, v in found.items() if v is not None} if found else None

    def prepare(self, repository: str) -> None:
        """Nothing: a plain registry makes a repository on its first push."""


class EcrToken:
    """ECR's authorization token for one registry, from `client` (a boto3 ECR client), kept
    until `refresh_before` its expiry. Thread-safe: concurrent builds ask AWS once."""

    def __init__(
        self,
        client: Any,
        registry: EcrRegistry,
        *,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        refresh_before: timedelta = REFRESH_BEFORE,
    ) -> None:
        self.client = client
        self.registry = registry
        self.now = now
        self.refresh_before = refresh_before
        self._lock = threading.Lock()
        self._cached: dict[str, str] | None = None
        self._expires = datetime.min.replace(tzinfo=UTC)
        self._repositories: set[str] = set()

    def auth(self) -> dict[str, str]:
        with self._lock:
            if self._cached is None or self.now() >= self._expires - self.refresh_before:
                self._cached, self._expires = self._fetch()
            return dict(self._cached)

    def prepare(self, repository: str) -> None:
        """Create the ECR repository when it does not exist: ECR, unlike a plain registry,
        refuses a push to a repository nobody created (once made, it is known and not asked
        again)."""
        name = repository.split("/", 1)[1] if "/" in repository else repository
        with self._lock:
            if name in self._repositories:
                return
        try:
            self.client.create_repository(repositoryName=name)
        except Exception as exc:
            if aws_code(exc) != "RepositoryAlreadyExistsException":
                raise BuildFailed(
                    f"cannot create the ECR repository {name} in {self.registry.host} (create "
                    f"it, or give the server ecr:CreateRepository): {aws_reason(exc)}"
                ) from exc
        with self._lock:
            self._repositories.add(name)

    def _fetch(self) -> tuple[dict[str, str], datetime]:
        host = self.registry.host
        try:
            answer = self.client.get_authorization_token(registryIds=[self.registry.account])
        except Exception as exc:
            raise BuildFailed(
                f"cannot get ECR's authorization token for {host} (the server's AWS "
                f"credentials need ecr:GetAuthorizationToken): {aws_reason(exc)}"
            ) from exc
        data = [d for d in answer.get("authorizationData") or () if isinstance(d, dict)]
        entry = next((d for d in data if _host_of(d.get("proxyEndpoint")) == host), None)
        entry = entry or (data[0] if data else None)
        if entry is None:
            raise BuildFailed(f"ECR gave no authorization token for {host}")
        user = password = sep = ""
        try:
            decoded = base64.b64decode(str(entry.get("authorizationToken") or ""), validate=True)
            user, sep, password = decoded.decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError):
            pass
        if not sep or not user or not password:
            raise BuildFailed(f"ECR's authorization token for {host} is not base64 user:password")
        expires = entry.get("expiresAt")
        if not isinstance(expires, datetime):  # no expiry said: use it for this push only
            expires = self.now()
        elif expires.tzinfo is None:
            expires = expires.replace(tzinfo=UTC)
        endpoint = str(entry.get("proxyEndpoint") or f"https://{host}")
        return {"username": user, "password": password, "serveraddress": endpoint}, expires


def aws_reason(exc: Exception) -> str:
    """What AWS answered (`Code: message` of a botocore ClientError), or what went wrong: one
    line of at most REASON characters. An error botocore could not parse (an XML body where
    JSON was expected, as moto and some proxies answer) is read for its Code and Message."""
    reason = str(exc) or type(exc).__name__
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        error = response.get("Error") or {}
        code = str(error.get("Code") or "").strip()
        message = str(error.get("Message") or "").strip()
        inner = XML_CODE.search(message)
        if inner is not None:
            code = inner["code"]
            found = XML_MESSAGE.search(message)
            message = found["message"] if found else ""
        if code or message:
            reason = f"{code}: {message}" if code and message else code or message
    reason = " ".join(reason.split())
    return reason if len(reason) <= REASON else reason[:REASON] + " [...]"


def aws_code(exc: Exception) -> str:
    """The error code of a botocore ClientError ("" for anything else)."""
    response = getattr(exc, "response", None)
    error = response.get("Error") if isinstance(response, dict) else None
    return str(error.get("Code") or "") if isinstance(error, dict) else ""


def _host_of(endpoint: object) -> str:
    text = str(endpoint or "")
    return text.split("://", 1)[-1].split("/", 1)[0].lower()
