"""Images on the local Docker engine, through the docker SDK.

An image is identified by its repository digest (`repo@sha256:…`) when the engine knows one,
else by its image ID (`sha256:…`, an image built locally and never pushed). An image already
present is used as is; only a missing one is pulled. The Procfile is copied out of a container
that is created from the image and never started, and read only up to procfile.MAX_BYTES.

The engine is shared with the operator (and with other apps): a reference is checked against the
`ImagePolicy` before the engine sees it, and `discard` removes only what Empire itself pulled
(kept in a small ledger, `pulled_path`), never an image a container uses or the operator tagged.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import logging
import os
import posixpath
import socket
import tarfile
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import docker
import docker.errors
import requests

from empire.errors import ImageNotFound, InvalidProcfile, RegistryError
from empire.images import ImageRef, JsonMessage, ProcfileSource, ProgressFn, ResolvedImage
from empire.images.policy import ImagePolicy, Resolver
from empire.procfile import MAX_BYTES, generate_from_cmd

# The probe container is never started; an explicit entrypoint lets `create` accept images
# with no CMD (FROM scratch).
log = logging.getLogger("empire.images")
_PROBE_ENTRYPOINT = ["/empire-procfile-probe"]
_PROBE_LABEL = "io.empire.procfile-probe"
_MODE_DIR = 1 << 31  # Go's os.ModeDir, as the engine reports it in an archive's stat
_MODE_SYMLINK = 1 << 27  # Go's os.ModeSymlink
_MAX_SYMLINKS = 8
_TAR_OVERHEAD = 64 * 1024  # a one-file archive: headers and padding around the file
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
    """Resolve images and read their Procfiles with the local Docker engine.

    `policy` says which references may be deployed (default: any, but no registry at a local
    address); `resolve` looks up a registry host's addresses for it. `pulled_path` is where the
    ledger of images Empire pulled is kept across restarts (None: in memory only).
    """

    def __init__(
        self,
        client: docker.DockerClient,
        *,
        auth_config_path: str | None = None,
        policy: ImagePolicy | None = None,
        resolve: Resolver | None = None,
        pulled_path: Path | None = None,
    ) -> None:
        self._client = client
        self._api = client.api
        self._auth_config_path = auth_config_path
        self.policy = policy or ImagePolicy()
        self._resolve_host = resolve or host_addresses
        self.pulled = PulledImages(pulled_path)

    def resolve(self, ref: ImageRef, progress: ProgressFn | None = None) -> ResolvedImage:
        """Return the image's identity, pulling it only when it is not present locally."""
        self.policy.check(ref, self._resolve_host)
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
                resolved = identity_of(ref, attrs)
                self.pulled.add(resolved.identity, None if ref.digest else name)
                return resolved
        return identity_of(ref, attrs)

    def procfile(self, identity: str) -> ProcfileSource:
        """Read `<WORKDIR>/Procfile` from the image, else generate one from its command."""
        with _engine_errors(identity):
            attrs = self._inspect(identity)
            if attrs is None and "@" in identity:
                # Resolved earlier but removed since (e.g. pruned): the digest pins the content.
                repository, _, digest = identity.partition("@")
                self._pull(repository, digest, None)
                attrs = self._inspect(identity)
                if attrs is not None:
                    self.pulled.add(identity, None)
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
        """Remove what Empire's pull of the image added to the engine, when nothing uses it.

        Only an image in the pull ledger is touched: one that was on the engine before (built
        or pulled by the operator) is never removed. A container of the image (in any state)
        keeps it. Empire removes the tag its pull created, then the digest reference unless the
        repository still has a tag on the image (someone else's); the engine deletes the image
        only when no reference is left, so one another repository or tag names stays. Best
        effort: on an engine error the image stays in the ledger and a later call retries.
        """
        tags = self.pulled.tags(identity)
        if tags is None:
            log.debug("kept image %s: Empire did not pull it", identity)
            return
        try:
            attrs = self._inspect(identity)
            if attrs is None:
                self.pulled.forget(identity)
                return
            image_id = str(attrs["Id"])
            if self._api.containers(all=True, quiet=True, filters={"ancestor": image_id}):
                log.info("kept image %s: a container uses it", identity)
                return
            for tag in tags:
                tagged = self._inspect(tag)
                if tagged is not None and tagged["Id"] == image_id:
                    self._api.remove_image(tag)
            attrs = self._inspect(image_id)
            repository = _canonical_repository(identity.partition("@")[0])
            if attrs is not None and "@" in identity and not _tagged_in(attrs, repository):
                with suppress(docker.errors.NotFound):
                    self._api.remove_image(identity)
            self.pulled.forget(identity)
        except docker.errors.APIError as exc:  # in use (409), or the engine failed: keep it
            log.info("kept image %s: %s", identity, exc.explanation or exc)
        except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
            log.warning("kept image %s: cannot reach the Docker engine: %s", identity, exc)

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
                mode = int(stat.get("mode", 0))
                if not mode & (_MODE_SYMLINK | _MODE_DIR) and int(stat.get("size", 0)) > MAX_BYTES:
                    chunks.close()
                    raise _too_big(path, int(stat["size"]))
                data = _read_bounded(chunks, MAX_BYTES + _TAR_OVERHEAD, path)
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


