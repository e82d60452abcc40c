"""Session fixtures shared by every tier. Each starts its service for real, once."""

from __future__ import annotations

from collections.abc import Iterator

import docker
import pytest

from support.services import PostgresCluster, ensure_dockerd


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
    cluster = PostgresCluster()
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.close()


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
