"""The fault tier: break the real stack (Empire, Docker, Caddy, SQLite, PostgreSQL) and watch it
heal. Fixtures build the app images once, make stacks that are torn down whatever happens, and a
PostgreSQL server of the tier's own (tests stop it). The table of every fault is printed at the
end of the run (`pytest_terminal_summary`), whatever `-s` says.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import pytest

from support import busybox, faults
from support.faults import FaultStack
from support.services import PostgresCluster


@dataclass(frozen=True)
class Images:
    web: str  # answers `<release>-<GREETING>` on $PORT
    web2: str  # the same app, another image
    crash: str  # exits at once
    mute: str  # runs but never listens: never healthy


@pytest.fixture(scope="session", autouse=True)
def nothing_left_behind(docker_client: docker.DockerClient) -> Iterator[None]:
    """After the tier: no container, network or namespace it made is left (an error if so)."""
    yield
    left = faults.leftovers(docker_client)
    if left:
        pytest.fail(f"the fault tier left these behind (now removed): {', '.join(left)}")


@pytest.fixture(scope="session")
def images(docker_client: docker.DockerClient) -> Iterator[Images]:
    """The tier's app images on the main engine, built once."""
    workdir = Path(tempfile.mkdtemp(prefix="empire-fx-images-"))
    built: list[str] = []
    try:
        base = busybox.build_base(docker_client, workdir)
        built.append(base)
        made = Images(
            web=busybox.build_app(docker_client, base, workdir, procfile=busybox.WEB, name="fxweb"),
            web2=busybox.build_app(
                docker_client, base, workdir, procfile=busybox.WEB + b"# another image\n"
            ),
            crash=busybox.build_app(docker_client, base, workdir, procfile=busybox.CRASH),
            mute=busybox.build_app(docker_client, base, workdir, procfile=busybox.MUTE),
        )
        built += [made.web, made.web2, made.crash, made.mute]
        yield made
    finally:
        busybox.remove(docker_client, *reversed(built))
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="session")
def fault_postgres() -> Iterator[PostgresCluster]:
    """A PostgreSQL server of this tier's own: its tests stop and start it."""
    with PostgresCluster() as cluster:
        yield cluster


@pytest.fixture
def make_stack(
    tmp_path: Path, docker_client: docker.DockerClient
) -> Iterator[Callable[..., FaultStack]]:
    """Start FaultStacks (on the main engine unless told otherwise); all closed at teardown."""
    made: list[FaultStack] = []

    def make(**options: Any) -> FaultStack:
        options.setdefault("client", docker_client)
        stack = FaultStack(tmp_path / f"stack{len(made)}", **options)
        made.append(stack)
        stack.start()
        return stack

    yield make
    for stack in reversed(made):
        stack.close()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    lines = faults.table()
    if not lines:
        return
    terminalreporter.section("faults: what the stack survived")
    for line in lines:
        terminalreporter.write_line(line)
    for note in faults.notes():
        terminalreporter.write_line(f"  {note}")
