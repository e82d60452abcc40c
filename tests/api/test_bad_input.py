"""Bad input: each answers 4xx with a message that names the problem, and leaves the state as
it was (apps, releases, config, formations, domains, the scheduler and the audit log)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.api_support import APP, IMAGE, SIZE_FORMS, Snapshot, error, routes, size_refused
from support.stack import Stack

NAME_RULE = (
    "use 3 to 30 characters, lowercase letters, digits and dashes, "
    "starting with a letter (e.g. acme-inc)"
)
REF_FORMS = "expected [registry/]repository[:tag][@digest], lowercase repository, e.g. acme/api:v42"


# -- app names --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "",
        "ab",
        "Acme",
        "1acme",
        "-acme",
        "acme_inc",
        "acme inc",
        "acme.inc",
        "a" * 31,
        "acmé",
        "'; DROP TABLE apps; --",
    ],
)
@pytest.mark.parametrize("path", ["/apps", "/organizations/apps"])
def test_invalid_app_name(unchanged: TestClient, name: str, path: str) -> None:
    error(
        unchanged.post(path, json={"name": name}),
        400,
        "bad_request",
        f"invalid app name {name!r}: {NAME_RULE}",
    )


def test_invalid_new_name(unchanged: TestClient) -> None:
    error(
        unchanged.patch(f"/apps/{APP}", json={"name": "Bad_Name"}),
        400,
        "bad_request",
        f"invalid app name 'Bad_Name': {NAME_RULE}",
    )


def test_invalid_app_name_from_an_image(unchanged: TestClient, stack: Stack) -> None:
    stack.images.add("acme/my_app:v1", procfile=b"web: ./web\n")
    error(
        unchanged.post("/deploys", json={"image": "acme/my_app:v1"}),
        400,
        "bad_request",
        f"invalid app name 'my_app': {NAME_RULE}",
    )


def test_duplicate_app_name(unchanged: TestClient) -> None:
    error(
        unchanged.post("/apps", json={"name": APP}),
        409,
        "conflict",
        "Name acme-inc is already taken",
    )
    error(
        unchanged.post("/organizations/apps", json={"name": APP}),
        409,
        "conflict",
        "Name acme-inc is already taken",
    )


def test_rename_onto_a_taken_name(client: TestClient, deployed: str, snapshot: Snapshot) -> None:
    client.post("/apps", json={"name": "other"})
    before = snapshot()
    error(
        client.patch("/apps/other", json={"name": APP}),
        409,
        "conflict",
        "Name acme-inc is already taken",
    )
    assert snapshot() == before


def test_missing_name(unchanged: TestClient) -> None:
    error(
        unchanged.post("/apps", json={}),
        400,
        "bad_request",
        "missing field 'name' in the request body",
    )


# -- unknown things ---------------------------------------------------------------------------

UNKNOWN_APP = "Couldn't find that app: no app named nope"
APP_BODIES: dict[tuple[str, str], Any] = {
    ("POST", "/apps/{app}/certs"): {"cert": "c"},
    ("POST", "/apps/{app}/releases"): {"release": "1"},
    ("PATCH", "/apps/{app}/config-vars"): {"A": "b"},
    ("PATCH", "/apps/{app}/formation"): {"updates": [{"type": "web", "quantity": 1}]},
    ("PATCH", "/apps/{app}/formation/{process}"): {"quantity": 1},
    ("POST", "/apps/{app}/dynos"): {"command": "ls"},
    ("POST", "/apps/{app}/domains"): {"hostname": "www.example.com"},
    ("POST", "/apps/{app}/log-drains"): {"url": "syslog+tls://logs.example.com:6514"},
    ("POST", "/apps/{app}/deploys"): {"image": IMAGE},
    ("PATCH", "/apps/{app}"): {"maintenance": True},
    ("POST", "/apps/{app}/collaborators"): {"user": "alice", "role": "viewer"},
    ("PATCH", "/apps/{app}/collaborators/{subject}"): {"role": "viewer"},
}
SAMPLE = {"version": "1", "process": "web", "dyno": "web.1", "hostname": "www.acme.com"}


def test_unknown_app_on_every_app_route(unchanged: TestClient, stack: Stack) -> None:
    """Walks the route table: every /apps/{app}/... route says which app it could not find."""
    checked = 0
    for method, template in routes(stack):
        if not template.startswith("/apps/{app}") or "ssl-endpoints" in template:
            continue
        if template.endswith("pipeline-couplings"):
            continue
        path = template.replace("{app}", "nope")
        for key, value in SAMPLE.items():
            path = path.replace("{" + key + "}", value)
        body = APP_BODIES.get((method, template))
        response = unchanged.request(method, path, json=body)
        error(response, 404, "not_found", UNKNOWN_APP)
        assert response.json()["resource"] == "app", (method, path)
        checked += 1
    assert checked >= 30


@pytest.mark.parametrize(
    "ident", ["9", "v9", "0", "-1", "x", "00000000-0000-0000-0000-000000000000", "v"]
)
def test_unknown_release(unchanged: TestClient, ident: str) -> None:
    message = f"Couldn't find that release: {APP} has no release {ident}"
    error(unchanged.get(f"/apps/{APP}/releases/{ident}"), 404, "not_found", message)
    error(unchanged.get(f"/apps/{APP}/releases/{ident}/config-vars"), 404, "not_found", message)
    error(unchanged.get(f"/apps/{APP}/config-vars/{ident}"), 404, "not_found", message)
    error(
        unchanged.post(f"/apps/{APP}/releases", json={"release": ident}),
        404,
        "not_found",
        message,
    )


def test_unknown_process(unchanged: TestClient) -> None:
    known = f"in {APP} v2 (process types: migrate, web, worker)"
    error(
        unchanged.patch(f"/apps/{APP}/formation", json={"updates": [{"type": "nope"}]}),
        404,
        "not_found",
        f"Couldn't find that formation: no process type 'nope' {known}",
    )
    # one bad update in a batch: none of it is applied
    updates = [{"type": "web", "quantity": 5}, {"type": "nope", "quantity": 1}]
    error(
        unchanged.patch(f"/apps/{APP}/formation", json={"updates": updates}),
        404,
        "not_found",
        f"Couldn't find that formation: no process type 'nope' {known}",
    )
    error(
        unchanged.patch(f"/apps/{APP}/formation/nope", json={"quantity": 1}),
        404,
        "not_found",
        f"Couldn't find that formation: no process type 'nope' {known}",
    )
    error(
        unchanged.get(f"/apps/{APP}/formation/nope"),
        404,
        "not_found",
        f"Couldn't find that formation: no process type 'nope' in {APP}",
    )
    error(
        unchanged.delete(f"/apps/{APP}/formations/nope"),
        404,
        "not_found",
        f"no process type 'nope' in {APP} v2",
    )


def test_noservice_process_cannot_be_scaled(unchanged: TestClient) -> None:
    error(
        unchanged.patch(f"/apps/{APP}/formation/migrate", json={"quantity": 1}),
        400,
        "bad_request",
        "process 'migrate' is noservice and cannot be scaled: run it with `emp run migrate`",
    )


def test_negative_quantity(unchanged: TestClient) -> None:
    error(
        unchanged.patch(f"/apps/{APP}/formation/web", json={"quantity": "-1"}),
        400,
        "bad_request",
        "invalid quantity -1 for web: use 0 to 1000",
    )


def test_unknown_domain(unchanged: TestClient) -> None:
    error(
        unchanged.get(f"/apps/{APP}/domains/nope.example.com"),
        404,
        "not_found",
        f"nope.example.com is not a domain of {APP}",
    )
    error(
        unchanged.delete(f"/apps/{APP}/domains/nope.example.com"),
        404,
        "not_found",
        f"nope.example.com is not a domain of {APP}",
    )


def test_a_domain_of_another_app_is_unknown_here(
    client: TestClient, deployed: str, snapshot: Snapshot
) -> None:
    client.post("/apps", json={"name": "other"})
    client.post(f"/apps/{APP}/domains", json={"hostname": "www.acme.com"})
    before = snapshot()
    error(
        client.delete("/apps/other/domains/www.acme.com"),
        404,
        "not_found",
        "www.acme.com is not a domain of other",
    )
    assert snapshot() == before


@pytest.mark.parametrize("hostname", ["not a host", "-x.com", "a..b", "x" * 64 + ".com", "ü.de"])
def test_invalid_hostname(unchanged: TestClient, hostname: str) -> None:
    body = error(
        unchanged.post(f"/apps/{APP}/domains", json={"hostname": hostname}), 400, "bad_request"
    )
    assert body["message"].startswith("invalid hostname ")
    assert body["message"].endswith(
        "use a DNS name such as www.example.com (lowercase letters, digits, dashes and dots)"
    )


# -- images and Procfiles ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "image",
    [
        "UPPER/case",
        "acme//api",
        "acme/api:",
        "acme/api@sha256:xyz",
        ":latest",
        "acme/api:a b",
        "acme/api:-tag",
    ],
)
@pytest.mark.parametrize("path", ["/deploys", f"/apps/{APP}/deploys"])
def test_malformed_image_reference(unchanged: TestClient, image: str, path: str) -> None:
    error(
        unchanged.post(path, json={"image": image}),
        400,
        "bad_request",
        f"invalid image reference {image!r}: {REF_FORMS}",
    )


def test_empty_and_missing_image(unchanged: TestClient) -> None:
    error(
        unchanged.post("/deploys", json={"image": "  "}),
        400,
        "bad_request",
        "image is empty: give a reference such as acme/api:v42",
    )
    error(
        unchanged.post("/deploys", json={}),
        400,
        "bad_request",
        "missing field 'image' in the request body",
    )


@pytest.mark.parametrize("path", ["/deploys", f"/apps/{APP}/deploys"])
def test_image_that_does_not_exist(unchanged: TestClient, stack: Stack, path: str) -> None:
    stack.images.accept_any = False
    error(
        unchanged.post(path, json={"image": "remind101/ghost:latest"}),
        404,
        "not_found",
        "image remind101/ghost:latest not found: "
        "repository remind101/ghost does not exist. Check the name and tag",
    )
    error(
        unchanged.post(path, json={"image": "remind101/acme-inc:v9"}),
        404,
        "not_found",
        "image remind101/acme-inc:v9 not found: manifest for remind101/acme-inc:v9 unknown",
    )


@pytest.mark.parametrize(
    ("procfile", "message"),
    [
        (
            b"web: [unclosed\n  - x: {",
            "Procfile is not valid YAML: expected ',' or ']', but got ':' (line 2, column 6)",
        ),
        (b"web:\n  noservice: true\n", 'process "web" has no command'),
        (b"", "Procfile is empty: add at least one process, e.g. web: ./bin/web"),
        (b"web: ./a\nweb: ./b\n", None),
    ],
)
@pytest.mark.parametrize("app", [None, APP, "fresh"])
def test_invalid_procfile(
    unchanged: TestClient, stack: Stack, procfile: bytes, message: str | None, app: str | None
) -> None:
    image = f"remind101/{app or 'fresh'}:bad"
    stack.images.add(image, procfile=procfile)
    path = f"/apps/{app}/deploys" if app == APP else "/deploys"
    body = error(unchanged.post(path, json={"image": image}), 400, "bad_request", message)
    assert "Procfile" in body["message"] or "process" in body["message"]


# -- sizes ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "reason"),
    [
        ("0:1KB", 'invalid size "0:1KB": CPUShare must be greater than 1; '),
        ("1024", 'invalid size "1024": '),
        ("abc", 'invalid size "abc": '),
        (
            "512:lots",
            'invalid size "512:lots": memory "lots" must be a number greater than 0 '
            "with an optional unit B, KB, MB, GB or TB, e.g. 512MB; ",
        ),
        ("512:1GB:procs=5", 'invalid size "512:1GB:procs=5": "procs=5" is not nproc=N; '),
    ],
)
def test_invalid_size(unchanged: TestClient, size: str, reason: str) -> None:
    size_refused(unchanged, size, reason + SIZE_FORMS)


# -- wrong JSON types and malformed JSON ------------------------------------------------------

WRONG_TYPES: list[tuple[str, str, Any, str]] = [
    ("POST", "/apps", {"name": 5}, "field 'name' must be a string, got int"),
    ("POST", "/apps", ["acme"], "the request body must be a JSON object, got list"),
    ("POST", "/apps", "acme", "the request body must be a JSON object, got str"),
    ("POST", "/apps", 42, "the request body must be a JSON object, got int"),
    ("PATCH", f"/apps/{APP}", {"maintenance": "yes"}, "field 'maintenance' must be true or false"),
    ("PATCH", f"/apps/{APP}", {"name": ["x"]}, "field 'name' must be a string, got list"),
    ("POST", f"/apps/{APP}/certs", {"cert": 1}, "field 'cert' must be a string, got int"),
    (
        "PATCH",
        f"/apps/{APP}/config-vars",
        {"FOO": 1},
        "config var 'FOO' must be a string or null (to unset it), got int",
    ),
    (
        "PATCH",
        f"/apps/{APP}/config-vars",
        {"FOO": "ok", "BAR": {"x": 1}},
        "config var 'BAR' must be a string or null (to unset it), got dict",
    ),
    (
        "PATCH",
        f"/apps/{APP}/config-vars",
        {"FOO": True},
        "config var 'FOO' must be a string or null (to unset it), got bool",
    ),
    (
        "PATCH",
        f"/apps/{APP}/config-vars",
        {},
        'no config vars given: send at least one KEY, e.g. {"FOO": "bar"}',
    ),
    (
        "PATCH",
        f"/apps/{APP}/config-vars",
        {"1BAD": "x"},
        "invalid config var name '1BAD': use letters, digits and underscores, "
        "not starting with a digit",
    ),
    (
        "PATCH",
        f"/apps/{APP}/config-vars",
        {"FOO'; DROP TABLE configs; --": "x"},
        'invalid config var name "FOO\'; DROP TABLE configs; --": use letters, digits and '
        "underscores, not starting with a digit",
    ),
    (
        "PATCH",
        f"/apps/{APP}/formation",
        {"updates": {"web": 1}},
        'field \'updates\' must be a list: {"updates": [{"type": "web", "quantity": 2}]}',
    ),
    (
        "PATCH",
        f"/apps/{APP}/formation",
        {},
        'field \'updates\' must be a list: {"updates": [{"type": "web", "quantity": 2}]}',
    ),
    (
        "PATCH",
        f"/apps/{APP}/formation",
        {"updates": []},
        "no formation updates given: e.g. web=2 or worker=1:2X",
    ),
    (
        "PATCH",
        f"/apps/{APP}/formation",
        {"updates": ["web=2"]},
        'each update must be an object such as {"type": "web", "quantity": 2}, got \'web=2\'',
    ),
    (
        "PATCH",
        f"/apps/{APP}/formation",
        {"updates": [{"quantity": 2}]},
        'each update needs a process type: {"type": "web", "quantity": 2}',
    ),
    (
        "PATCH",
        f"/apps/{APP}/formation",
        {"updates": [{"type": 7, "quantity": 2}]},
        'each update needs a process type: {"type": "web", "quantity": 2}',
    ),
    *[
        (
            "PATCH",
            f"/apps/{APP}/formation",
            {"updates": [{"type": "web", "quantity": quantity}]},
            f"invalid quantity {quantity!r} for web: use a whole number",
        )
        for quantity in ("two", "1.5", 1.5, True, "--2", "²", [1], {"n": 1}, "")
    ],
    (
        "PATCH",
        f"/apps/{APP}/formation/web",
        {"size": 2},
        "invalid size 2 for web: use 1X, 2X, PX or cpu:memory",
    ),
    (
        "POST",
        f"/apps/{APP}/releases",
        {"release": True},
        "field 'release' must be a version (e.g. \"3\") or a release id",
    ),
    (
        "POST",
        f"/apps/{APP}/releases",
        {"release": 1.5},
        "field 'release' must be a version (e.g. \"3\") or a release id",
    ),
    (
        "POST",
        f"/apps/{APP}/releases",
        {},
        "missing field 'release': the version or id of the release to roll back to",
    ),
    (
        "POST",
        f"/apps/{APP}/domains",
        {"hostname": 5},
        "field 'hostname' must be a string, got int",
    ),
    ("POST", f"/apps/{APP}/domains", {}, "missing field 'hostname' in the request body"),
    (
        "POST",
        f"/apps/{APP}/dynos",
        {"command": ["ls"]},
        "field 'command' must be a string, got list",
    ),
    ("POST", f"/apps/{APP}/dynos", {}, "missing field 'command' in the request body"),
    (
        "POST",
        f"/apps/{APP}/dynos",
        {"command": "ls", "env": ["A=1"]},
        "field 'env' must be an object of strings",
    ),
    (
        "POST",
        f"/apps/{APP}/dynos",
        {"command": "ls", "env": {"A": 1}},
        "field 'env' must be an object of strings",
    ),
    (
        "POST",
        f"/apps/{APP}/dynos",
        {"command": "ls 'unclosed"},
        'cannot parse command "ls \'unclosed": No closing quotation',
    ),
    (
        "POST",
        f"/apps/{APP}/dynos",
        {"command": "  "},
        "no command given: e.g. emp run ./bin/migrate",
    ),
    ("POST", "/deploys", {"image": 5}, "field 'image' must be a string, got int"),
    ("POST", "/deploys", [IMAGE], "the request body must be a JSON object, got list"),
    (
        "POST",
        "/deploys",
        {"image": IMAGE, "stream": "yes"},
        "field 'stream' must be true or false, got str",
    ),
    (
        "POST",
        f"/apps/{APP}/log-sessions",
        {"duration": "10m"},
        "field 'duration' must be a number of nanoseconds (0 or more), got '10m'",
    ),
    (
        "POST",
        f"/apps/{APP}/log-sessions",
        {"duration": -5},
        "field 'duration' must be a number of nanoseconds (0 or more), got -5",
    ),
    (
        "POST",
        f"/apps/{APP}/log-sessions",
        {"lines": "100"},
        "field 'lines' must be a number of lines (0 or more), got '100'",
    ),
    (
        "POST",
        f"/apps/{APP}/log-sessions",
        {"lines": 10, "tail": "yes"},
        "field 'tail' must be true or false, got str",
    ),
    (
        "POST",
        f"/apps/{APP}/log-sessions",
        {"lines": 10, "dyno": 3},
        "field 'dyno' must be a string, got int",
    ),
]


@pytest.mark.parametrize(
    ("method", "path", "body", "message"),
    WRONG_TYPES,
    ids=[f"{m} {p} {b!r}"[:80] for m, p, b, _ in WRONG_TYPES],
)
def test_wrong_json_types(
    unchanged: TestClient, method: str, path: str, body: Any, message: str
) -> None:
    error(unchanged.request(method, path, json=body), 400, "bad_request", message)


MALFORMED = [
    (b"{bad", "Expecting property name enclosed in double quotes"),
    (b'{"name": "acme",}', "Expecting property name enclosed in double quotes"),
    (b'{"name": "x"', "Expecting ',' delimiter"),
    (b"nul", "Expecting value"),
    (b"{'name': 'x'}", "Expecting property name enclosed in double quotes"),
]
WRITE_PATHS = [
    ("POST", "/apps"),
    ("PATCH", f"/apps/{APP}"),
    ("PATCH", f"/apps/{APP}/config-vars"),
    ("PATCH", f"/apps/{APP}/formation"),
    ("PATCH", f"/apps/{APP}/formation/web"),
    ("POST", f"/apps/{APP}/releases"),
    ("POST", f"/apps/{APP}/domains"),
    ("POST", f"/apps/{APP}/dynos"),
    ("POST", "/deploys"),
    ("POST", f"/apps/{APP}/deploys"),
    ("POST", f"/apps/{APP}/log-sessions"),
]


@pytest.mark.parametrize(("content", "reason"), MALFORMED)
@pytest.mark.parametrize("content_type", ["application/json", "text/plain", None])
def test_malformed_json(
    unchanged: TestClient, content: bytes, reason: str, content_type: str | None
) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    for method, path in WRITE_PATHS:
        response = unchanged.request(method, path, content=content, headers=headers)
        body = error(response, 400, "bad_request")
        assert body["message"] == f"malformed JSON in the request body: {reason}", (method, path)


def test_body_that_is_not_utf8(unchanged: TestClient) -> None:
    response = unchanged.post(
        "/apps", content=b'{"name": "\xff\xfe"}', headers={"Content-Type": "application/json"}
    )
    body = error(response, 400, "bad_request")
    assert body["message"].startswith("malformed JSON in the request body: ")


# -- size limit -------------------------------------------------------------------------------

TOO_LARGE = "request body too large: the limit is 1048576 bytes"


@pytest.mark.parametrize(("method", "path"), WRITE_PATHS)
def test_body_over_the_limit(unchanged: TestClient, method: str, path: str) -> None:
    big = b'{"name": "' + b"a" * (1 << 20) + b'"}'
    error(unchanged.request(method, path, content=big), 413, "payload_too_large", TOO_LARGE)


def test_chunked_body_over_the_limit(unchanged: TestClient) -> None:
    """No Content-Length: the gate counts while it reads."""

    def chunks() -> Iterator[bytes]:
        yield b'{"FOO": "'
        for _ in range(20):
            yield b"x" * 65536
        yield b'"}'

    response = unchanged.patch(f"/apps/{APP}/config-vars", content=chunks())
    error(response, 413, "payload_too_large", TOO_LARGE)


def test_a_body_at_the_limit_is_fine(client: TestClient, deployed: str) -> None:
    value = "x" * ((1 << 20) - len('{"BIG": ""}'))
    response = client.patch(f"/apps/{APP}/config-vars", json={"BIG": value})
    assert response.status_code == 200


# -- SQL metacharacters -----------------------------------------------------------------------

SQL = [
    "'; DROP TABLE apps; --",
    "' OR '1'='1",
    '" OR ""="',
    "1; DELETE FROM releases",
    "%",
    "_",
    "\\",
    "acme-inc' --",
]


@pytest.mark.parametrize("text", SQL)
def test_sql_in_path_parameters(unchanged: TestClient, text: str) -> None:
    error(
        unchanged.get(f"/apps/{text}"),
        404,
        "not_found",
        f"Couldn't find that app: no app named {text}",
    )
    error(
        unchanged.get(f"/apps/{APP}/releases/{text}"),
        404,
        "not_found",
        f"Couldn't find that release: {APP} has no release {text}",
    )
    error(
        unchanged.get(f"/apps/{APP}/domains/{text}"),
        404,
        "not_found",
        f"{text} is not a domain of {APP}",
    )
    error(unchanged.delete(f"/apps/{text}"), 404, "not_found")
    error(unchanged.patch(f"/apps/{text}/config-vars", json={"A": "b"}), 404, "not_found")
    error(unchanged.get(f"/apps/{APP}/formation/{text}"), 404, "not_found")
    error(unchanged.delete(f"/apps/{APP}/dynos/{text}"), 404, "not_found")
    assert [a["name"] for a in unchanged.get("/apps").json()] == [APP]


RANGE_FORMS = [
    "name ]{}..; max=5",
    "id {}..",
    "{} ..; max=5",
    "name ..; max={}",
    "name ..; order={}",
    "version ]{}..; max=2",
    "hostname {}..",
    "domain ..; {}",
]


@pytest.mark.parametrize("text", SQL)
def test_sql_in_range(unchanged: TestClient, text: str) -> None:
    for form in RANGE_FORMS:
        header = form.format(text)
        for path in (
            "/apps",
            f"/apps/{APP}/releases",
            f"/apps/{APP}/domains",
            f"/apps/{APP}/dynos",
            f"/apps/{APP}/formation",
        ):
            response = unchanged.get(path, headers={"Range": header})
            assert response.status_code in (200, 206), (path, header, response.text)
            assert isinstance(response.json(), list)
    assert [a["name"] for a in unchanged.get("/apps").json()] == [APP]


ODD_NUMBERS = ["²", "٣", "9" * 5000, "99999999999999999999", "1e3", "-1", "v2", "0x1", " 1"]


@pytest.mark.parametrize("number", ODD_NUMBERS, ids=[repr(n[:12]) for n in ODD_NUMBERS])
def test_odd_numbers_in_range(unchanged: TestClient, number: str) -> None:
    for header in (
        f"version {number}..; max=1",
        f"version ]{number}..",
        f"version ..; max={number}",
    ):
        response = unchanged.get(f"/apps/{APP}/releases", headers={"Range": header.encode()})
        assert response.status_code in (200, 206), response.text
        assert response.json()


# "²" is a digit to str.isdigit() that int() refuses, 5000 digits exceed Python's int
# conversion limit and 20 digits overflow an INTEGER column: all are simply not versions.
@pytest.mark.parametrize(
    "number",
    [
        "²",
        pytest.param("9" * 5000, id="5000 digits"),
        pytest.param("99999999999999999999", id="20 digits"),
        "٣",
        "1e3",
        "-1",
        "0x1",
    ],
)
def test_odd_numbers_in_release_paths(unchanged: TestClient, number: str) -> None:
    message = f"Couldn't find that release: {APP} has no release {number}"
    error(unchanged.get(f"/apps/{APP}/releases/{number}"), 404, "not_found", message)
    error(
        unchanged.post(f"/apps/{APP}/releases", json={"release": number}),
        404,
        "not_found",
        message,
    )
