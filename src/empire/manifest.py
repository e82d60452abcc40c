"""One pure function turns a release into what a scheduler runs."""

from __future__ import annotations

import dataclasses
import re

from empire import sizes
from empire.model import App, Exposure, Formation, Release
from empire.scheduler import Manifest, ManifestProcess, labels

RELEASE = "release"  # the Procfile's release phase: run once per release, never a process


def process_types(formation: Formation) -> list[str]:
    """A formation's process types, sorted: all but the release phase."""
    return sorted(name for name in formation if name != RELEASE)


def phase(app: App, release: Release) -> Manifest | None:
    """The manifest of the release's release phase (its only process is `release`), or None
    when the Procfile has none."""
    process = release.formation.get(RELEASE)
    if process is None:
        return None
    runner = dataclasses.replace(process, quantity=1, noservice=False)
    return build(app, dataclasses.replace(release, formation={RELEASE: runner}), phase=True)


def build(
    app: App, release: Release, domains: tuple[str, ...] = (), *, phase: bool = False
) -> Manifest:
    """Build the manifest of `release`: env, labels, sizes; maintenance means zero instances.
    The release phase is no process of it (see `phase`). Whether the app is public is the
    app's stored `exposure` (adding its first domain sets it, removing its last one clears
    it, in the same transaction), never worked out again here."""
    release_labels = {
        labels.APP: app.name,
        labels.APP_ID: app.id,
        labels.RELEASE: f"v{release.version}",
    }
    env = dict(release.config.vars)
    processes = []
    for process in release.formation.values():
        if process.name == RELEASE and not phase:
            continue
        size = process.size or sizes.DEFAULT
        quantity = 0 if app.maintenance or process.noservice else max(process.quantity, 0)
        penv = {
            **env,
            **dict(process.environment),
            "EMPIRE_APPID": app.id,
            "EMPIRE_APPNAME": app.name,
            "EMPIRE_PROCESS": process.name,
            "EMPIRE_PROCESS_SCALE": str(process.quantity),
            "EMPIRE_RELEASE": f"v{release.version}",
            "SOURCE": f"{app.name}.{process.name}.v{release.version}",
        }
        if process.ports:
            penv["PORT"] = str(process.ports[0].container)
        processes.append(
            ManifestProcess(
                name=process.name,
                command=command(process.command, penv),
                quantity=quantity,
                cpu_shares=size.cpu_shares,
                memory=size.memory,
                nproc=size.nproc,
                env=penv,
                labels={**release_labels, labels.PROCESS: process.name},
                ports=process.ports,
                healthcheck=process.healthcheck,
                schedule=process.cron,
                noservice=process.noservice,
                shown=" ".join(process.command),
            )
        )
    return Manifest(
        app_id=app.id,
        app_name=app.name,
        release=release.version,
        image=release.slug.image,
        env=env,
        labels=release_labels,
        processes=tuple(sorted(processes, key=lambda p: p.name)),
        public=app.exposure is Exposure.PUBLIC,
        domains=domains if app.exposure is Exposure.PUBLIC else (),
        certs=dict(app.certs),
    )


_SHELLS = {"sh", "bash", "dash", "ash", "zsh"}


def command(argv: tuple[str, ...], env: dict[str, str]) -> tuple[str, ...]:
    """Return the argv to run: variables expanded, unless a shell (`sh -c`) will expand them."""
    if argv and argv[0].rsplit("/", 1)[-1] in _SHELLS and "-c" in argv:
        return argv
    return tuple(expand(arg, env) for arg in argv)


_VAR = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))")


def expand(arg: str, env: dict[str, str]) -> str:
    """Expand `$NAME` and `${NAME}` from the process env, as a Procfile's shell would.

    Commands run without a shell (an image need not have one), so `web: httpd -p $PORT`
    gets its port here; unknown names are left as they are.
    """

    def value(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        return env.get(name, match.group(0))

    return _VAR.sub(value, arg)
