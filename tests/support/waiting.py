"""The one way tests wait: poll a condition until it holds, never sleep a fixed time.

    value = wait_for(lambda: client.get(url).status_code == 200, what="the app to answer")

Nothing here imports pytest; a timeout raises AssertionError, so it reads as a test failure.
"""

from __future__ import annotations

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
