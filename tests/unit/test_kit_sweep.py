"""A round's read (`kit.sweep.Sweeps`): read once, per thread, never for an app written since."""

from __future__ import annotations

import threading

from empire.scheduler.kit.sweep import Sweeps


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def make() -> tuple[Sweeps[list[str]], list[int], Clock]:
    reads: list[int] = []
    clock = Clock()

    def read() -> dict[str, list[str]]:
        reads.append(1)
        return {"a": ["a.1"], "b": ["b.1", "b.2"]}

    return Sweeps(read, empty=list, max_age=5.0, clock=clock), reads, clock


def test_one_read_serves_the_round_and_an_app_it_does_not_know_is_empty() -> None:
    sweeps, reads, _ = make()
    assert sweeps.group("a") is None  # outside a round: read the app yourself
    with sweeps.sweep():
        assert sweeps.group("a") == ["a.1"]
        assert sweeps.group("b") == ["b.1", "b.2"]
        assert sweeps.group("c") == []
        with sweeps.sweep():  # nested: the same round
            assert sweeps.group("a") == ["a.1"]
    assert len(reads) == 1
    assert sweeps.everything() is None


def test_an_app_written_after_the_read_is_read_afresh() -> None:
    sweeps, _, clock = make()
    sweeps.wrote("a")  # before the round: its read shows it
    clock.now += 1
    with sweeps.sweep():
        assert sweeps.group("a") == ["a.1"]
        clock.now += 1
        sweeps.wrote("a")  # a use case changed it meanwhile
        assert sweeps.group("a") is None
        assert sweeps.group("b") == ["b.1", "b.2"]


def test_a_long_round_reads_again_and_other_threads_never_see_the_round() -> None:
    sweeps, reads, clock = make()
    seen: list[object] = []
    with sweeps.sweep():
        sweeps.group("a")
        other = threading.Thread(target=lambda: seen.append(sweeps.group("a")))
        other.start()
        other.join()
        clock.now += 6
        sweeps.group("a")
    assert seen == [None]
    assert len(reads) == 2
