"""The app network's lookup when the engine made two of one name (created at once)."""

from __future__ import annotations

from typing import Any

from empire.errors import SchedulerError
from empire.scheduler.kit import network


class Engine:
    """The three network calls `_find` makes, over a list of network documents."""

    def __init__(self, *documents: dict[str, Any], refuse: bool = False) -> None:
        self.documents = list(documents)
        self.removed: list[str] = []
        self.refuse = refuse

    def networks(self, names: list[str]) -> list[dict[str, Any]]:
        return [{"Id": d["Id"], "Name": d["Name"]} for d in self.documents if d["Name"] in names]

    def inspect_network(self, ident: str) -> dict[str, Any]:
        return next(d for d in self.documents if d["Id"] == ident)

    def remove_network(self, ident: str) -> None:
        if self.refuse:
            raise SchedulerError("network is in use")
        self.removed.append(ident)
        self.documents = [d for d in self.documents if d["Id"] != ident]


def net(ident: str, created: str, containers: int = 0) -> dict[str, Any]:
    attached = {f"c{n}": {} for n in range(containers)}
    return {"Id": ident, "Name": "empire", "Created": created, "Containers": attached}


def test_the_oldest_stays_and_an_empty_twin_goes() -> None:
    engine = Engine(net("new", "2026-12-07T00:21:54.3Z"), net("old", "2026-12-07T00:21:54Z"))
    assert network._find(engine, "empire")["Id"] == "old"  # type: ignore[arg-type,index]
    assert engine.removed == ["new"]


def test_the_one_with_containers_stays_and_a_used_twin_is_left_alone() -> None:
    engine = Engine(net("old", "2026-12-07T00:21:54Z"), net("used", "2026-12-07T00:21:55Z", 2))
    assert network._find(engine, "empire")["Id"] == "used"  # type: ignore[arg-type,index]
    assert engine.removed == ["old"]
    both_used = Engine(net("a", "2026-12-07T00:21:54Z", 1), net("b", "2026-12-07T00:21:55Z", 1))
    assert network._find(both_used, "empire")["Id"] == "a"  # type: ignore[arg-type,index]
    assert both_used.removed == []


def test_a_removal_the_engine_refuses_is_left_for_the_next_look() -> None:
    engine = Engine(net("old", "2026-12-07T00:21:54Z"), net("new", "2026-12-07T00:21:56Z"))
    engine.refuse = True
    assert network._find(engine, "empire")["Id"] == "old"  # type: ignore[arg-type,index]
    assert engine.removed == []
