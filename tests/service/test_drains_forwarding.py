"""The drain service on real sockets: syslog over TCP and TLS, HTTPS logplex batches, a drain
that accepts nothing, overflow lines, bounded hostile lines, follows that start and stop.
Process output comes from a scheduler stand-in whose follow is a queue."""

from __future__ import annotations

import queue
import ssl
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from empire.applog import LogLine
from empire.drains.outlet import Connector, Outlet
from empire.drains.rules import Drain
from empire.drains.service import DrainService
from empire.errors import Invalid
from empire.scheduler import LogQuery
from empire.settings import Settings
from empire.wiring import build_drains
from support.drains import BlackHole, LogplexReceiver, MemoryAppLog, SyslogReceiver
from support.pki import self_signed
from support.stack import make_stack
from support.waiting import wait_for

APP_ID = "a1a1a1a1-0000-0000-0000-000000000001"


class Drains:
    """The store's drains, as the facade's `live_drains` gives them."""

    def __init__(self) -> None:
        self.rows: list[tuple[str, Drain]] = []

    def live_drains(self) -> list[tuple[str, Drain]]:
        return list(self.rows)

    def add(self, url: str, app: str = "acme", app_id: str = APP_ID) -> Drain:
        now = datetime.now(UTC)
        drain = Drain(f"id-{len(self.rows)}-{url}", app_id, url, f"d.{len(self.rows)}", now, now)
        self.rows.append((app, drain))
        return drain


class Output:
    """The scheduler's `logs`: each follow yields what `emit` queues; counts its follows."""

    def __init__(self) -> None:
        self.queues: dict[str, queue.Queue[str]] = {}
        self.follows: dict[str, int] = {}
        self.open: dict[str, int] = {}
        self.lock = threading.Lock()

    def logs(self, app_id: str, query: LogQuery) -> Iterator[str]:
        assert query.follow and query.since is not None
        with self.lock:
            lines = self.queues.setdefault(app_id, queue.Queue())
            self.follows[app_id] = self.follows.get(app_id, 0) + 1
            self.open[app_id] = self.open.get(app_id, 0) + 1
        try:
            while True:
                try:
                    yield lines.get(timeout=0.2)
                except queue.Empty:
                    yield ""
        finally:
            with self.lock:
                self.open[app_id] -= 1

    def emit(self, app_id: str, slot: str, text: str) -> None:
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        with self.lock:
            lines = self.queues.setdefault(app_id, queue.Queue())
        lines.put(f"{stamp} acme[{slot}]: {text}")


@pytest.fixture
def cert(tmp_path: Path) -> tuple[Path, Path]:
    return self_signed(tmp_path)


def service(
    drains: Drains, output: Output, applog: MemoryAppLog, ca: Path | None, **options: object
) -> DrainService:
    tls = ssl.create_default_context(cafile=str(ca) if ca else None)
    connector = Connector(tls, allow_local=True, api_ports=frozenset({8080}))
    defaults: dict[str, object] = {"refresh_every": 0.2, "report_every": 3600.0}
    made = DrainService(drains, output, connector, applog, **{**defaults, **options})  # type: ignore[arg-type]
    made.start()
    return made


def first(running: DrainService) -> Outlet | None:
    outlets = running.outlets()
    return outlets[0] if outlets else None


def line(text: str, source: str = "api") -> LogLine:
    return LogLine(APP_ID, "acme", source, text, datetime.now(UTC))


def test_platform_and_process_lines_reach_a_syslog_drain(cert: tuple[Path, Path]) -> None:
    receiver = SyslogReceiver()
    drains, output, applog = Drains(), Output(), MemoryAppLog()
    drain = drains.add(f"syslog://127.0.0.1:{receiver.port}")
    running = service(drains, output, applog, None)
    try:
        wait_for(lambda: APP_ID in running.followed() and output.open.get(APP_ID), 10)
        wait_for(running.outlets, 10)
        applog.write(line("Release v5 created by alice"))
        output.emit(APP_ID, "web.1", "Listening on 80")
        wait_for(lambda: len(receiver.received.frames) == 2, 10)
        by_procid = {f.procid: f for f in receiver.received.frames}
        assert by_procid["api"].msg == "Release v5 created by alice"
        assert by_procid["web.1"].msg == "Listening on 80"
        assert {f.app for f in receiver.received.frames} == {"acme"}
        assert {f.host for f in receiver.received.frames} == {drain.token}
        # The last drain goes: its outlet stops and the app's output is no longer followed.
        drains.rows.clear()
        running.changed()
        wait_for(lambda: not running.outlets() and output.open.get(APP_ID) == 0, 10)
        assert running.followed() == set()
    finally:
        running.close()
        receiver.close()


