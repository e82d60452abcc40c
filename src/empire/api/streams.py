"""Long responses fed by blocking work: a log follow, a deploy's progress.

The work runs in a thread of its own, outside the server's shared pool (whose 40 workers serve
every synchronous request), and hands its items to the response on the event loop through a
`Channel`. The response awaits items without holding any thread; when the client goes away
the channel is closed and the work stops at its next item: a followed iterator is closed in
its own thread (its `finally` closes the backend's streams), a deploy carries on to its
verdict without an audience. The stream's slot (`limits.Slot`) is given back only when the
thread is done, so what a token holds is bounded by its slots.

A followed log iterator that has nothing new may yield `IDLE` ("") now and then: the thread
drops it and uses the moment to notice the client left. An iterator that never yields while
idle is closed at its next line.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import threading
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Generic, TypeVar

from empire.api.limits import Slot

T = TypeVar("T")
log = logging.getLogger("empire.api")
IDLE = ""  # a log iterator's "nothing new yet"
BUFFER = 256  # items a followed iterator may be ahead of its client before its thread waits


class Ended(Exception):
    """The producer has finished: no item will come."""


class Channel(Generic[T]):
    """Items from one producer thread to one consumer on the event loop.

    The producer `put`s (waiting while `capacity` items are unread, or dropping when told not
    to wait) and `finish`es; the consumer awaits `get` and `close`s when it stops listening,
    which wakes a waiting producer and makes every later `put` a no-op that answers False.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, capacity: int = BUFFER) -> None:
        self._loop = loop
        self._items: deque[T] = deque()
        self._ready = asyncio.Event()
        self._space = threading.Semaphore(capacity)
        self._closed = threading.Event()
        self._done = False

    # -- the producer's side (any thread) ----------------------------------------------------

    @property
    def closed(self) -> bool:
        """Whether the consumer has stopped listening."""
        return self._closed.is_set()

    def put(self, item: T, *, wait: bool = True) -> bool:
        """Hand over an item; False (and the item dropped) once the consumer is gone. With
        `wait` False a full buffer drops the item instead of waiting."""
        if self._closed.is_set():
            return False
        if not self._space.acquire(blocking=wait):
            return True  # dropped: the client reads too slowly for this producer to wait
        if self._closed.is_set():
            return False
        self._call(self._push, item)
        return True

    def finish(self) -> None:
        """No more items: the consumer gets Ended after the items already sent."""
        self._call(self._end)

    # -- the consumer's side (the event loop) ------------------------------------------------

    async def get(self) -> T:
        """The next item; raises Ended after the last one."""
        while not self._items:
            if self._done:
                raise Ended()
            self._ready.clear()
            await self._ready.wait()
        self._space.release()
        return self._items.popleft()

    def close(self) -> None:
        """Stop listening: a producer waiting for room wakes up and stops."""
        if not self._closed.is_set():
            self._closed.set()
            self._space.release()

    # -- internals ---------------------------------------------------------------------------

    def _call(self, callback: Callable[..., None], *args: object) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is closed: the server has stopped
            self._loop.call_soon_threadsafe(callback, *args)

    def _push(self, item: T) -> None:
        self._items.append(item)
        self._ready.set()

    def _end(self) -> None:
        self._done = True
        self._ready.set()


def start(name: str, work: Callable[[], None]) -> None:
    """Run `work` in a daemon thread of its own, in a copy of the caller's context (the
    request id goes with it)."""
    context = contextvars.copy_context()
    threading.Thread(target=context.run, args=(work,), name=name, daemon=True).start()


def follow(items: Iterator[T], slot: Slot, name: str) -> Channel[T]:
    """Iterate `items` in a thread of its own; the returned channel carries them. The thread
    closes the iterator and gives the slot back when the client has gone or the items end."""
    channel: Channel[T] = Channel(asyncio.get_running_loop())

    def drain() -> None:
        try:
            for item in items:
                if channel.closed:
                    break
                if item == IDLE:
                    continue
                if not channel.put(item):
                    break
        except Exception as exc:  # ended by the backend: the client gets what came before
            log.warning("stream %s ended: %s", name, exc)
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                with contextlib.suppress(Exception):
                    close()  # a generator's finally stops the backend's follow
            slot.release()
            channel.finish()

    start(name, drain)
    return channel


async def drain(channel: Channel[T]) -> AsyncIterator[T]:
    """Yield a channel's items until its producer ends; closes it however the loop ends
    (the client went away, the response was cancelled)."""
    try:
        while True:
            try:
                item = await channel.get()
            except Ended:
                return
            yield item
    finally:
        channel.close()
