"""A release's release phase on the Docker backend: one container, run to its end.

The container is a one-off of the new release (its image, its config, the `release` process's
size; kind `release`, index = the release's version, so its lines read `release.<N>` in the
app's logs), on the app network like any process, never restarted. Its output is followed as it
comes (lines cut at 10,000 bytes, binary data decoded with replacement) and handed on line by
line; the last lines are kept for the verdict. Still running at the timeout, it is killed.
The container is kept once it ended, so `emp logs` shows its lines, until the app's next
release phase replaces it.
"""

from __future__ import annotations

import collections
import contextlib
import threading
from collections.abc import Callable

from empire.scheduler import Manifest, ManifestProcess, PhaseResult, labels
from empire.scheduler.docker import containers
from empire.scheduler.docker.instances import list_instances
from empire.scheduler.kit import containers as kit
from empire.scheduler.kit import logs
from empire.scheduler.kit.api import EngineAPI
from empire.scheduler.kit.attach import EngineAttachment, timed_out
from empire.scheduler.kit.errors import engine_errors

TAIL = 20  # lines of output kept for the verdict


def run(
    api: EngineAPI,
    network: containers.Network,
    manifest: Manifest,
    process: ManifestProcess,
    *,
    timeout: float,
    output: Callable[[str], None],
) -> PhaseResult:
    """Run the phase to its end (or the timeout); see the module's docstring."""
    placement = network.place(manifest.app_id)
    earlier = list_instances(
        api, f"{labels.APP_ID}={manifest.app_id}", f"{labels.KIND}={labels.RELEASE_PHASE}"
    )
    for instance in earlier:
        kit.remove(api, instance.id, None)
    container_id = containers.create(
        api,
        manifest,
        process,
        kind=labels.RELEASE_PHASE,
        index=manifest.release,
        nonce="",
        placement=placement,
    )
    tail: collections.deque[str] = collections.deque(maxlen=TAIL)
    with engine_errors(f"attach to the release phase of v{manifest.release}"):
        sock = api.attach_socket(container_id, params={"stdout": 1, "stderr": 1, "stream": 1})
    # Attached before it starts: no line is lost, however soon it ends.
    session = EngineAttachment(
        api, container_id, f"v{manifest.release}.release", tty=False, sock=sock
    )
    try:
        kit.start(api, container_id)
    except BaseException:
        session.close()
        raise
    reader = threading.Thread(
        target=_read,
        args=(session, tail, output),
        name=f"empire-release-{manifest.app_name}-v{manifest.release}",
        daemon=True,
    )
    reader.start()
    code = _wait(api, container_id, timeout)
    if code is None:
        session.kill()  # killed at the timeout, and removed
    reader.join(timeout=5)
    session.close()
    return PhaseResult(code, tuple(tail))


def _wait(api: EngineAPI, container_id: str, timeout: float) -> int | None:
    """The exit code, or None when it still ran after `timeout` seconds."""
    try:
        with engine_errors(f"wait for container {container_id[:12]}"):
            result = api.wait(container_id, timeout=timeout)
    except Exception as e:
        if timed_out(e.__cause__):
            return None
        raise
    return int(result.get("StatusCode", -1))


def _read(
    session: EngineAttachment, tail: collections.deque[str], output: Callable[[str], None]
) -> None:
    with contextlib.suppress(OSError):  # the connection was shut down
        for raw in logs.split_lines(chunk for _, chunk in session.output()):
            line = raw.decode("utf-8", "replace").rstrip("\r")
            tail.append(line)
            output(line)