def test_a_follow_that_ends_starts_again() -> None:
    class Ending(Output):
        def logs(self, app_id: str, query: LogQuery) -> Iterator[str]:
            with self.lock:
                self.follows[app_id] = self.follows.get(app_id, 0) + 1
            yield f"{datetime.now(UTC).strftime('%Y-%m-%dT%H:%M:%SZ')} acme[web.1]: once"
            raise ConnectionResetError("the engine went away")

    receiver = SyslogReceiver()
    drains, output, applog = Drains(), Ending(), MemoryAppLog()
    drains.add(f"syslog://127.0.0.1:{receiver.port}")
    running = service(drains, output, applog, None)
    try:
        wait_for(lambda: output.follows.get(APP_ID, 0) >= 2, 10)
        wait_for(lambda: len(receiver.received.frames) >= 2, 10)
    finally:
        running.close()
        receiver.close()


def test_syslog_over_tls_verifies_the_drain(cert: tuple[Path, Path]) -> None:
    receiver = SyslogReceiver(cert)
    drains, output, applog = Drains(), Output(), MemoryAppLog()
    drains.add(f"syslog+tls://localhost:{receiver.port}")
    trusting = service(drains, output, applog, cert[0])
    try:
        wait_for(trusting.outlets, 10)
        applog.write(line("over TLS"))
        wait_for(lambda: receiver.received.messages() == ["over TLS"], 10)
    finally:
        trusting.close()
    # Without the CA file the system's CAs do not know the certificate: nothing is sent.
    applog2 = MemoryAppLog()
    untrusting = service(drains, Output(), applog2, None)
    try:
        outlet = wait_for(lambda: first(untrusting), 10)
        applog2.write(line("not sent"))
        wait_for(lambda: "CERTIFICATE_VERIFY_FAILED" in outlet.last_error, 10)
        assert receiver.received.messages() == ["over TLS"]
    finally:
        untrusting.close()
        receiver.close()


def test_https_drains_get_logplex_batches(cert: tuple[Path, Path]) -> None:
    receiver = LogplexReceiver(cert)
    drains, output, applog = Drains(), Output(), MemoryAppLog()
    drain = drains.add(f"https://user:s%40cret@localhost:{receiver.port}/logs?k=1")
    running = service(drains, output, applog, cert[0])
    try:
        wait_for(running.outlets, 10)
        for n in range(50):
            applog.write(line(f"line {n}", "router"))
        wait_for(lambda: len(receiver.received.frames) == 50, 10)
        headers, frames = receiver.received.batches[0]
        assert headers["content-type"] == "application/logplex-1"
        assert headers["logplex-drain-token"] == drain.token
        assert int(headers["logplex-msg-count"]) == len(frames)
        assert headers["logplex-frame-id"]
        assert headers["authorization"] == "Basic dXNlcjpzQGNyZXQ="  # user:s@cret
        assert [f.msg for f in receiver.received.frames] == [f"line {n}" for n in range(50)]
        assert {f.procid for f in frames} == {"router"}
    finally:
        running.close()
        receiver.close()


def test_a_drain_that_accepts_nothing_costs_the_others_nothing(tmp_path: Path) -> None:
    hole, receiver = BlackHole(), SyslogReceiver()
    drains, output, applog = Drains(), Output(), MemoryAppLog()
    drains.add(f"syslog://127.0.0.1:{hole.port}")
    drains.add(f"syslog://127.0.0.1:{receiver.port}")
    running = service(drains, output, applog, None, capacity=1000)
    try:
        wait_for(lambda: len(running.outlets()) == 2, 10)
        big = "x" * 2000
        for round in range(10):  # rounds within a buffer: a bigger burst drops on any drain
            for n in range(round * 500, (round + 1) * 500):
                applog.write(line(f"{n} {big}"))
            done = (round + 1) * 500
            wait_for(lambda done=done: len(receiver.received.frames) == done, 30)
        assert [m.split(" ")[0] for m in receiver.received.messages()] == [
            str(n) for n in range(5000)
        ]
        stuck = next(o for o in running.outlets() if o.target.port == hole.port)
        assert stuck.buffered <= 1000
        running.report()
        overflow = [entry for entry in applog.lines if entry.source == "drain"]
        assert len(overflow) == 1
        assert overflow[0].text.startswith("Error L10 (output buffer overflow): ")
        dropped = int(overflow[0].text.split(": ")[1].split(" ")[0])
        # What was not dropped is in its buffer, or in the kernel's (the connection's).
        assert 1000 <= dropped <= 5000 - stuck.buffered
        assert stuck.drain.token in overflow[0].text
        # The overflow line is in the app's log, so the working drain gets it too.
        wait_for(lambda: any("Error L10" in m for m in receiver.received.messages()), 10)
    finally:
        running.close()
        receiver.close()
        hole.close()


