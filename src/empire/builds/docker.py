"""The Docker engine's classic builder behind the `Builder` port.

The context (already checked: `empire.builds.context`) is posted to the engine's `/build` as a
plain tar, with the step containers' CPU shares and memory limited, no build arguments at all
(so nothing of Empire's environment or the app's config vars reaches a step), and no label
(a LABEL step would cost a container per build). The image is tagged `<app>:<version>`; the
daemon tags the image only when every step passed; `forcerm` removes the
step containers of a failed build too. A build past its timeout is stopped by closing its
connection, which makes the engine cancel it.
"""

from __future__ import annotations

import contextlib
import logging
import re
import threading
from collections.abc import Callable, Iterator
from typing import Any

from empire.builds import BuildFailed, BuildSpec
from empire.builds.registry import Credentials
from empire.errors import Unavailable

log = logging.getLogger("empire.builds")
VERSION = re.compile(r"[0-9a-f]{7,8}")  # a short commit or a build id's first 8


class DockerBuilder:
    """Builds Dockerfile contexts with the engine of `client` (a docker.DockerClient); with a
    `registry` (`host[:port][/path]`) each image is also pushed to `<registry>/<app>` and
    deployed from there by digest (what Swarm and ECS nodes pull), with the registry's
    `credentials` when given (`empire.builds.registry`: a config.json, ECR's token)."""

    def __init__(
        self, client: Any, registry: str | None = None, credentials: Credentials | None = None
    ) -> None:
        self.api = client.api
        self.registry = registry.rstrip("/") if registry else None
        self.credentials = credentials

    def build(self, spec: BuildSpec, output: Callable[[str], None]) -> str:
        limits = spec.limits
        params = {
            "t": spec.tag,
            "rm": "1",
            "forcerm": "1",
            "pull": "0",
            "memory": str(limits.memory),
            "memswap": str(limits.memory),  # no swap beyond the memory limit
            "cpushares": str(limits.cpu_shares),
        }
        try:
            response = self.api._post(
                self.api._url("/build"),
                data=spec.context,
                params=params,
                headers={"Content-Type": "application/x-tar"},
                stream=True,
                timeout=limits.timeout + 30,
            )
            self.api._raise_for_status(response)
        except Exception as exc:  # the engine is down, or refused the request
            raise Unavailable(f"the Docker engine did not take the build: {exc}") from exc
        expired = threading.Event()

        def expire() -> None:
            expired.set()
            with contextlib.suppress(Exception):
                response.close()  # the engine cancels a build whose client went away

        timer = threading.Timer(limits.timeout, expire)
        timer.daemon = True
        timer.start()
        image = ""
        error = ""
        try:
            for message in self._messages(response):
                if "error" in message:
                    error = str(message.get("error") or "the build failed")
                    break
                aux = message.get("aux")
                if isinstance(aux, dict) and isinstance(aux.get("ID"), str):
                    image = aux["ID"]
                stream = message.get("stream")
                if isinstance(stream, str):
                    yield_lines(stream, output)
                elif isinstance(message.get("status"), str):  # a base image's pull
                    output(str(message["status"]))
        except Exception as exc:
            if not expired.is_set():
                raise BuildFailed(f"the build stopped: {exc}") from exc
        finally:
            timer.cancel()
            with contextlib.suppress(Exception):
                response.close()
        if expired.is_set():
            self._untag(spec.tag)
            raise BuildFailed(f"the build took longer than {limits.timeout:g} s and was stopped")
        if error:
            raise BuildFailed(f"the build failed: {error.strip()}")
        if not image:
            image = self._inspect_id(spec.tag)
        if not image:
            raise BuildFailed("the build ended without an image")
        if self.registry is None:
            return spec.tag
        try:
            return self._push(spec, image, output)
        except BuildFailed:
            self._untag(spec.tag)
            raise

    def _push(self, spec: BuildSpec, image: str, output: Callable[[str], None]) -> str:
        """Push the image to `<registry>/<app>:<version>`; return `<registry>/<app>@<digest>`."""
        repository = f"{self.registry}/{spec.app}"
        version = spec.tag.rpartition(":")[2]
        digest = ""
        try:
            self.api.tag(image, repository, version)
            credentials = self._auth()
            if self.credentials is not None:
                self.credentials.prepare(repository)
            output(f"Pushing {repository}:{version}")
            stream = self.api.push(
                repository, tag=version, stream=True, decode=True, auth_config=credentials
            )
            for message in stream:
                if not isinstance(message, dict):
                    continue
                if "error" in message:
                    raise BuildFailed(
                        f"pushing {repository}:{version} failed: {message.get('error')}"
                    )
                aux = message.get("aux")
                if isinstance(aux, dict) and isinstance(aux.get("Digest"), str):
                    digest = aux["Digest"]
                elif isinstance(message.get("status"), str) and not message.get("progressDetail"):
                    ident = message.get("id")
                    output((f"{ident}: " if ident else "") + str(message["status"]))
        except BuildFailed:
            self._untag(f"{repository}:{version}")
            raise
        except Exception as exc:
            self._untag(f"{repository}:{version}")
            raise BuildFailed(f"pushing {repository}:{version} failed: {exc}") from exc
        if not digest:
            self._untag(f"{repository}:{version}")
            raise BuildFailed(f"pushing {repository}:{version} gave no digest")
        return f"{repository}@{digest}"

    def _auth(self) -> dict[str, str] | None:
        if self.credentials is None or self.registry is None:
            return None
        return self.credentials.auth()

    def prune(self, app: str, keep: set[str]) -> None:
        names = [app] if self.registry is None else [app, f"{self.registry}/{app}"]
        try:
            images = [image for name in names for image in self.api.images(name=name)]
        except Exception as exc:
            log.warning("could not list the build images of %s: %s", app, exc)
            return
        for image in images:
            tags = [tag for tag in image.get("RepoTags") or () if _built(tag, names)]
            if not tags or {tag.rpartition(":")[2] for tag in tags} & keep:
                continue
            for tag in tags:
                try:
                    self.api.remove_image(tag)
                except Exception as exc:  # in use by a container, say: kept for now
                    log.info("kept build image %s: %s", tag, exc)

    def _messages(self, response: Any) -> Iterator[dict[str, Any]]:
        for chunk in self.api._stream_helper(response, decode=True):
            if isinstance(chunk, dict):
                yield chunk

    def _inspect_id(self, tag: str) -> str:
        try:
            return str(self.api.inspect_image(tag).get("Id") or "")
        except Exception:
            return ""

    def _untag(self, tag: str) -> None:
        with contextlib.suppress(Exception):
            self.api.remove_image(tag)


def _built(tag: str, names: list[str]) -> bool:
    """Whether `tag` is one a build gives (`<app>:<7 or 8 hex digits>`, or the same in the
    registry), so that an image the operator named like the app (`redis:7`) is never pruned."""
    repository, _, version = tag.rpartition(":")
    return repository in names and VERSION.fullmatch(version) is not None


def yield_lines(stream: str, output: Callable[[str], None]) -> None:
    """Pass each line of a build `stream` chunk on (a chunk may hold several, or end bare)."""
    for line in stream.splitlines():
        if line.strip():
            output(line)
