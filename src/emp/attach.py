"""Attached `emp run`: the process's stdin, stdout, stderr, terminal and exit code, over a
WebSocket to `/apps/<app>/attach` with the same credentials and headers as every request.

The protocol (the server's `empire.api.attach` documents it in full): the first message is the
run request as JSON text, answered by `{"dyno": name}` or `{"error": {...}}`; then binary frames
`<stream id><bytes>` come from the server (1 stdout, 2 stderr) and binary frames of stdin go to
it, with text `{"resize": [rows, cols]}` and `{"eof": true}`; `{"exit": code}` ends the session.

A terminal is used only when stdin and stdout both are one: then it is put in raw mode (and
restored at the end) and its size follows SIGWINCH. Without one (pipes, files, /dev/null, CI)
no terminal call is ever made.
"""

from __future__ import annotations

import base64
import codecs
import contextlib
import json
import os
import shutil
import signal
import socket
import ssl
import termios
import threading
import tty as terminal
from collections.abc import Iterator
from types import FrameType
from typing import Any, TextIO
from urllib.parse import quote, urlsplit, urlunsplit

from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI
from websockets.sync.client import ClientConnection, connect

from emp.session import Fail, Session
from emp.transport import JSON, ApiError, Unreachable

STDOUT = 1
STDERR = 2
_READ = 65536


def run(s: Session, app: str, request: JSON, message: str | None) -> int:
    """Run `request` attached to this process's streams; return the remote exit code."""
    in_fd, out_fd = _fileno(s.io.stdin), _fileno(s.io.stdout)
    use_tty = (
        bool(s.io.stdin_tty and s.io.stdout_tty)
        and in_fd is not None
        and out_fd is not None
        and os.isatty(in_fd)
        and os.isatty(out_fd)
    )
    env = {str(k): str(v) for k, v in (request.get("env") or {}).items()}
    term = s.io.environ.get("TERM")
    if term:
        env.setdefault("TERM", term)
    sent: JSON = {**request, "tty": use_tty}
    if use_tty and out_fd is not None:
        rows, cols = _size(out_fd)
        env.setdefault("COLUMNS", str(cols))
        env.setdefault("LINES", str(rows))
        sent.update(rows=rows, cols=cols)
    sent["env"] = env
    url = _ws_url(s.api_url, app)
    with _connection(s, url, message) as ws, _interruptible(ws) as interrupted:
        try:
            ws.send(json.dumps(sent))
            _started(ws)
            streams = {STDOUT: _Sink(s.io.stdout), STDERR: _Sink(s.io.stderr)}
            with _raw_mode(in_fd if use_tty else None), _resizes(ws, out_fd if use_tty else None):
                reader = threading.Thread(
                    target=_pump_stdin, args=(ws, s.io.stdin, in_fd), name="emp-stdin", daemon=True
                )
                reader.start()
                try:
                    code = _pump_output(ws, streams)
                finally:
                    for sink in streams.values():
                        sink.close()
        except (Fail, ConnectionClosed):
            if interrupted.is_set():
                raise KeyboardInterrupt from None
            raise
    if code is None:
        raise Fail("the process ended but Empire could not read its exit code")
    return code


# -- the connection ---------------------------------------------------------------------------


class _Interrupted:
    """Whether SIGINT ended the run (a plain flag: a signal handler must take no lock)."""

    def __init__(self) -> None:
        self.flag = False

    def is_set(self) -> bool:
        return self.flag


