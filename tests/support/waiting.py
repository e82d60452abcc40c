"""The one way tests wait: poll a condition until it holds, never sleep a fixed time.

    value = wait_for(lambda: client.get(url).status_code == 200, what="the app to answer")

Nothing here imports pytest; a timeout raises AssertionError, so it reads as a test failure.
`read_until` waits for bytes on a file descriptor (a terminal's master side) the same way.
"""

from __future__ import annotations

import os
import select
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_for(
    condition: Callable[[], T],
    timeout: float = 30.0,
    what: str = "",
    *,
    interval: float = 0.1,
    ignore: tuple[type[BaseException], ...] = (),
    detail: Callable[[], str] | None = None,
) -> T:
    """Call `condition` until it returns something truthy and return that.

    `ignore`: exceptions that count as "not yet" (a server still starting). After `timeout`
    seconds, raise AssertionError naming `what` (else the condition), with the last ignored
    error and `detail()` (a log tail, say) when given.
    """
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    while True:
        try:
            value = condition()
        except ignore as e:
            last_error = e
        else:
            if value:
                return value
        if time.monotonic() >= deadline:
            message = f"timed out after {timeout:g}s waiting for {what or condition}"
            if last_error is not None:
                message += f" (last: {type(last_error).__name__}: {last_error})"
            if detail is not None:
                message += "\n" + detail()
            raise AssertionError(message)
        time.sleep(interval)


def read_until(fd: int, needle: bytes, timeout: float = 30.0) -> bytes:
    """Read from `fd` until `needle` has arrived or `timeout` seconds have passed; return all
    that was read (the caller asserts on it, and sees what came instead)."""
    data = b""
    poller = select.poll()  # not select(): the test process may hold more than 1024 fds
    poller.register(fd, select.POLLIN)
    deadline = time.monotonic() + timeout
    while needle not in data and time.monotonic() < deadline:
        if poller.poll(200):
            data += os.read(fd, 4096)
    return data
