"""Fixtures of the ECS tier: a real `moto_server` process, and fresh AWS infrastructure per test.

The server is started once per session on a free loopback port and stopped with SIGTERM.
Two of its settings are moto's own knobs, set on the server process only:
`MOTO_ECS_SERVICE_RUNNING` makes each new service's deployment report its tasks running and
its rollout COMPLETED (moto starts no tasks), and the `ecs::task` state transition is made
manual so tasks stay RUNNING while they are described. Clients get fake credentials
explicitly and `max_attempts=1` (moto answers NotImplemented with HTTP 500).

Each test gets its own cluster, VPC, ALBs, listeners and hosted zone (`infra`), so tests
share the server but not their resources; everything the backend makes is scoped by cluster.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ecs.ecs_support import Infra, an_image, make_infra, moto_server


@pytest.fixture(scope="session")
def moto_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The URL of a `moto_server` started for this session."""
    with moto_server(tmp_path_factory.mktemp("moto") / "moto.log") as url:
        yield url


@pytest.fixture(scope="session")
def ami(moto_url: str) -> str:
    return an_image(moto_url)


@pytest.fixture
def infra(moto_url: str, ami: str) -> Infra:
    """A fresh cluster, VPC, internal and public ALB with listeners, private zone, instance."""
    return make_infra(moto_url, ami)