@contextlib.contextmanager
def _interruptible(ws: ClientConnection) -> Iterator[_Interrupted]:
    """Make SIGINT (without a TTY: a terminal in raw mode sends ^C to the process instead)
    end the run by closing the socket, not by raising inside the WebSocket library, which can
    leave its locks held and the close waiting forever. A second SIGINT acts as it did before
    (KeyboardInterrupt), and a SIGINT that was ignored stays ignored."""
    interrupted = _Interrupted()
    main = threading.current_thread() is threading.main_thread()
    previous = signal.getsignal(signal.SIGINT) if main else None
    if not main or previous is signal.SIG_IGN:
        yield interrupted
        return
    if previous is None:  # a handler set outside Python: KeyboardInterrupt is the default
        previous = signal.default_int_handler

    def stop(signum: int, frame: FrameType | None) -> None:
        interrupted.flag = True
        signal.signal(signal.SIGINT, previous)  # the next one is as before
        with contextlib.suppress(OSError):
            ws.socket.shutdown(socket.SHUT_RDWR)

    signal.signal(signal.SIGINT, stop)
    try:
        yield interrupted
    finally:
        signal.signal(signal.SIGINT, previous)


def _ws_url(api_url: str, app: str) -> str:
    parts = urlsplit(api_url)
    scheme = "wss" if parts.scheme == "https" else "ws"
    path = parts.path.rstrip("/") + f"/apps/{quote(app, safe='')}/attach"
    return urlunsplit((scheme, parts.netloc, path, "", ""))


@contextlib.contextmanager
def _connection(s: Session, url: str, message: str | None) -> Iterator[ClientConnection]:
    client = s.client
    headers: dict[str, str] = {}
    for name, value in client.headers(message).items():
        headers[name] = value.decode() if isinstance(value, bytes) else str(value)
    user_agent = headers.pop("User-Agent", None)
    if client.creds is not None:
        pair = f"{client.creds.login}:{client.creds.password}".encode()
        headers["Authorization"] = "Basic " + base64.b64encode(pair).decode()
    context = None
    if url.startswith("wss:") and s.io.environ.get("HEROKU_SSL_VERIFY") == "disable":
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    try:
        ws = connect(
            url,
            additional_headers=headers,
            user_agent_header=user_agent,
            ssl=context,
            open_timeout=30,
            max_size=None,
            compression=None,
        )
    except InvalidStatus as exc:
        raise _refusal(exc) from exc
    except InvalidURI as exc:
        raise Unreachable(s.api_url, f"invalid URL: {exc}") from exc
    except (OSError, TimeoutError, InvalidHandshake) as exc:
        raise Unreachable(s.api_url, _reason(exc)) from exc
    with ws:
        yield ws


def _refusal(exc: InvalidStatus) -> ApiError:
    """The handshake was answered with an HTTP error: the API's error body, when it has one."""
    response = exc.response
    try:
        data = json.loads(response.body or b"")
    except ValueError:
        data = None
    if isinstance(data, dict) and isinstance(data.get("message"), str):
        return ApiError(response.status_code, str(data.get("id") or ""), data["message"])
    return ApiError(
        response.status_code,
        "",
        f"this Empire does not serve attached runs (HTTP {response.status_code}): "
        "use `emp run -d` and `emp logs`",
    )


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, TimeoutError):
        return "timed out"
    return str(exc) or type(exc).__name__


def _started(ws: ClientConnection) -> None:
    """Read the answer to the request: the dyno started, or an ApiError."""
    try:
        answer = json.loads(ws.recv(timeout=600))
    except ConnectionClosed as exc:
        raise Fail(f"Empire closed the connection before starting the process ({exc})") from exc
    except (TimeoutError, ValueError, TypeError) as exc:
        raise Fail(f"unexpected answer from Empire to the run request: {exc}") from exc
    if not isinstance(answer, dict):
        raise Fail(f"unexpected answer from Empire to the run request: {answer!r:.200}")
    error = answer.get("error")
    if isinstance(error, dict):
        status = 0
        try:
            ws.recv(timeout=5)
        except ConnectionClosed as closed:
            status = closed.rcvd.code - 4000 if closed.rcvd and closed.rcvd.code > 4000 else 0
        except TimeoutError:
            pass
        raise ApiError(status, str(error.get("id") or ""), str(error.get("message") or error))
    if "dyno" not in answer:
        raise Fail(f"unexpected answer from Empire to the run request: {answer!r:.200}")


