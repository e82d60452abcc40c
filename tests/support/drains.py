"""What the drains tests run against: an in-memory AppLog, a syslog receiver (TCP or TLS,
octet-counted RFC 5424 frames), an HTTPS receiver of logplex batches, and a drain that
accepts nothing (a listening socket never read)."""

from __future__ import annotations

import http.server
import re
import socket
import socketserver
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from empire.applog import Listener, LogLine

FRAME = re.compile(
    rb"^<(?P<pri>\d+)>1 (?P<time>\S+) (?P<host>\S+) (?P<app>\S+) (?P<procid>\S+) - - (?P<msg>.*)$",
    re.DOTALL,
)


class MemoryAppLog:
    """The AppLog seam, in memory: every line kept, handed to every listener."""

    def __init__(self) -> None:
        self.lines: list[LogLine] = []
        self._listeners: list[Listener] = []
        self._lock = threading.Lock()

    def write(self, line: LogLine) -> None:
        with self._lock:
            self.lines.append(line)
            listeners = list(self._listeners)
        for listener in listeners:
            listener(line)

    def listen(self, listener: Listener) -> Callable[[], None]:
        with self._lock:
            self._listeners.append(listener)

        def stop() -> None:
            with self._lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return stop


@dataclass
class Frame:
    """One received RFC 5424 frame."""

    host: str
    app: str
    procid: str
    msg: str
    raw: bytes


def parse_frames(data: bytes) -> tuple[list[Frame], bytes]:
    """Split octet-counted frames; return them and what is left (an incomplete frame)."""
    frames: list[Frame] = []
    while True:
        space = data.find(b" ")
        if space < 0 or not data[:space].isdigit():
            return frames, data
        length = int(data[:space])
        end = space + 1 + length
        if len(data) < end:
            return frames, data
        raw = data[space + 1 : end]
        data = data[end:]
        match = FRAME.match(raw)
        assert match is not None, raw[:200]
        frames.append(
            Frame(
                match["host"].decode(),
                match["app"].decode(),
                match["procid"].decode(),
                match["msg"].decode(),
                raw,
            )
        )


@dataclass
class Received:
    frames: list[Frame] = field(default_factory=list)
    batches: list[tuple[dict[str, str], list[Frame]]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def messages(self) -> list[str]:
        with self.lock:
            return [f.msg for f in self.frames]


class SyslogReceiver:
    """A TCP (or, with a certificate, TLS) server that keeps every frame it receives."""

    def __init__(self, cert: tuple[Path, Path] | None = None) -> None:
        self.received = Received()
        received = self.received
        context = None
        if cert is not None:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(str(cert[0]), str(cert[1]))

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                conn = self.request
                if context is not None:
                    conn = context.wrap_socket(conn, server_side=True)
                rest = b""
                while chunk := conn.recv(65536):
                    frames, rest = parse_frames(rest + chunk)
                    with received.lock:
                        received.frames.extend(frames)

        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class LogplexReceiver:
    """An HTTPS server that keeps every logplex batch POSTed to it (headers and frames)."""

    def __init__(self, cert: tuple[Path, Path], status: int = 200) -> None:
        self.received = Received()
        received = self.received
        self.status = status
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                frames, rest = parse_frames(body)
                assert rest == b""
                with received.lock:
                    received.batches.append(
                        ({k.lower(): v for k, v in self.headers.items()}, frames)
                    )
                    received.frames.extend(frames)
                self.send_response(receiver.status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(str(cert[0]), str(cert[1]))
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class BlackHole:
    """A drain that accepts nothing: a listening socket nobody accepts nor reads (the kernel
    completes the handshake, then its buffers fill and stay full)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(1)
        self.port = self.sock.getsockname()[1]

    def close(self) -> None:
        self.sock.close()