def test_hostile_lines_are_escaped_and_bounded() -> None:
    receiver = SyslogReceiver()
    drains, output, applog = Drains(), Output(), MemoryAppLog()
    drains.add(f"syslog://127.0.0.1:{receiver.port}")
    running = service(drains, output, applog, None)
    try:
        wait_for(running.outlets, 10)
        applog.write(line("bell\x07 nul\x00 cr\r lf\n esc\x1b[31m tab\t end"))
        applog.write(line("y" * 3_000_000))
        applog.write(line("after"))
        wait_for(lambda: len(receiver.received.frames) == 3, 10)
        first, huge, after = receiver.received.messages()
        assert first == "bell\\x07 nul\\x00 cr\\x0d lf\\x0a esc\\x1b[31m tab\t end"
        assert len(huge.encode()) == 10_000
        assert after == "after"
    finally:
        running.close()
        receiver.close()


def test_a_drain_at_the_apis_port_on_this_machine_is_never_reached() -> None:
    drains, output, applog = Drains(), Output(), MemoryAppLog()
    drains.add("syslog://127.0.0.1:8080")
    running = service(drains, output, applog, None)
    try:
        outlet = wait_for(lambda: first(running), 10)
        applog.write(line("to the API"))
        wait_for(lambda: "Empire's own API" in outlet.last_error, 10)
    finally:
        running.close()


def test_an_https_drain_that_answers_an_error_drops_the_batch(cert: tuple[Path, Path]) -> None:
    receiver = LogplexReceiver(cert, status=500)
    drains, output, applog = Drains(), Output(), MemoryAppLog()
    drains.add(f"https://localhost:{receiver.port}/")
    running = service(drains, output, applog, cert[0])
    try:
        outlet = wait_for(lambda: first(running), 10)
        applog.write(line("refused"))
        wait_for(lambda: "answered 500" in outlet.last_error, 10)
        running.report()
        [overflow] = [entry for entry in applog.lines if entry.source == "drain"]
        assert "1 messages dropped" in overflow.text
        assert receiver.received.messages().count("refused") == 1  # not sent again
    finally:
        running.close()
        receiver.close()


def test_the_wired_service_follows_the_facades_drains(tmp_path: Path) -> None:
    """build_drains over a real facade: a drain added through the use case gets lines at once
    (the facade tells the service), its removal stops them; the policy is the settings'."""
    stack = make_stack(tmp_path, env={"EMPIRE_DRAINS_ALLOW_LOCAL": "true"})
    settings = Settings.from_env(
        {"EMPIRE_DATA_DIR": str(tmp_path), "EMPIRE_DRAINS_ALLOW_LOCAL": "true"}
    )
    receiver, applog = SyslogReceiver(), MemoryAppLog()
    running = build_drains(settings, stack.empire, applog, refresh_every=3600.0)
    running.start()
    try:
        app = stack.empire.create("acme", by=stack.user)
        url = f"syslog://127.0.0.1:{receiver.port}"
        stack.empire.add_drain("acme", url, by=stack.user)
        wait_for(running.outlets, 10)
        applog.write(LogLine(app.id, "acme", "api", "through the facade", datetime.now(UTC)))
        wait_for(lambda: receiver.received.messages() == ["through the facade"], 10)
        with pytest.raises(Invalid, match="Empire's own API"):
            stack.empire.add_drain("acme", "syslog://127.0.0.1:8080", by=stack.user)
        stack.empire.remove_drain("acme", url, by=stack.user)
        wait_for(lambda: not running.outlets(), 10)
    finally:
        running.close()
        receiver.close()


def test_a_buffer_is_bounded_in_bytes_too() -> None:
    hole = BlackHole()
    drains, output, applog = Drains(), Output(), MemoryAppLog()
    drains.add(f"syslog://127.0.0.1:{hole.port}")
    drains.add("syslog://:bad")  # stored under older rules: skipped, the others run
    running = service(drains, output, applog, None)
    try:
        outlet = wait_for(lambda: first(running), 10)
        for _ in range(2000):  # 20 MB of 10 kB lines
            applog.write(line("z" * 10_000))
        assert outlet.buffered * 10_000 <= outlet.capacity_bytes
        assert len(running.outlets()) == 1
    finally:
        running.close()
        hole.close()
