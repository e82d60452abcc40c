"""The resolver's document rendered from cached fragments says what `table.records` says,
through any sequence of route changes."""

from __future__ import annotations

import json
import random

from empire.router import Endpoint, Route, table


def a_route(rng: random.Random, app_id: str) -> Route:
    name = rng.choice(["acme", "shop", "blog", "api", "zeta", "a-b"]) + rng.choice(["", "-2"])
    hostnames = tuple(
        rng.choice(["www.acme.test", "*.shop.test", "API.example.com", "x.test"])
        for _ in range(rng.randint(0, 2))
    )
    processes = tuple(
        (p, tuple(Endpoint(f"c-{app_id}-{p}-{n}", rng.choice([80, 8080])) for n in range(k)))
        for p, k in (("web", rng.randint(0, 3)), ("worker", rng.randint(0, 1)))
        if rng.random() < 0.8
    )
    return Route(app_id, name, hostnames, processes)


def test_the_cached_document_matches_the_whole_one_through_changes() -> None:
    rng = random.Random(19)
    document = table.Document()
    routes: dict[str, Route] = {}
    networks: dict[str, tuple[str, str]] = {}
    for generation in range(1, 400):
        app_id = f"id-{rng.randint(0, 30)}"
        if rng.random() < 0.2:
            routes.pop(app_id, None)
        else:
            routes[app_id] = a_route(rng, app_id)
        if rng.random() < 0.05:
            networks[f"net-{rng.randint(0, 3)}"] = ("10.1.0.0/24", "10.1.0.2")
        text = document.render(
            routes, generation=generation, address="10.0.0.2", name="rt", networks=networks
        )
        expected = table.records(
            routes.values(), generation=generation, address="10.0.0.2", name="rt", networks=networks
        )
        assert json.loads(text) == expected


def test_a_name_both_apps_claim_goes_to_the_later_one_as_before() -> None:
    first = Route("id-1", "acme", ("www.acme.test",), (("web", (Endpoint("a", 80),)),))
    second = Route("id-2", "acme", ("WWW.acme.test",), (("web", (Endpoint("b", 80),)),))
    routes = {"id-2": second, "id-1": first}
    text = table.Document().render(routes, generation=1, address=None, name="rt")
    expected = table.records(routes.values(), generation=1, address=None, name="rt")
    assert json.loads(text) == expected
    assert json.loads(text)["apps"]["acme"]["web"] == [["b", 80]]
