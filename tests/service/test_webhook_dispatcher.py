"""The webhook dispatcher over the store's outbox: signed POSTs, backoff, failed deliveries,
retries, restarts. HTTP is an httpx.MockTransport and time a frozen clock: nothing sleeps."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import httpx

from empire.events import Delivery
from empire.webhooks import Dispatcher, deliveries, retry, verify
from support.stack import FrozenClock, Stack, make_stack
from support.waiting import wait_for

URL = "https://hooks.example.com/empire"
SECRET = "test-webhook-secret"

Handler = Callable[[httpx.Request], httpx.Response]


class Receiver:
    """Answers with `status` and keeps what it got, checking each signature at `clock`."""

    def __init__(self, clock: FrozenClock, status: int = 200) -> None:
        self.clock = clock
        self.status = status
        self.requests: list[httpx.Request] = []
        self.valid: list[bool] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        signature = request.headers["empire-signature"]
        self.valid.append(verify(SECRET, request.content, signature, now=self.clock().timestamp()))
        return httpx.Response(self.status)


def setup(tmp_path: Path, status: int = 200) -> tuple[Stack, FrozenClock, Receiver]:
    stack = make_stack(tmp_path, env={"EMPIRE_WEBHOOKS": URL})
    assert isinstance(stack.clock, FrozenClock)
    return stack, stack.clock, Receiver(stack.clock, status)


def dispatcher(stack: Stack, handler: Handler, attempts: int = 3) -> Dispatcher:
    return Dispatcher(
        stack.store,
        SECRET,
        attempts=attempts,
        backoff_base=1.0,
        clock=stack.clock,
        jitter=lambda delay: 0.0,
        http=httpx.Client(transport=httpx.MockTransport(handler)),
    )


def only(stack: Stack) -> Delivery:
    (delivery,) = deliveries(stack.store)
    return delivery


def test_a_delivery_is_posted_signed_and_marked_delivered(tmp_path: Path) -> None:
    stack, clock, receiver = setup(tmp_path)
    sender = dispatcher(stack, receiver)
    stack.empire.create("acme", by=stack.user, message="hello")
    assert sender.run_once() == 1
    (request,) = receiver.requests
    assert receiver.valid == [True]
    assert (request.method, str(request.url)) == ("POST", URL)
    assert request.headers["content-type"] == "application/json"
    assert request.headers["empire-delivery"] == only(stack).id
    body = json.loads(request.content)
    assert (body["kind"], body["app"], body["message"]) == ("create", "acme", "hello")
    assert request.headers["empire-signature"].startswith(f"t={int(clock().timestamp())},v1=")
    delivered = only(stack)
    assert (delivered.state, delivered.attempts, delivered.next_attempt_at) == (
        "delivered",
        1,
        None,
    )
    assert sender.run_once() == 0  # nothing is sent twice


def test_failures_back_off_then_fail_for_good_and_a_retry_delivers(tmp_path: Path) -> None:
    stack, clock, receiver = setup(tmp_path, status=500)
    sender = dispatcher(stack, receiver)
    stack.empire.create("acme", by=stack.user)
    start = clock()
    schedule = []
    for _ in range(10):
        if sender.run_once():
            delivery = only(stack)
            schedule.append((delivery.attempts, delivery.state, delivery.next_attempt_at))
        clock.advance(seconds=0.5)
    assert schedule == [
        (1, "pending", start + timedelta(seconds=1)),
        (2, "pending", start + timedelta(seconds=1 + 2)),
        (3, "failed", None),
    ]
    assert len(receiver.requests) == 3 and all(receiver.valid)
    (failed,) = deliveries(stack.store, failed=True)
    assert failed.last_error == "HTTP 500"
    clock.advance(seconds=3600)
    assert sender.run_once() == 0  # failed deliveries stay failed

    receiver.status = 204
    assert retry(stack.store, [failed.id], clock()) == 1
    assert sender.run_once() == 1
    delivered = only(stack)
    assert (delivered.state, delivered.attempts) == ("delivered", 1)
    assert deliveries(stack.store, failed=True) == []
    # The same body each time; a signature made at each attempt.
    assert len({r.content for r in receiver.requests}) == 1
    assert len(receiver.requests) == 4


def test_retry_all_failed_requeues_only_failed_ones(tmp_path: Path) -> None:
    stack, clock, receiver = setup(tmp_path, status=410)
    sender = dispatcher(stack, receiver, attempts=1)
    stack.empire.create("one", by=stack.user)
    stack.empire.create("two", by=stack.user)
    assert sender.run_once() == 2
    assert [d.state for d in deliveries(stack.store)] == ["failed", "failed"]
    receiver.status = 200
    stack.empire.create("three", by=stack.user)
    assert sender.run_once() == 1
    assert retry(stack.store, None, clock()) == 2
    assert sender.run_once() == 2
    assert {d.state for d in deliveries(stack.store)} == {"delivered"}


def test_an_unreachable_receiver_is_an_error_that_hides_the_url(tmp_path: Path) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(f"connection refused by {request.url}")

    stack = make_stack(
        tmp_path, env={"EMPIRE_WEBHOOKS": "https://user:pa55word@hooks.example.com/x"}
    )
    stack.empire.create("acme", by=stack.user)
    dispatcher(stack, refuse, attempts=1).run_once()
    delivery = only(stack)
    assert delivery.state == "failed"
    assert delivery.last_error.startswith("ConnectError: connection refused by <url>")
    assert "pa55word" not in delivery.last_error


def test_a_new_process_sends_what_a_previous_one_left(tmp_path: Path) -> None:
    """Rows queued while no dispatcher ran are sent by the next one; a row a crashed process
    had claimed is sent again once its lease ends."""
    stack, clock, receiver = setup(tmp_path)
    stack.empire.create("acme", by=stack.user)
    # The first process claims the delivery, then dies before sending it.
    with stack.store.write() as tx:
        claimed = tx.claim_delivery(only(stack).id, clock(), clock() + timedelta(seconds=15))
    assert claimed is not None and claimed.attempts == 1
    stack.empire.create("other", by=stack.user)  # queued while nothing runs

    second = dispatcher(stack, receiver)
    assert second.run_once() == 1  # the unclaimed one at once
    assert [json.loads(r.content)["app"] for r in receiver.requests] == ["other"]
    clock.advance(seconds=16)
    assert second.run_once() == 1  # the claimed one when its lease is over
    assert [json.loads(r.content)["app"] for r in receiver.requests] == ["other", "acme"]
    assert {(d.state, d.attempts) for d in deliveries(stack.store)} == {
        ("delivered", 1),
        ("delivered", 2),
    }


def test_two_dispatchers_never_send_one_attempt_twice(tmp_path: Path) -> None:
    stack, _, receiver = setup(tmp_path)
    one, two = dispatcher(stack, receiver), dispatcher(stack, receiver)
    for n in range(10):
        stack.empire.create(f"app-{n}", by=stack.user)
    threads = [threading.Thread(target=d.run_once) for d in (one, two)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    apps = sorted(json.loads(r.content)["app"] for r in receiver.requests)
    assert apps == [f"app-{n}" for n in range(10)]


HOUR = 3600.0


class Waits(threading.Event):
    """The dispatcher's stop event, counting the waits of an hour or more the loop starts."""

    long_waits = 0

    def wait(self, timeout: float | None = None) -> bool:
        if timeout is not None and timeout >= HOUR:
            self.long_waits += 1
        return super().wait(timeout)


def test_the_background_loop_sends_and_stops_promptly(tmp_path: Path) -> None:
    """stop() cuts the loop's wait short: an hour-long wait ends at once, far within the
    thread join's own timeout (else the thread would still be alive after stop())."""
    stack, _, _ = setup(tmp_path)
    sender = Dispatcher(
        stack.store,
        SECRET,
        interval=0.05,
        http=httpx.Client(transport=httpx.MockTransport(lambda _: httpx.Response(200))),
    )
    sender._stopping = waits = Waits()
    sender.start()
    try:
        # The stack's clock is frozen in 2026: the row is due for the real clock too.
        stack.empire.create("acme", by=stack.user)
        wait_for(lambda: only(stack).state == "delivered", 10, "the delivery")
        sender.interval = HOUR
        wait_for(lambda: waits.long_waits, 10, "the loop to wait an hour")
    finally:
        sender.stop()
    assert sender._thread is not None and not sender._thread.is_alive()
