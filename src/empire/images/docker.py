"""Images on the local Docker engine, through the docker SDK.

An image is identified by its repository digest (`repo@sha256:…`) when the engine knows one,
else by its image ID (`sha256:…`, an image built locally and never pushed). An image already
present is used as is; only a missing one is pulled. The Procfile is copied out of a container
that is created from the image and never started.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import logging
import posixpath
import tarfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any

import docker
import docker.errors
import requests

from empire.errors import ImageNotFound, InvalidProcfile, RegistryError
from empire.images import ImageRef, JsonMessage, ProcfileSource, ProgressFn, ResolvedImage
from empire.procfile import generate_from_cmd

# The probe container is never started; an explicit entrypoint lets `create` accept images
# with no CMD (FROM scratch).
log = logging.getLogger("empire.images")
_PROBE_ENTRYPOINT = ["/empire-procfile-probe"]
_PROBE_LABEL = "io.empire.procfile-probe"
_MODE_DIR = 1 << 31  # Go's os.ModeDir, as the engine reports it in an archive's stat
_MODE_SYMLINK = 1 << 27  # Go's os.ModeSymlink
_MAX_SYMLINKS = 8
_MISSING = (
    "not found",
    "manifest unknown",
    "pull access denied",
    "repository does not exist",
    "no such image",
)
_DOCKER_HUB = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io"})


class _PullFailed(Exception):
    """The engine reported an error inside the pull stream rather than as a status code."""


class DockerImages:
    """Resolve images and read their Procfiles with the local Docker engine."""

    def __init__(self, client: docker.DockerClient, *, auth_config_path: str | None = None) -> None:
        self._client = client
        self._api = client.api
        self._auth_config_path = auth_config_path

    def resolve(self, ref: ImageRef, progress: ProgressFn | None = None) -> ResolvedImage:
        """Return the image's identity, pulling it only when it is not present locally."""
        name = _local_name(ref)
        with _engine_errors(str(ref)):
            attrs = self._inspect(name)
            if attrs is None:
                self._pull(ref.full_repository, ref.digest or ref.tag or "latest", progress)
                attrs = self._inspect(name)
            if attrs is None:
                raise ImageNotFound(
                    f"image {ref} not found: the engine pulled it but has no {name}"
                )
        return _identity(ref, attrs)

    def procfile(self, identity: str) -> ProcfileSource:
        """Read `<WORKDIR>/Procfile` from the image, else generate one from its command."""
        with _engine_errors(identity):
            attrs = self._inspect(identity)
            if attrs is None and "@" in identity:
                # Resolved earlier but removed since (e.g. pruned): the digest pins the content.
                repository, _, digest = identity.partition("@")
                self._pull(repository, digest, None)
                attrs = self._inspect(identity)
            if attrs is None:
                raise ImageNotFound(f"image {identity} not found: it is no longer on the engine")
            config: dict[str, Any] = attrs.get("Config") or {}
            workdir = config.get("WorkingDir") or "/"
            path = posixpath.join(workdir, "Procfile")
            content = self._read_file(identity, path)
        if content is not None:
            return ProcfileSource(content, path=path)
        # The scheduler keeps the image's ENTRYPOINT and replaces its CMD with the process
        # command, as `docker run` does, so the generated command is the CMD alone.
        cmd = _argv(config.get("Cmd")) or _argv(config.get("Entrypoint"))
        if not cmd:
            raise InvalidProcfile(
                f"image {identity} has no Procfile in its WORKDIR ({workdir}) and no CMD: "
                "add a Procfile or a CMD"
            )
        return ProcfileSource(generate_from_cmd(cmd), path=None, cmd=tuple(cmd))

    def discard(self, identity: str) -> None:
        """Remove the image from the engine unless a container still uses it."""
        try:
            self._client.images.remove(identity)
        except docker.errors.NotFound:
            pass
        except docker.errors.APIError as exc:  # in use (409) or shared by a tag: keep it
            log.info("kept image %s: %s", identity, exc.explanation or exc)

    def _inspect(self, image: str) -> dict[str, Any] | None:
        try:
            return self._client.images.get(image).attrs
        except docker.errors.NotFound:
            return None

    def _pull(self, repository: str, tag: str, progress: ProgressFn | None) -> None:
        auth = self._credentials(repository)
        stream = self._api.pull(repository, tag=tag, stream=True, decode=True, auth_config=auth)
        message: JsonMessage
        for message in stream:
            if message.get("error"):
                raise _PullFailed(str(message["error"]))
            if progress is not None:
                progress(message)

    def _read_file(self, image: str, path: str) -> bytes | None:
        """Copy a file out of a never-started container; None when there is no such file."""
        container = self._api.create_container(
            image, entrypoint=_PROBE_ENTRYPOINT, network_disabled=True, labels=[_PROBE_LABEL]
        )
        try:
            for _ in range(_MAX_SYMLINKS):
                try:
                    chunks, stat = self._api.get_archive(container["Id"], path)
                except docker.errors.NotFound:
                    return None
                data = b"".join(chunks)
                mode = int(stat.get("mode", 0))
                if mode & _MODE_SYMLINK:
                    # The archive holds the link itself; the engine resolves its target for us.
                    path = posixpath.join(posixpath.dirname(path), stat["linkTarget"])
                    continue
                if mode & _MODE_DIR:
                    raise InvalidProcfile(f"{path} in image {image} is a directory, not a file")
                return _first_file(data, path)
            raise InvalidProcfile(f"{path} in image {image}: too many levels of symbolic links")
        finally:
            with suppress(docker.errors.NotFound):
                self._api.remove_container(container["Id"], force=True)

    def _credentials(self, repository: str) -> dict[str, str] | None:
        """Return the username and password for the repository's registry, if configured."""
        if self._auth_config_path is None:
            return None
        host = _registry_host(repository)
        for key, entry in _load_auths(self._auth_config_path).items():
            if _normalize_host(key) == host and isinstance(entry, dict):
                return _decode_auth(self._auth_config_path, key, entry)
        return None


