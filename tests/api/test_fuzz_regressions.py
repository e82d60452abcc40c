"""Regressions for the bugs test_fuzz.py found: each answered 500 (or reached a store that
fails on it) and now answers 4xx in the Heroku error shape, changing nothing.

- sizes (`empire.sizes`): "²" passed str.isdigit() and failed int(); a memory of hundreds of
  digits made an infinite float that int() refused; an nproc past 4300 digits exceeded int()'s
  limit; CPU shares, memory and nproc had no upper bound, so sizes no scheduler takes got stored.
- NUL characters: PostgreSQL refuses them in text, so a NUL in a path parameter, a Range start,
  a body string field or the Commit-Message header was a 500 there (SQLite keeps them). The
  gate refuses a path with one, `string()` a body field with one, and so does the context for
  the header; a Range start with a control character is ignored, as any unrecognised Range is.
"""

from __future__ import annotations

from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient

from api.api_support import APP, SIZE_FORMS, error, size_refused
from support.stack import Stack

# -- sizes --------------------------------------------------------------------------------------

BAD_SIZES = [
    ("²:1GB", 'CPU shares "²" is not a whole number'),
    ("99999999999999999999:1GB", "CPUShare must be at most 262144"),
    ("262145:1GB", "CPUShare must be at most 262144"),
    ("9" * 5000 + ":1GB", "CPUShare must be at most 262144"),
    ("00:1GB", "CPUShare must be greater than 1"),
    ("2:" + "9" * 400 + "TB", "memory must be at most 1024TB"),
    ("2:" + "9" * 5000, "memory must be at most 1024TB"),
    ("2:1025TB", "memory must be at most 1024TB"),
    ("2:1GB:nproc=" + "9" * 30, "nproc must be at most 2147483647"),
    ("2:1GB:nproc=" + "9" * 5000, "nproc must be at most 2147483647"),
    ("2:1GB:nproc=2147483648", "nproc must be at most 2147483647"),
]


@pytest.mark.parametrize(
    ("size", "reason"), BAD_SIZES, ids=[f"{s[:16]}({len(s)})" for s, _ in BAD_SIZES]
)
def test_odd_sizes_are_bad_requests(unchanged: TestClient, size: str, reason: str) -> None:
    size_refused(unchanged, size, f'invalid size "{size}": {reason}; {SIZE_FORMS}')


def test_unicode_digits_are_no_memory(unchanged: TestClient) -> None:
    error(
        unchanged.patch(f"/apps/{APP}/formation/web", json={"size": "256:٣GB"}),
        400,
        "bad_request",
    )


def test_the_largest_size_is_taken(client: TestClient, deployed: str) -> None:
    largest = "262144:1024TB:nproc=2147483647"
    response = client.patch(f"/apps/{APP}/formation/web", json={"size": largest})
    assert response.status_code == 200, response.text
    assert response.json()["size"] == "262144:1024.00tb:nproc=2147483647"


# -- NUL characters -------------------------------------------------------------------------

NUL = quote("\x00")
NUL_PATHS = [
    ("GET", f"/apps/{NUL}"),
    ("DELETE", f"/apps/{NUL}"),
    ("GET", f"/apps/{APP}/releases/{NUL}"),
    ("GET", f"/apps/{APP}/config-vars/{NUL}"),
    ("GET", f"/apps/{APP}/domains/{NUL}"),
    ("DELETE", f"/apps/{APP}/domains/www{NUL}.acme.com"),
    ("GET", f"/apps/{APP}/formation/web{NUL}"),
    ("DELETE", f"/apps/{APP}/dynos/{NUL}"),
    ("DELETE", f"/oauth/authorizations/{NUL}"),
]


@pytest.mark.parametrize(("method", "path"), NUL_PATHS)
def test_nul_in_a_path_is_a_bad_request(unchanged: TestClient, method: str, path: str) -> None:
    message = "invalid path: no name or id contains a NUL character (%00)"
    error(unchanged.request(method, path), 400, "bad_request", message)


def test_nul_in_a_path_without_a_token_is_still_401(stack: Stack) -> None:
    with stack.client() as client:
        del client.headers["Authorization"]
        error(client.get(f"/apps/{NUL}"), 401, "unauthorized")


NUL_FIELDS = [
    ("PATCH", f"/apps/{APP}", {"cert": "a\x00b"}, "cert"),
    ("POST", f"/apps/{APP}/certs", {"cert": "a\x00b"}, "cert"),
    ("POST", f"/apps/{APP}/dynos", {"command": "ls\x00-l"}, "command"),
    ("POST", f"/apps/{APP}/log-sessions", {"dyno": "web\x00", "lines": 1}, "dyno"),
    ("POST", f"/apps/{APP}/domains", {"hostname": "www\x00.acme.com"}, "hostname"),
    ("POST", "/deploys", {"image": "acme/api\x00:v1"}, "image"),
]


@pytest.mark.parametrize(("method", "path", "body", "field"), NUL_FIELDS)
def test_nul_in_a_body_string_is_a_bad_request(
    unchanged: TestClient, method: str, path: str, body: dict[str, object], field: str
) -> None:
    message = f"field {field!r} must not contain NUL characters (\\u0000)"
    error(unchanged.request(method, path, json=body), 400, "bad_request", message)


def test_nul_in_the_commit_message_is_a_bad_request(unchanged: TestClient) -> None:
    response = unchanged.patch(
        f"/apps/{APP}/config-vars", json={"A": "b"}, headers={"Commit-Message": "fix\x00it"}
    )
    message = "the Commit-Message header must not contain NUL characters"
    error(response, 400, "bad_request", message)


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/apps", "name"),
        (f"/apps/{APP}/releases", "id"),
        (f"/apps/{APP}/domains", "hostname"),
        (f"/apps/{APP}/dynos", "name"),
        (f"/apps/{APP}/formation", "type"),
    ],
)
@pytest.mark.parametrize("start", ["\x00", "a\x00", "\x1f", "\x7f"])
def test_a_range_start_with_a_control_character_is_ignored(
    unchanged: TestClient, path: str, field: str, start: str
) -> None:
    plain = unchanged.get(path, headers={"Range": f"{field} ..; max=1000"})
    odd = unchanged.get(path, headers={"Range": f"{field} ]{start}..; max=1000"})
    assert odd.status_code == plain.status_code == 200, odd.text
    assert odd.json() == plain.json()


# -- found by the fuzzer in modules it did not own ------------------------------------------


@pytest.mark.parametrize("quantity", [1001, 10**30, "1" + "0" * 5000, -1])
def test_a_quantity_beyond_any_backend_is_a_bad_request(
    unchanged: TestClient, quantity: int | str
) -> None:
    """10**30 was accepted, and the fake scheduler then hung listing 10**30 dynos."""
    shown = quantity if isinstance(quantity, int) and abs(quantity) < 10**18 else "that large"
    message = f"invalid quantity {shown} for web: use 0 to 1000"
    for response in (
        unchanged.patch(
            f"/apps/{APP}/formation", json={"updates": [{"type": "web", "quantity": quantity}]}
        ),
        unchanged.patch(f"/apps/{APP}/formation/web", json={"quantity": quantity}),
    ):
        error(response, 400, "bad_request", message)


def test_a_config_value_with_nul_is_refused_without_repeating_it(unchanged: TestClient) -> None:
    response = unchanged.patch(f"/apps/{APP}/config-vars", json={"TOKEN": "s3cr3t\u0000"})
    error(
        response,
        400,
        "bad_request",
        "config var TOKEN contains a NUL character (\\u0000): no process environment can hold one",
    )
    assert "s3cr3t" not in response.text
