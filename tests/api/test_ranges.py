"""Range pagination on every list: the lenient grammar real clients send, Content-Range,
Accept-Ranges, 206 + Next-Range while more items exist, and following Next-Range to the end
yields every item exactly once."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.api_support import APP
from empire.api.ranges import Ranges, next_range
from empire.model import Page
from support.stack import Stack

APPS = Ranges(fields=("name", "id"), default="name")
RELEASES = Ranges(fields=("version", "id"), default="version")


@pytest.mark.parametrize(
    ("ranges", "header", "page"),
    [
        (RELEASES, None, Page("version", max=200)),
        (RELEASES, "", Page("version", max=200)),
        # the Go emp 0.13.0
        (RELEASES, "version ..; max=20, , order=desc", Page("version", max=20, descending=True)),
        (APPS, "name ..; max=1000", Page("name", max=1000)),
        # the heroku CLI
        (RELEASES, "version ..; order=desc,max=1", Page("version", max=1, descending=True)),
        (RELEASES, "version ..; max=15, order=desc", Page("version", max=15, descending=True)),
        (APPS, "id ..; max=1000;", Page("id", max=1000)),
        (
            APPS,
            "id ]0b1c..; max=2, order=asc",
            Page("id", start="0b1c", exclusive=True, max=2),
        ),
        # heroku3
        (APPS, "id ..; ;", Page("id", max=200)),
        (APPS, "name ..; order=desc,max=5;", Page("name", max=5, descending=True)),
        (APPS, "domain ..; ;", Page("name", max=200)),  # unknown field: the default
        # bounds and junk
        (APPS, "name a..", Page("name", start="a", max=200)),
        (APPS, "name ]acme..; max=0", Page("name", start="acme", exclusive=True, max=1)),
        (APPS, "name ..; max=100000", Page("name", max=1000)),
        (APPS, "name ..; max=abc, order=sideways", Page("name", max=200)),
        (APPS, "NAME ..", Page("name", max=200)),
        (APPS, ";;;,,,", Page("name", max=200)),
        (APPS, "name ..; MAX=3, ORDER=DESC", Page("name", max=3, descending=True)),
    ],
)
def test_parse_is_lenient(ranges: Ranges, header: str | None, page: Page) -> None:
    assert ranges.parse(header) == page


def test_next_range_is_parsed_back_to_the_next_page() -> None:
    page = RELEASES.parse("version ..; max=2, order=desc")
    header = next_range(page, "7")
    assert header == "version ]7..; max=2, order=desc"
    expected = Page("version", start="7", exclusive=True, max=2, descending=True)
    assert RELEASES.parse(header) == expected


Fetch = Callable[[str | None], Any]


def follow(client: TestClient, path: str, first: str | None) -> tuple[list[Any], list[Any]]:
    """GET a list, following Next-Range until a 200; return the items and the responses."""
    items: list[Any] = []
    responses = []
    header = first
    for _ in range(100):
        response = client.get(path, headers={"Range": header} if header else {})
        responses.append(response)
        assert response.status_code in (200, 206), response.text
        assert response.headers["accept-ranges"]
        items.extend(response.json())
        if response.status_code == 200:
            assert "next-range" not in response.headers
            return items, responses
        header = response.headers["next-range"]
    raise AssertionError("Next-Range never ended")


@pytest.mark.parametrize("path", ["/apps", "/users/~/apps"])
def test_apps_pages_by_name(client: TestClient, many_apps: list[str], path: str) -> None:
    first = client.get(path, headers={"Range": "name ..; max=2"})
    assert first.status_code == 206
    assert first.headers["accept-ranges"] == "name, id"
    assert first.headers["content-range"] == "name app-00..app-01"
    assert first.headers["next-range"] == "name ]app-01..; max=2, order=asc"
    items, responses = follow(client, path, "name ..; max=2")
    assert [a["name"] for a in items] == many_apps
    assert [r.status_code for r in responses] == [206, 206, 206, 200]


def test_apps_page_by_id_and_descending(client: TestClient, many_apps: list[str]) -> None:
    items, _ = follow(client, "/apps", "id ..; max=3")
    ids = [a["id"] for a in items]
    assert ids == sorted(ids) and len(set(ids)) == 7
    items, _ = follow(client, "/apps", "name ..; max=3, order=desc")
    assert [a["name"] for a in items] == list(reversed(many_apps))


def test_the_next_range_a_client_echoes_back(client: TestClient, many_apps: list[str]) -> None:
    """`id ]<uuid>..; max=2, order=asc`: the CLI sends our own Next-Range back."""
    everything = client.get("/apps", headers={"Range": "id ..; max=1000"}).json()
    ids = [a["id"] for a in everything]
    response = client.get("/apps", headers={"Range": f"id ]{ids[1]}..; max=2, order=asc"})
    assert response.status_code == 206
    assert [a["id"] for a in response.json()] == ids[2:4]
    assert response.headers["next-range"] == f"id ]{ids[3]}..; max=2, order=asc"
    assert response.headers["content-range"] == f"id {ids[2]}..{ids[3]}"


def test_a_list_that_fits_is_200_without_next_range(client: TestClient, many_apps: list[str]):
    response = client.get("/apps", headers={"Range": "name ..; max=1000"})
    assert response.status_code == 200
    assert "next-range" not in response.headers
    assert response.headers["content-range"] == "name app-00..app-06"
    exactly = client.get("/apps", headers={"Range": "name ..; max=7"})
    assert exactly.status_code == 200


def test_default_page_size_is_200(client: TestClient, stack: Stack) -> None:
    for n in range(205):
        stack.empire.create(f"bulk-{n:03d}", by=stack.user)
    response = client.get("/apps")
    assert response.status_code == 206
    assert len(response.json()) == 200
    assert response.headers["next-range"] == "name ]bulk-199..; max=200, order=asc"
    items, _ = follow(client, "/apps", None)
    assert len(items) == 205 == len({a["id"] for a in items})


def test_releases_page_newest_first(client: TestClient, many_releases: int) -> None:
    path = f"/apps/{APP}/releases"
    first = client.get(path, headers={"Range": "version ..; max=2, order=desc"})
    assert first.status_code == 206
    assert first.headers["accept-ranges"] == "version, id"
    assert first.headers["content-range"] == "version 7..6"
    assert first.headers["next-range"] == "version ]6..; max=2, order=desc"
    items, _ = follow(client, path, "version ..; max=2, order=desc")
    assert [r["version"] for r in items] == [7, 6, 5, 4, 3, 2, 1]


@pytest.mark.parametrize(
    ("header", "status", "versions"),
    [
        ("version ..; max=20, , order=desc", 200, [7, 6, 5, 4, 3, 2, 1]),  # Go emp releases
        ("version ..; order=desc,max=1", 206, [7]),  # heroku config:set, after the PATCH
        ("version ..; max=15, order=desc", 200, [7, 6, 5, 4, 3, 2, 1]),  # heroku releases
        ("version ..; order=desc,max=2;", 206, [7, 6]),  # heroku3 releases(limit=2)
        ("id ..; ;", 200, None),  # heroku3 default
        (None, 200, [1, 2, 3, 4, 5, 6, 7]),  # heroku3 rollback reads [-1]: ascending
        ("version ]5..; max=10", 200, [6, 7]),
        ("version 3..; max=2", 206, [3, 4]),
        ("version ]'; DROP TABLE releases; --..; max=2", 206, [1, 2]),
    ],
)
def test_release_range_forms(
    client: TestClient, many_releases: int, header: str | None, status: int, versions: Any
) -> None:
    response = client.get(f"/apps/{APP}/releases", headers={"Range": header} if header else {})
    assert response.status_code == status, response.text
    got = [r["version"] for r in response.json()]
    if versions is None:
        assert sorted(got) == [1, 2, 3, 4, 5, 6, 7]
    else:
        assert got == versions


def test_releases_page_by_id(client: TestClient, many_releases: int) -> None:
    items, responses = follow(client, f"/apps/{APP}/releases", "id ..; max=3")
    assert sorted(r["version"] for r in items) == [1, 2, 3, 4, 5, 6, 7]
    assert [r["id"] for r in items] == sorted(r["id"] for r in items)
    assert len(responses) == 3


@pytest.mark.parametrize(
    "header",
    [
        "id ..; max=1000;",  # heroku domains
        "domain ..; ;",  # heroku3: not a field, the default applies
        "hostname ..; max=1000",  # Go emp domains
        "hostname ..; max=2",
        "id ..; max=2",
        None,
    ],
)
def test_domains_every_item_once(
    client: TestClient, many_domains: list[str], header: str | None
) -> None:
    items, _ = follow(client, f"/apps/{APP}/domains", header)
    assert sorted(d["hostname"] for d in items) == many_domains
    assert len(items) == len(many_domains)


def test_domains_page_headers(client: TestClient, many_domains: list[str]) -> None:
    response = client.get(f"/apps/{APP}/domains", headers={"Range": "hostname ..; max=2"})
    assert response.status_code == 206
    assert response.headers["accept-ranges"] == "hostname, id"
    assert response.headers["content-range"] == "hostname www0.example.com..www1.example.com"
    assert response.headers["next-range"] == "hostname ]www1.example.com..; max=2, order=asc"


def test_dynos_pages(client: TestClient, deployed: str) -> None:
    update = {"updates": [{"type": "web", "quantity": 3}, {"type": "worker", "quantity": 2}]}
    assert client.patch(f"/apps/{APP}/formation", json=update).status_code == 200
    items, responses = follow(client, f"/apps/{APP}/dynos", "name ..; max=2")
    assert [d["name"] for d in items] == [
        "v1.web.1",
        "v1.web.2",
        "v1.web.3",
        "v1.worker.1",
        "v1.worker.2",
    ]
    assert [r.status_code for r in responses] == [206, 206, 200]
    assert responses[0].headers["content-range"] == "name v1.web.1..v1.web.2"
    assert responses[0].headers["accept-ranges"] == "name, id"


def test_formation_pages(client: TestClient, deployed: str) -> None:
    items, responses = follow(client, f"/apps/{APP}/formation", "type ..; max=2")
    assert [f["type"] for f in items] == ["migrate", "web", "worker"]
    assert responses[0].status_code == 206
    assert responses[0].headers["accept-ranges"] == "type, id"
    assert responses[0].headers["next-range"] == "type ]web..; max=2, order=asc"
    by_id, _ = follow(client, f"/apps/{APP}/formation", "id ..; max=1")
    assert sorted(f["type"] for f in by_id) == ["migrate", "web", "worker"]


@pytest.mark.parametrize(  # collaborators: test_roles.py
    "path",
    [
        f"/apps/{APP}/addons",
        f"/apps/{APP}/addon-attachments",  # heroku addons -a APP (as sudo)
        f"/apps/{APP}/sni-endpoints",
        "/addons",  # heroku addons
        "/addon-attachments",  # heroku addons -a APP
    ],
)
def test_empty_lists_are_lists_too(client: TestClient, deployed: str, path: str) -> None:
    response = client.get(path, headers={"Range": "id ..; max=1000;"})
    assert response.status_code == 200
    assert response.json() == []
    assert response.headers["accept-ranges"] == "id"