def identity_of(ref: ImageRef, attrs: dict[str, Any]) -> ResolvedImage:
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
                if member.size > MAX_BYTES:
                    raise _too_big(path, member.size)
                f = tar.extractfile(member)
                if f is not None:
                    return f.read()
    raise InvalidProcfile(f"{path} is not a regular file")


def _read_bounded(chunks: Iterator[bytes], limit: int, path: str) -> bytes:
    """Join an archive's chunks, refusing (and closing the stream) past `limit` bytes."""
    data = bytearray()
    for chunk in chunks:
        data += chunk
        if len(data) > limit:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()
            raise _too_big(path, limit, exact=False)
    return bytes(data)


def _too_big(path: str, size: int, *, exact: bool = True) -> InvalidProcfile:
    return InvalidProcfile(
        f"{path} is {'' if exact else 'over '}{size} bytes, over the limit of {MAX_BYTES} "
        "(64 KiB) for a Procfile: a Procfile lists processes, move long scripts into the image"
    )


def _tagged_in(attrs: dict[str, Any], repository: str) -> bool:
    """Whether the image has a tag in `repository` (spelled as `_canonical_repository` does)."""
    tags: Iterable[str] = attrs.get("RepoTags") or []
    return any(_canonical_repository(t.rpartition(":")[0]) == repository for t in tags)


def host_addresses(host: str) -> list[str]:
    """The addresses a registry host name resolves to here ([] when it does not resolve: the
    engine will then fail to pull, with its own message)."""
    try:
        found = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError, ValueError):
        return []
    return [str(info[4][0]) for info in found]


class PulledImages:
    """The ledger of images Empire pulled: identity -> the tags the pull created.

    Kept as JSON at `path` (0600, replaced atomically) when given, so a restarted Empire still
    knows what it may discard; in memory only otherwise. Thread-safe.
    """

    def __init__(self, path: Path | None = None) -> None:
        self._path = path
        self._lock = threading.Lock()
        self._pulled: dict[str, list[str]] = self._load()

    def add(self, identity: str, tag: str | None) -> None:
        """Record that Empire pulled `identity`, creating `tag` (None: pulled by digest)."""
        with self._lock:
            tags = self._pulled.setdefault(identity, [])
            if tag is not None and tag not in tags:
                tags.append(tag)
            self._save()

    def tags(self, identity: str) -> list[str] | None:
        """The tags Empire's pulls of `identity` created; None when Empire did not pull it."""
        with self._lock:
            tags = self._pulled.get(identity)
            return list(tags) if tags is not None else None

    def forget(self, identity: str) -> None:
        with self._lock:
            if self._pulled.pop(identity, None) is not None:
                self._save()

    def _load(self) -> dict[str, list[str]]:
        if self._path is None:
            return {}
        try:
            data = json.loads(self._path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as e:
            log.warning(
                "cannot read the pulled-images ledger %s (starting empty): %s", self._path, e
            )
            return {}
        if not isinstance(data, dict):
            return {}
        return {str(k): [str(t) for t in v] for k, v in data.items() if isinstance(v, list)}

    def _save(self) -> None:
        if self._path is None:
            return
        self._path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self._path.with_name(f".{self._path.name}.{os.getpid()}.tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(self._pulled, f, sort_keys=True)
        os.replace(temporary, self._path)
