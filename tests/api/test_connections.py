"""The server's connections, over real sockets against uvicorn with Empire's protocol
(`empire.api.server`): half-sent requests are answered and closed (slowloris, issue 13 item
12), the number of connections is bounded, and an over-large body is read before its 413.

The deadlines are set short here; each test checks that the server closed the connections
(a read returns end of file), never how long it took.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from api.api_support import Served
from empire.api import create_app
from support.stack import Stack, make_stack
from support.waiting import wait_for

HALF = 40  # connections of each kind: headers that never end, bodies that never end


@pytest.fixture
def stack(tmp_path: Path) -> Stack:
    return make_stack(tmp_path)


@pytest.fixture
def served(stack: Stack) -> Iterator[Served]:
    app = create_app(stack.empire, body_timeout=1.0, max_body_bytes=1 << 20)
    with Served(app, header_timeout=1.0, max_connections=3 * HALF) as served:
        yield served


def connect(served: Served) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", served.port), timeout=30)
    return sock


def until_closed(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (a bound of 30 s per read:
    past it the test fails, the connection was left open)."""
    received = b""
    while chunk := sock.recv(65536):
        received += chunk
    sock.close()
    return received


def answer(raw: bytes) -> tuple[int, dict[str, str], dict[str, str]]:
    """The status, headers and JSON body of one HTTP response."""
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *lines = head.decode().split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
    return int(status_line.split()[1]), headers, json.loads(body)


def test_half_sent_headers_and_bodies_are_answered_and_closed(served: Served) -> None:
    """Slowloris on the open login route: headers that never end, bodies that never end,
    and a client trickling a byte now and then; the server closes every one of them."""
    headers = [connect(served) for _ in range(HALF)]
    for sock in headers:
        sock.sendall(b"POST /oauth/authorizations HTTP/1.1\r\nHost: empire\r\nX-A: ")
    bodies = [connect(served) for _ in range(HALF)]
    for sock in bodies:
        sock.sendall(
            b"POST /oauth/authorizations HTTP/1.1\r\nHost: empire\r\n"
            b"Authorization: Basic Ym9iOnNlY3JldA==\r\nContent-Type: application/json\r\n"
            b'Content-Length: 1000\r\n\r\n{"description": "'
        )
    trickling = headers[:3] + bodies[:3]
    for _ in range(5):  # a byte now and then restarts no deadline
        for sock in trickling:
            with contextlib.suppress(OSError):  # closed already
                sock.sendall(b"a")
        time.sleep(0.3)
    for sock in headers:
        raw = until_closed(sock)
        status, reply_headers, body = answer(raw)
        assert status == 408 and reply_headers["connection"] == "close"
        assert body["id"] == "request_timeout" and body["url"] == ""
        assert body["message"] == "the request headers did not arrive within 1 s"
    for sock in bodies:
        status, reply_headers, body = answer(until_closed(sock))
        assert status == 408 and reply_headers["connection"] == "close"
        assert body["message"].startswith("the request body did not arrive within 1 s")


def test_headers_past_the_size_bound_are_refused(served: Served) -> None:
    sock = connect(served)
    padding = b"".join(b"X-Padding-%d: %s\r\n" % (n, b"a" * 1000) for n in range(70))
    sock.sendall(b"GET /health HTTP/1.1\r\nHost: empire\r\n" + padding)  # 70 KB, never ended
    status, headers, body = answer(until_closed(sock))
    assert status == 431 and headers["connection"] == "close"
    assert body["id"] == "header_too_large"


def test_connections_past_the_limit_are_answered_503_and_closed(served: Served) -> None:
    idle = [connect(served) for _ in range(3 * HALF)]
    for sock in idle:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: empire\r\n")  # in the middle of a request
    extra = connect(served)
    status, headers, body = answer(until_closed(extra))
    assert status == 503 and headers["retry-after"] == "1"
    assert body == {
        "id": "unavailable",
        "message": f"the server has {3 * HALF} connections open, its limit: try again in a moment",
        "url": "",
    }
    for sock in idle:
        sock.close()

    def health() -> bool:
        connection = http.client.HTTPConnection("127.0.0.1", served.port, timeout=30)
        try:
            connection.request("GET", "/health")
            return connection.getresponse().status == 200
        except OSError:
            return False
        finally:
            connection.close()

    wait_for(health, what="a connection to be served again", interval=0.02)


@pytest.mark.parametrize("connection", ["keep-alive", "close"])
def test_an_over_large_body_is_read_before_its_413(
    served: Served, stack: Stack, connection: str
) -> None:
    """Python's http.client writes the whole body before it reads: the server reads (and
    discards) it, then answers, instead of resetting the connection under the client."""
    client = http.client.HTTPConnection("127.0.0.1", served.port, timeout=30)
    client.request(
        "POST",
        "/apps",
        body=b"x" * (8 << 20),
        headers={
            "Authorization": f"Bearer {stack.token}",
            "Content-Type": "application/json",
            "Connection": connection,
        },
    )
    response = client.getresponse()
    assert response.status == 413
    assert json.loads(response.read()) == {
        "id": "payload_too_large",
        "message": "request body too large: the limit is 1048576 bytes",
        "url": "",
    }
    client.close()
