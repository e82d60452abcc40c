"""The router's access log read back: requests, their app and instance, and `router` lines."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from empire.applog import ROUTER
from empire.applogs import requests as lines
from empire.applogs.memory import MemoryAppLog
from empire.router import Endpoint, Route
from empire.router.access import RouterRequest
from empire.router.accesslog import MAX_ENTRY, PENDING, AccessLog, Requests, split

WEB2 = "empire-acme-web-2-v3-1a2b"
ROUTES = [
    Route(
        "id-1",
        "acme",
        hostnames=("www.acme.test", "*.acme.dev"),
        processes=(("web", (Endpoint("empire-acme-web-1-v3-9f9f", 8080), Endpoint(WEB2, 8080))),),
    )
]
TS = 1796614948.1670034


def caddy(entry: dict[str, Any]) -> str:
    return json.dumps(entry, separators=(",", ":"))  # as Caddy writes it


def roundtrip(upstream: str, request_id: str = "rid-1", **extra: Any) -> str:
    return caddy(
        {
            "level": "debug",
            "ts": TS - 0.004,
            "logger": "http.handlers.reverse_proxy",
            "msg": "upstream roundtrip",
            "upstream": upstream,
            "duration": 0.003,
            "request": {
                "remote_ip": "203.0.113.9",
                "remote_port": "40894",
                "method": "GET",
                "host": "www.acme.test",
                "uri": "/",
                "headers": {"X-Request-Id": [request_id]},
            },
            **extra,
        }
    )


def access(
    host: str = "www.acme.test",
    uri: str = "/",
    status: int = 200,
    request_id: str = "rid-1",
    ts: float = TS,
) -> str:
    return caddy(
        {
            "level": "info",
            "ts": ts,
            "logger": "http.log.access",
            "msg": "handled request",
            "request": {
                "remote_ip": "203.0.113.9",
                "remote_port": "40894",
                "proto": "HTTP/1.1",
                "method": "GET",
                "host": host,
                "uri": uri,
                "headers": {"User-Agent": ["curl"]},
            },
            "duration": 0.005,
            "size": 123,
            "status": status,
            "resp_headers": {"X-Request-Id": [request_id]},
        }
    )


class Seen:
    def __init__(self) -> None:
        self.requests: list[RouterRequest] = []

    def observe(self, request: RouterRequest) -> None:
        self.requests.append(request)


def test_an_answered_request_names_its_app_and_instance_and_reaches_every_listener() -> None:
    seen, applog = Seen(), MemoryAppLog()
    feed = Requests(lambda: ROUTES, [lines.RouterLines(applog), seen])
    assert feed.feed(roundtrip(f"{WEB2}.:8080")) is None  # an SRV target, as Caddy names it
    request = feed.feed(access())
    assert request is not None and seen.requests == [request]
    assert (request.app_id, request.app, request.dyno, request.status) == (
        "id-1",
        "acme",
        "web.2",
        200,
    )
    assert request.at == datetime.fromtimestamp(TS, UTC)
    [line] = applog.history("id-1")
    assert line.source == ROUTER
    assert line.text == (
        'at=info method=GET path="/" host=www.acme.test request_id=rid-1 fwd="203.0.113.9" '
        "dyno=web.2 connect=2ms service=3ms status=200 bytes=123 protocol=http"
    )


def test_a_wildcard_domain_finds_its_app_and_an_unknown_host_none() -> None:
    feed = Requests(lambda: ROUTES, [])
    assert feed.feed(access(host="api.acme.dev:8080")) is not None
    assert feed.feed(access(host="www.other.test")) is None


def test_no_running_process_is_h14_and_no_reachable_one_h19() -> None:
    feed = Requests(lambda: ROUTES, [])
    feed.feed(roundtrip("empire-router:8503"))
    down = feed.feed(access(status=503))
    assert down is not None and (down.error, down.dyno) == ("H14", None)
    unreachable = feed.feed(access(status=502, request_id="rid-2"))
    assert unreachable is not None and unreachable.error == "H19"
    feed.feed(roundtrip(f"{WEB2}:8080", "rid-3", error="read: connection reset by peer"))
    hung_up = feed.feed(access(status=502, request_id="rid-3"))
    assert hung_up is not None and (hung_up.error, hung_up.dyno) == ("H13", "web.2")
    feed.feed(roundtrip(f"{WEB2}:8080", "rid-4"))
    app_502 = feed.feed(access(status=502, request_id="rid-4"))
    assert app_502 is not None and app_502.error is None  # the app answered 502 itself
    assert lines.line(down).startswith('at=error code=H14 desc="No web processes running" ')


def test_hostile_paths_and_ids_are_bounded_and_escaped_in_the_line() -> None:
    feed = Requests(lambda: ROUTES, [])
    path = '/"quoted" \\ \x1b[2J\n' + "a" * 1_000_000
    request = feed.feed(access(uri=path, request_id='x" at=error\n'))
    assert request is not None
    text = lines.line(request)
    assert "\n" not in text and "\x1b" not in text and len(text) < 3_000
    assert 'path="/\\"quoted\\" \\\\ \\x1b[2J\\x0aaaa' in text
    assert 'request_id=x" at=error\\x0a ' in text


def test_what_is_no_access_line_is_ignored_and_roundtrips_waiting_are_bounded() -> None:
    feed = Requests(lambda: ROUTES, [])
    for raw in ["resolver: listening", "{", "[1, 2]", '{"logger": 3}', "null"]:
        assert feed.feed(raw) is None
    for n in range(PENDING + 50):
        feed.feed(roundtrip(f"{WEB2}:8080", f"rid-{n}"))
    assert len(feed._pending) == PENDING


def test_an_access_line_told_before_a_reopening_is_not_told_again() -> None:
    feed = Requests(lambda: ROUTES, [])
    feed.floor = TS
    assert feed.feed(access()) is None


def test_split_skips_lines_over_the_bound_whole() -> None:
    chunks = [b"one\n", b"x" * (MAX_ENTRY + 1), b"y\ntwo", b"\nthree"]
    assert list(split(chunks)) == [b"one", b"two", b"three"]


class Stream:
    """A followed log stream of the fake engine: its lines, then its end (or `close`)."""

    def __init__(self, lines: list[str]) -> None:
        self.lines = lines
        self.closed = False

    def __iter__(self) -> Iterator[bytes]:
        for line in self.lines:
            if self.closed:
                return
            yield line.encode() + b"\n"

    def close(self) -> None:
        self.closed = True


class Engine:
    """The part of the engine API the follower uses: a stream per `logs` call."""

    def __init__(self, streams: list[list[str]]) -> None:
        self.streams = streams
        self.calls: list[dict[str, Any]] = []
        self.done = threading.Event()

    def logs(self, container: str, **options: Any) -> Stream:
        self.calls.append({"container": container, **options})
        if not self.streams:
            self.done.set()
            raise RuntimeError("no such container")  # replaced: not there yet
        return Stream(self.streams.pop(0))


def test_the_follower_opens_the_router_s_output_again_and_tells_each_request_once() -> None:
    now = time.time() + 60  # the follower tells what the router writes once it started
    first = [roundtrip(f"{WEB2}:8080"), access(ts=now)]
    # The container came back: the engine gives its output from `since`, the last line again.
    second = [
        access(ts=now),
        roundtrip(f"{WEB2}:8080", "rid-2"),
        access(request_id="rid-2", ts=now + 1),
    ]
    engine = Engine([first, second])
    seen = Seen()
    follower = AccessLog(engine, "empire-router", Requests(lambda: ROUTES, [seen]))  # type: ignore[arg-type]
    follower.start()
    try:
        assert engine.done.wait(10)
    finally:
        follower.close()
    assert [r.request_id for r in seen.requests] == ["rid-1", "rid-2"]
    assert [c["container"] for c in engine.calls[:3]] == ["empire-router"] * 3
    assert engine.calls[1]["since"] == now
    assert all(c["follow"] and c["stream"] for c in engine.calls)
