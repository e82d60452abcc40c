"""What one caller may hold or spend: open streams per token, login attempts per client
address and per user name. A refusal is a 429 with `Retry-After` and a message that says which
limit was reached and what to do."""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from starlette.requests import Request
from starlette.responses import JSONResponse

from empire.api import errors


class TooManyRequests(Exception):
    """A limit was reached: answered with 429, `Retry-After: retry_after` and `message`."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after = max(1, retry_after)


def too_many(exc: TooManyRequests) -> JSONResponse:
    """Render a refusal: 429, the Heroku error body, and when to try again."""
    response = errors.response(429, "rate_limit", exc.message)
    response.headers["Retry-After"] = str(exc.retry_after)
    return response


async def too_many_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, TooManyRequests)
    return too_many(exc)


class Buckets:
    """Token buckets by key (a client address, a user name): `burst` at once, then one more
    every `every` seconds. At most `max_keys` buckets are kept: past that the least recently
    used go first, so keys an attacker makes up cost bounded memory."""

    def __init__(
        self,
        burst: int,
        every: float,
        *,
        max_keys: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.burst = burst
        self.every = every
        self.max_keys = max_keys
        self._clock = clock
        self._levels: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, key: str) -> float:
        """Take one token; return 0 when granted, else the seconds until one is back."""
        if self.burst <= 0:
            return 0.0
        now = self._clock()
        with self._lock:
            level, last = self._levels.pop(key, (float(self.burst), now))
            level = min(float(self.burst), level + (now - last) / self.every)
            if level >= 1:
                self._levels[key] = (level - 1, now)
                granted = True
            else:
                self._levels[key] = (level, now)
                granted = False
            while len(self._levels) > self.max_keys:
                self._levels.popitem(last=False)
        return 0.0 if granted else (1 - level) * self.every

    def __len__(self) -> int:
        return len(self._levels)


class StreamSlots:
    """Long responses (log follows, deploy progress, attached runs) open at once per API token.

    A slot is taken before the work starts and given back when the work has ended, that is
    when the thread feeding the stream is done and whatever it followed is closed, not merely
    when the client went away: so a token holds at most `per_token` such threads."""

    RETRY_AFTER = 5

    def __init__(self, per_token: int) -> None:
        self.per_token = per_token
        self._open: dict[str, int] = {}
        self._lock = threading.Lock()

    def take(self, key: str) -> Slot:
        """Take a slot for `key`, or raise TooManyRequests."""
        with self._lock:
            held = self._open.get(key, 0)
            if self.per_token > 0 and held >= self.per_token:
                raise TooManyRequests(
                    f"too many streams open with this API token: at most {self.per_token} log "
                    "streams, deploys and attached runs at once; end one (a stream ends when "
                    "its client disconnects) and try again",
                    self.RETRY_AFTER,
                )
            self._open[key] = held + 1
        return Slot(self, key)

    def held(self, key: str) -> int:
        """How many slots `key` holds now."""
        with self._lock:
            return self._open.get(key, 0)

    def _give_back(self, key: str) -> None:
        with self._lock:
            held = self._open.get(key, 0) - 1
            if held > 0:
                self._open[key] = held
            else:
                self._open.pop(key, None)


class Slot:
    """One taken stream slot; `release` gives it back, once, from any thread."""

    def __init__(self, slots: StreamSlots, key: str) -> None:
        self._slots = slots
        self._key = key
        self._released = False
        self._lock = threading.Lock()

    def release(self) -> None:
        with self._lock:
            if self._released:
                return
            self._released = True
        self._slots._give_back(self._key)


def retry_after(seconds: float) -> int:
    """Whole seconds to wait, at least one."""
    return max(1, math.ceil(seconds))