# -- the streams ------------------------------------------------------------------------------


def _pump_output(ws: ClientConnection, streams: dict[int, _Sink]) -> int | None:
    """Write the process's output where it belongs until the exit message; return the code."""
    while True:
        try:
            message = ws.recv()
        except ConnectionClosed as exc:
            raise Fail(f"lost the connection to Empire before the process exited ({exc})") from exc
        if isinstance(message, bytes):
            if message:
                streams.get(message[0], streams[STDERR]).write(message[1:])
            continue
        try:
            data: Any = json.loads(message)
        except ValueError:
            continue
        if isinstance(data, dict) and "exit" in data:
            code = data["exit"]
            return code if isinstance(code, int) and not isinstance(code, bool) else None


def _pump_stdin(ws: ClientConnection, stdin: TextIO, fd: int | None) -> None:
    """Send stdin as binary frames, then `{"eof": true}` (a thread of its own)."""
    try:
        while data := _read(stdin, fd):
            ws.send(data)
        ws.send(json.dumps({"eof": True}))
    except (ConnectionClosed, OSError):
        return


def _read(stdin: TextIO, fd: int | None) -> bytes:
    """Read what is available from stdin: the file descriptor if it has one, else the stream."""
    try:
        if fd is not None:
            return os.read(fd, _READ)
        text = stdin.read(_READ)
    except (OSError, ValueError):
        return b""  # closed, or unreadable (a test harness's stdin): end of input
    return text.encode() if isinstance(text, str) else bytes(text)


class _Sink:
    """Bytes to a text stream: to its binary buffer when it has one, else decoded as UTF-8."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.buffer = getattr(stream, "buffer", None)
        self.decoder = codecs.getincrementaldecoder("utf-8")("replace")
        if self.buffer is not None:
            stream.flush()

    def write(self, data: bytes) -> None:
        if self.buffer is not None:
            self.buffer.write(data)
            self.buffer.flush()
        else:
            self.stream.write(self.decoder.decode(data))
            self.stream.flush()

    def close(self) -> None:
        if self.buffer is None:
            rest = self.decoder.decode(b"", final=True)
            if rest:
                self.stream.write(rest)
                self.stream.flush()


def _fileno(stream: TextIO) -> int | None:
    try:
        return stream.fileno()
    except (AttributeError, OSError, ValueError):
        return None


# -- the terminal (only ever touched when stdin and stdout are terminals) ---------------------


def _size(fd: int) -> tuple[int, int]:
    """(rows, cols) of the terminal on `fd`, else of the environment, else 24x80."""
    try:
        size = os.get_terminal_size(fd)
    except OSError:
        size = shutil.get_terminal_size((80, 24))
    return size.lines, size.columns


@contextlib.contextmanager
def _raw_mode(fd: int | None) -> Iterator[None]:
    """Put the terminal on `fd` in raw mode for the block (nothing when `fd` is None)."""
    if fd is None:
        yield
        return
    saved = termios.tcgetattr(fd)
    terminal.setraw(fd, termios.TCSANOW)  # keep what was typed ahead
    try:
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


@contextlib.contextmanager
def _resizes(ws: ClientConnection, fd: int | None) -> Iterator[None]:
    """Send the terminal's new size on SIGWINCH for the block (nothing when `fd` is None)."""
    if fd is None or threading.current_thread() is not threading.main_thread():
        yield
        return

    def send(rows: int, cols: int) -> None:
        with contextlib.suppress(ConnectionClosed, OSError):
            ws.send(json.dumps({"resize": [rows, cols]}))

    def changed(signum: int, frame: FrameType | None) -> None:
        # Not from the handler itself: it may interrupt this thread in the middle of a send.
        threading.Thread(target=send, args=_size(fd), daemon=True).start()

    previous = signal.signal(signal.SIGWINCH, changed)
    try:
        yield
    finally:
        signal.signal(signal.SIGWINCH, previous)
