"""The scheduler contract (support/contract.py) on the Swarm backend, a real two-node swarm."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from support import contract


@pytest.fixture
def backend(scheduler, make_manifest) -> Iterator[contract.Backend]:
    made = contract.Backend(
        scheduler,
        lambda app, version, formation, config: make_manifest(
            app, version, formation, config=config
        ),
        patience=60,
    )
    yield made
    made.cleanup()


@pytest.mark.parametrize("check", contract.CHECKS, ids=contract.names())
def test_the_contract(check, backend: contract.Backend) -> None:
    check(backend)
