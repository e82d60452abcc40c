"""The labels every engine-based backend (Docker, Swarm) puts on what it runs; ECS tags its
resources with the same keys.

They belong to the scheduler contract, not to a backend: `manifest.build` sets the first three,
the backends the rest, and `docker ps` on any node of any backend reads the same way.
"""

from __future__ import annotations

from collections.abc import Mapping

APP = "empire.app"  # the app's name
APP_ID = "empire.app.id"
RELEASE = "empire.release"  # `v<version>`
PROCESS = "empire.process"  # the process type
COMMAND = "empire.command"  # the command as the Procfile wrote it (what `ps` shows)
INDEX = "empire.index"  # the instance number (a one-off run's number)
SPEC = "empire.spec"  # hash of what needs a new container (task template) when it changes
NONCE = "empire.nonce"  # a restart's nonce: part of the spec
CONFIG = "empire.swarm.config"  # Swarm: hash of the service spec but replicas and template
KIND = "empire.kind"  # one of the kinds below
NETWORK = "empire.network"  # the network the backend runs its containers on
MANAGED = "empire.managed"  # on networks and infrastructure containers Empire made
ATTACHED = "empire.attached"  # an attached one-off run
PORT = "empire.port"  # Swarm: on the service of a process with ports, the port the router dials

# Kinds of what runs.
SERVICE = "service"  # a process type's long-running instances
RUN = "run"  # a one-off run (`emp run`)
CRON = "cron"  # a scheduled run
RELEASE_PHASE = "release"  # a release's release phase


def number(text: str) -> int:
    """A label's number (an index, a version without its `v`); 0 when it is none."""
    try:
        return int(text)
    except ValueError:
        return 0


def made_by_empire(name: str, tags: Mapping[str, str]) -> bool:
    """Whether a container with these labels was made by Empire, by its name: labels alone
    prove nothing, since a build's intermediate containers carry whatever `LABEL` lines the
    pushed Dockerfile wrote (`empire.app.id=<another app's id>` included), but their names are
    the engine's own (`eager_turing`). Empire names a Docker container `empire-<app>-...` (a
    release phase `empire-release-<app>-...`) and Swarm a task's `<app>_<process>.<slot>.<id>`
    (`<app>__run_<n>.<slot>.<id>`)."""
    app = tags.get(APP, "")
    name = name.lstrip("/")
    if not app:
        return False
    if name.startswith((f"empire-{app}-", f"empire-release-{app}-")):
        return True
    return name.startswith(f"{app}_") and "." in name
