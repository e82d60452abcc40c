"""Session fixtures shared by every tier, and the markers that say what each test needs.

Each fixture starts its service for real, once. Every test is marked with the services it
needs, by its tier (`TIERS`) and by the fixtures it uses (`FIXTURES`), plus `services` when it
needs any: `pytest -m "not services"` (scripts/check) runs without root, apt or a Docker
engine, and `pytest -m services` runs the rest (scripts/test runs both, cheap first).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from support.services import PostgresCluster, ensure_dockerd

TESTS = Path(__file__).parent

# What each tier's tests need; a new tier must say so here (collection fails until it does).
TIERS: dict[str, tuple[str, ...]] = {
    "unit": (),
    "service": (),
    "api": (),
    "cli": (),
    "store": ("postgres",),
    "integration": ("docker", "caddy", "registry"),
    "swarm": ("docker", "swarm", "registry", "caddy"),
    "ecs": ("moto",),
    "faults": ("docker", "caddy", "postgres"),
    "clients": ("heroku_cli",),
}
# Fixtures that start a service, wherever they are used.
FIXTURES = {
    "postgres": "postgres",
    "postgres_url": "postgres",
    "docker_client": "docker",
    "chromium": "chromium",
}
SERVICES = ("docker", "swarm", "postgres", "caddy", "registry", "heroku_cli", "moto", "chromium")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test with the services it needs (and `services` when there is any)."""
    for item in items:
        tier = item.path.relative_to(TESTS).parts[0]
        if tier not in TIERS:
            raise pytest.UsageError(
                f"{item.nodeid}: tests/{tier} is not a known tier: add it to TIERS in "
                "tests/conftest.py with the services its tests need"
            )
        needs = set(TIERS[tier])
        needs.update(FIXTURES[name] for name in item.fixturenames if name in FIXTURES)
        needs.update(mark.name for mark in item.iter_markers() if mark.name in SERVICES)
        for name in sorted(needs):
            item.add_marker(name)
        if needs:
            item.add_marker("services")


@pytest.fixture(scope="session", autouse=True)
def cheap_bcrypt() -> Iterator[None]:
    """bcrypt at its lowest cost in the test process: the default costs a quarter of a second
    a hash. Every hash and check stays bcrypt, all of one cost (as login's timing rule needs);
    the server processes the tiers start keep the default for the hashes they make."""
    import bcrypt

    default = bcrypt.gensalt
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(bcrypt, "gensalt", lambda rounds=4, prefix=b"2b": default(rounds, prefix))
        yield


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresCluster]:
    """A private PostgreSQL server with an empty ``empire`` database."""
    with PostgresCluster() as cluster:
        yield cluster


@pytest.fixture(scope="session")
def postgres_url(postgres: PostgresCluster) -> str:
    """SQLAlchemy URL: ``postgresql+psycopg://postgres@127.0.0.1:PORT/empire``."""
    return postgres.url


@pytest.fixture(scope="session")
def docker_client() -> Iterator[docker.DockerClient]:
    """A client of the machine's main Docker engine (started if it is not running)."""
    ensure_dockerd()
    client = docker.from_env()
    try:
        yield client
    finally:
        client.close()
