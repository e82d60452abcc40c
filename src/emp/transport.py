"""The HTTP edge of HerokuClient: headers, auth, errors, pagination and streams."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import httpx

from emp import __version__
from emp.credentials import Creds

ACCEPT = "application/vnd.heroku+json; version=3"
JSON = dict[str, Any]
STREAM_TIMEOUT = httpx.Timeout(60.0, read=None)
# A write that makes a release (config vars, a rollback) answers once the release is live:
# after its release phase (up to the server's EMPIRE_RELEASE_TIMEOUT, an hour by default) and
# its rollout. The server bounds it; emp waits. Other writes keep the client's timeouts.
RELEASE_TIMEOUT = httpx.Timeout(60.0, connect=10.0, read=None)
MAX_PAGES = 1000  # of one list; at the API's 1000 items a page, a million items
MAX_ITEMS = 100_000  # of one list, whatever the page size


class ApiError(Exception):
    """The API answered with an error: HTTP status, Heroku error id and message."""

    def __init__(self, status: int, id: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.id = id
        self.message = message


class PaginationError(ApiError):
    """The server's `Next-Range` headers would never end the list: stop with this error."""

    def __init__(self, message: str) -> None:
        super().__init__(0, "bad_pagination", message)


class Unreachable(Exception):
    """The API could not be reached at all (server down, DNS, TLS, timeout)."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"cannot reach Empire at {url}: {reason}")
        self.url = url
        self.reason = reason


class Transport:
    """Send Heroku API requests over an injected httpx.Client."""

    def __init__(
        self,
        http: httpx.Client,
        *,
        url: str,
        creds: Creds | None = None,
        headers: Mapping[str, str] | None = None,
        warn: Callable[[str], None] | None = None,
        max_pages: int = MAX_PAGES,
        max_items: int = MAX_ITEMS,
    ) -> None:
        self.http = http
        self.url = url
        self.creds = creds
        self.extra = dict(headers or {})
        self.warn = warn
        self.max_pages = max_pages
        self.max_items = max_items

    def headers(
        self, message: str | None = None, extra: Mapping[str, str] | None = None
    ) -> dict[str, Any]:
        """Return the headers of one request (a fresh Request-Id each time)."""
        headers: dict[str, Any] = {
            "Accept": ACCEPT,
            "Request-Id": str(uuid.uuid4()),
            "User-Agent": f"emp/{__version__}",
        }
        if message:
            headers["Commit-Message"] = message.encode()
        headers.update(self.extra)
        headers.update(extra or {})
        return headers

    def request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        message: str | None = None,
        headers: Mapping[str, str] | None = None,
        auth: httpx.BasicAuth | None = None,
        timeout: httpx.Timeout | None = None,
    ) -> httpx.Response:
        """Send one request; raise ApiError on an error status, Unreachable on no answer.
        `timeout` replaces the client's own (None: the client's)."""
        content = None if body is None else json.dumps(body).encode()
        sent = self.headers(message, headers)
        if content is not None:
            sent["Content-Type"] = "application/json"
        with self.reaching():
            response = self.http.request(
                method,
                path,
                content=content,
                headers=sent,
                auth=auth or self._auth(path),
                timeout=timeout if timeout is not None else httpx.USE_CLIENT_DEFAULT,
            )
        self.check(response)
        return response

    @contextmanager
    def stream(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        message: str | None = None,
        headers: Mapping[str, str] | None = None,
        raw: bytes | None = None,
    ) -> Iterator[httpx.Response]:
        """Open a streaming request; raise ApiError on an error status. `raw` is sent as the
        body as it is (its Content-Type in `headers`); else `body` as JSON."""
        sent = self.headers(message, headers)
        content = raw
        if method != "GET" and raw is None:
            sent["Content-Type"] = "application/json"
            content = json.dumps(body if body is not None else {}).encode()
        with (
            self.reaching(),
            self.http.stream(
                method,
                path,
                content=content,
                headers=sent,
                auth=self._auth(path),
                timeout=STREAM_TIMEOUT,
            ) as response,
        ):
            if response.status_code >= 400:
                response.read()
            self.check(response)
            yield response

    @contextmanager
    def reaching(self) -> Iterator[None]:
        """Turn transport failures into Unreachable."""
        try:
            yield
        except httpx.TransportError as exc:
            raise Unreachable(self.url, _reason(exc)) from exc

    def check(self, response: httpx.Response) -> None:
        """Print the API's warnings; raise ApiError for an error status."""
        warning = response.headers.get("X-Heroku-Warning")
        if warning and self.warn:
            self.warn(warning)
        if response.status_code < 400:
            return
        try:
            data = response.json()
        except ValueError:
            data = None
        if isinstance(data, dict) and isinstance(data.get("message"), str):
            raise ApiError(response.status_code, str(data.get("id") or ""), data["message"])
        text = response.text.strip() or response.reason_phrase
        raise ApiError(response.status_code, "", text)

    def get(self, path: str) -> Any:
        """GET a JSON value."""
        return decode(self.request("GET", path))

    def send(
        self,
        method: str,
        path: str,
        body: Any = None,
        message: str | None = None,
        *,
        timeout: httpx.Timeout | None = None,
    ) -> Any:
        """Send a write and return its JSON answer ({} when empty)."""
        return decode(self.request(method, path, body=body, message=message, timeout=timeout))

    def list(self, path: str, range_: str, *, follow: bool = True) -> list[JSON]:
        """GET a list with a Range header, following Next-Range while the server has more.

        A range the server already gave, more than `max_pages` pages or more than `max_items`
        items raise PaginationError: a server cannot keep emp paging forever.
        """
        items: list[JSON] = []
        seen: set[str] = set()
        header: str | None = range_
        while header:
            seen.add(header)
            response = self.request("GET", path, headers={"Range": header})
            items.extend(array(decode(response)))
            more = response.headers.get("Next-Range") if response.status_code == 206 else None
            header = more if follow and more else None
            if header is None:
                break
            if header in seen:
                raise PaginationError(
                    f"the API sent the range {header!r} of {path} a second time after "
                    f"{len(seen)} pages: stopped, as the list would never end"
                )
            if len(seen) >= self.max_pages or len(items) >= self.max_items:
                raise PaginationError(
                    f"the list {path} goes on past {len(seen)} pages and {len(items)} items: "
                    f"stopped at emp's limit of {self.max_pages} pages or {self.max_items} items"
                )
        return items

    def _auth(self, path: str) -> httpx.BasicAuth | None:
        """Return the credentials for a request to path, which may be a full URL: only the
        API's own scheme, host and port ever get them."""
        if self.creds is None or not self._at_api(path):
            return None
        return httpx.BasicAuth(self.creds.login, self.creds.password)

    def _at_api(self, path: str) -> bool:
        if "://" not in path:
            return True
        target, api = httpx.URL(path), httpx.URL(self.url)
        return (target.scheme, target.host, target.port) == (api.scheme, api.host, api.port)


def decode(response: httpx.Response) -> Any:
    """Decode a JSON response body; an empty body is {}."""
    if not response.content.strip():
        return {}
    return response.json()


def obj(value: Any) -> JSON:
    """Check a JSON value is an object."""
    if not isinstance(value, dict):
        raise ApiError(0, "", f"unexpected answer from the API: {value!r:.200}")
    return value


def array(value: Any) -> list[JSON]:
    """Check a JSON value is an array of objects."""
    if value == {}:
        return []
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise ApiError(0, "", f"unexpected answer from the API: {value!r:.200}")
    return value


def _reason(exc: httpx.TransportError) -> str:
    text = str(exc)
    if isinstance(exc, httpx.ConnectError) and "refused" in text.lower():
        return "connection refused"
    if isinstance(exc, httpx.TimeoutException):
        return "timed out"
    return text or type(exc).__name__
