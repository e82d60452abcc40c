"""The one translation of the Docker SDK's errors into `SchedulerError`.

Every call into the engine runs inside `engine_errors`, which names what was being done. Both
backends speak to a Docker engine (Swarm's is a manager's), so they share the words too.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import docker.errors
import requests

from empire.errors import SchedulerError


def gone(error: docker.errors.APIError) -> bool:
    """Whether the engine says the object is already gone, or being removed already."""
    return isinstance(error, docker.errors.NotFound) or "in progress" in reason(error)


def reason(error: docker.errors.APIError) -> str:
    return str(error.explanation or error)


@contextlib.contextmanager
def engine_errors(action: str, *, missing_ok: bool = False) -> Iterator[None]:
    """Translate docker SDK errors raised while doing `action` into SchedulerError.

    With `missing_ok`, a container, service, task or network that is already gone (or being
    removed already) is not an error: the block is left quietly.
    """
    try:
        yield
    except docker.errors.APIError as e:
        if missing_ok and gone(e):
            return
        why = reason(e)
        if isinstance(e, docker.errors.ImageNotFound):
            raise SchedulerError(
                f"cannot {action}: the image is not on the Docker engine ({why})"
            ) from e
        if e.status_code == 503 and "not a swarm manager" in why:
            raise SchedulerError(
                f"cannot {action}: the Docker engine is not a swarm manager ({why}); point "
                "EMPIRE_DOCKER_HOST at a manager's engine"
            ) from e
        raise SchedulerError(
            f"cannot {action}: the Docker engine answered {e.status_code}: {why}"
        ) from e
    except (docker.errors.DockerException, requests.exceptions.RequestException) as e:
        raise SchedulerError(f"cannot {action}: the Docker engine is unreachable ({e})") from e