@contextmanager
def _engine_errors(image: str) -> Iterator[None]:
    """Translate the docker SDK's exceptions into ImageNotFound and RegistryError."""
    try:
        yield
    except (docker.errors.APIError, _PullFailed) as e:
        reason = _reason(e)
        if isinstance(e, docker.errors.NotFound) or any(m in reason.lower() for m in _MISSING):
            raise ImageNotFound(
                f"image {image} not found: {reason}. "
                "Check the name and tag, and that the registry is reachable"
            ) from e
        raise RegistryError(f"cannot pull or inspect image {image}: {reason}") from e
    except (docker.errors.DockerException, requests.exceptions.RequestException) as e:
        raise RegistryError(f"cannot reach the Docker engine: {e}") from e


def _reason(error: Exception) -> str:
    if isinstance(error, docker.errors.APIError) and error.explanation:
        return str(error.explanation)
    return str(error)


def _local_name(ref: ImageRef) -> str:
    if ref.digest:
        return f"{ref.full_repository}@{ref.digest}"
    return f"{ref.full_repository}:{ref.tag or 'latest'}"


def _identity(ref: ImageRef, attrs: dict[str, Any]) -> ResolvedImage:
    """Pick the repository digest of the same repository, else fall back to the image ID."""
    wanted = _canonical_repository(ref.full_repository)
    digests = [
        d
        for d in attrs.get("RepoDigests") or []
        if _canonical_repository(d.partition("@")[0]) == wanted
    ]
    if ref.digest:
        digests = [d for d in digests if d.endswith(f"@{ref.digest}")] or digests
    if digests:
        return ResolvedImage(identity=digests[0], has_digest=True)
    return ResolvedImage(identity=str(attrs["Id"]), has_digest=False)


def _canonical_repository(repository: str) -> str:
    """Spell Docker Hub repositories one way: `busybox`, not `docker.io/library/busybox`."""
    first, _, rest = repository.partition("/")
    if first in _DOCKER_HUB and rest:
        repository = rest
    return repository.removeprefix("library/")


def _registry_host(repository: str) -> str:
    first, _, rest = repository.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        return _normalize_host(first)
    return "docker.io"


def _normalize_host(key: str) -> str:
    """Reduce a config.json `auths` key (`https://index.docker.io/v1/`) to its host."""
    host = key.removeprefix("https://").removeprefix("http://").split("/", 1)[0]
    return "docker.io" if host in _DOCKER_HUB else host


def _load_auths(path: str) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as f:
            config = json.load(f)
    except (OSError, ValueError) as e:
        raise RegistryError(f"cannot read registry credentials from {path}: {e}") from e
    auths = config.get("auths") if isinstance(config, dict) else None
    return auths if isinstance(auths, dict) else {}


def _decode_auth(path: str, key: str, entry: dict[str, Any]) -> dict[str, str]:
    if isinstance(entry.get("username"), str) and isinstance(entry.get("password"), str):
        return {"username": entry["username"], "password": entry["password"]}
    try:
        username, sep, password = (
            base64.b64decode(str(entry.get("auth", ""))).decode().partition(":")
        )
    except (binascii.Error, UnicodeDecodeError) as e:
        raise RegistryError(f"invalid auth for {key} in {path}: {e}") from e
    if not sep or not username:
        raise RegistryError(f"invalid auth for {key} in {path}: expected base64 of user:password")
    return {"username": username, "password": password}


def _argv(value: object) -> list[str]:
    if isinstance(value, list):
        return [str(a) for a in value]
    return [value] if isinstance(value, str) and value else []


def _first_file(data: bytes, path: str) -> bytes:
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        for member in tar:
            if member.isfile():
                f = tar.extractfile(member)
                if f is not None:
                    return f.read()
    raise InvalidProcfile(f"{path} is not a regular file")
