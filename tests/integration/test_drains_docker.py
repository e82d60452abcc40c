"""Log drains for real: an app's output on the Docker engine, followed through the scheduler's
own `logs`, reaches Debian's rsyslogd (RFC 5424, octet-counted, over TCP and over TLS) and an
HTTPS receiver (logplex batches), both TLS ones verified against the test's CA, while a fourth
drain accepts nothing at all."""

from __future__ import annotations

import shutil
import ssl
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from empire.applog import LogLine
from empire.drains.outlet import Connector
from empire.drains.rules import Drain
from empire.drains.service import DrainService
from empire.model import Outcome
from integration.test_scheduler_docker import new_app, worker
from support.drains import BlackHole, LogplexReceiver, MemoryAppLog
from support.pki import self_signed
from support.server import EmpireServer, docker_env, remove_network
from support.services import free_port
from support.waiting import wait_for

TICKS = ("sh", "-c", 'i=0; while true; do echo "tick $i"; i=$((i+1)); sleep 0.2; done')


@dataclass
class Rsyslog:
    port: int  # plain TCP
    tls_port: int  # TLS (GnuTLS), with the certificate `cert` (for 127.0.0.1 and localhost)
    cert: tuple[Path, Path]
    out: Path

    def lines(self, via: str = "tcp") -> list[list[str]]:
        """What rsyslogd wrote from one input: hostname, app-name, procid and message."""
        if not self.out.exists():
            return []
        fields = [line.split("|", 4) for line in self.out.read_text().splitlines()]
        return [rest for source, *rest in fields if source == via]


@pytest.fixture
def rsyslog(tmp_path: Path) -> Iterator[Rsyslog]:
    """rsyslogd on two free ports (TCP, and TLS with a self-signed certificate) with its own
    configuration, writing each frame's fields."""
    binary = shutil.which("rsyslogd") or "/usr/sbin/rsyslogd"
    if not Path(binary).exists():
        pytest.fail("rsyslogd is missing: apt-get install rsyslog (scripts/bootstrap)")
    work = tmp_path / "rsyslog"
    work.mkdir()
    port, tls_port, out = free_port(), free_port(), tmp_path / "received.log"
    cert, key = self_signed(work)
    conf = work / "rsyslog.conf"
    conf.write_text(
        f'global(workDirectory="{work}" DefaultNetstreamDriverCAFile="{cert}" '
        f'DefaultNetstreamDriverCertFile="{cert}" DefaultNetstreamDriverKeyFile="{key}")\n'
        'module(load="imtcp")\n'
        f'input(type="imtcp" port="{port}" address="127.0.0.1" name="tcp")\n'
        f'input(type="imtcp" port="{tls_port}" address="127.0.0.1" name="tls" '
        'streamDriver.name="gtls" streamDriver.mode="1" streamDriver.authMode="anon")\n'
        'template(name="fields" type="string" '
        'string="%inputname%|%hostname%|%app-name%|%procid%|%msg%\\n")\n'
        f'*.* action(type="omfile" file="{out}" template="fields")\n'
    )
    log = (work / "rsyslogd.log").open("wb")
    process = subprocess.Popen(
        [binary, "-n", "-f", str(conf), "-i", str(work / "rsyslogd.pid")],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for(lambda: _listening(port) and _listening(tls_port), 20, "rsyslogd listening")
        yield Rsyslog(port, tls_port, (cert, key), out)
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()


def _listening(port: int) -> bool:
    import socket

    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def test_an_apps_output_reaches_rsyslog_and_https_past_a_dead_drain(
    docker_scheduler: Any, make_manifest: Any, rsyslog: Rsyslog, tmp_path: Path
) -> None:
    scheduler = docker_scheduler()
    app = new_app("acme-inc")
    cert = rsyslog.cert
    https, hole, applog = LogplexReceiver(cert), BlackHole(), MemoryAppLog()
    now = datetime.now(UTC)
    urls = (
        f"syslog://127.0.0.1:{rsyslog.port}",
        f"https://localhost:{https.port}/drain",
        f"syslog://127.0.0.1:{hole.port}",
        f"syslog+tls://localhost:{rsyslog.tls_port}",
    )
    drains = [Drain(f"drain-{n}", app.id, url, f"d.{n}", now, now) for n, url in enumerate(urls)]

    class Store:
        rows = [("acme-inc", d) for d in drains]

        def live_drains(self) -> list[tuple[str, Drain]]:
            return list(self.rows)

    store = Store()
    connector = Connector(
        ssl.create_default_context(cafile=str(cert[0])), allow_local=True, api_ports=frozenset()
    )
    service = DrainService(
        store, scheduler, connector, applog, refresh_every=0.5, report_every=3600, capacity=2000
    )
    try:
        assert scheduler.submit(
            make_manifest(app, 1, {"worker": worker(command=TICKS)})
        ).outcome is (Outcome.SUCCEEDED)
        service.start()
        ticks = lambda lines: [m for *_, m in lines if m.startswith("tick ")]  # noqa: E731
        wait_for(lambda: len(ticks(rsyslog.lines())) >= 3, 60, "ticks at rsyslogd")
        host, name, procid, _ = next(f for f in rsyslog.lines() if f[3].startswith("tick "))
        assert (host, name, procid) == ("d.0", "acme-inc", "worker.1")
        wait_for(lambda: any(f.msg.startswith("tick ") for f in https.received.frames), 30)
        wait_for(lambda: len(ticks(rsyslog.lines("tls"))) >= 3, 30, "ticks over TLS")
        assert next(f for f in rsyslog.lines("tls") if f[3].startswith("tick "))[:3] == [
            "d.3",
            "acme-inc",
            "worker.1",
        ]
        headers, frames = https.received.batches[0]
        assert headers["content-type"] == "application/logplex-1"
        assert headers["logplex-drain-token"] == "d.1"
        assert int(headers["logplex-msg-count"]) == len(frames)
        # Flood the app's log: the dead drain's buffer overflows, the others get everything
        # and the app's output keeps flowing to them.
        # (In rounds of 1,000 lines, each within every buffer: a burst bigger than a buffer
        # is dropped on a live drain too.)
        flood = lambda lines: sum(m.startswith("flood ") for m in lines)  # noqa: E731
        for round in range(10):
            for n in range(1000):
                text = f"flood {round * 1000 + n} " + "z" * 500
                applog.write(LogLine(app.id, "acme-inc", "api", text, now))
            done = (round + 1) * 1000

            def syslogged(done: int = done) -> bool:
                return flood(m for *_, m in rsyslog.lines()) == done

            def posted(done: int = done) -> bool:
                return flood(f.msg for f in list(https.received.frames)) == done

            wait_for(syslogged, 60, "rsyslogd")
            wait_for(lambda done=done: flood(m for *_, m in rsyslog.lines("tls")) == done, 60)
            wait_for(posted, 60, "https")
        seen = len(ticks(rsyslog.lines()))
        wait_for(lambda: len(ticks(rsyslog.lines())) >= seen + 5, 30, "ticks after the flood")
        service.report()
        [overflow] = [line for line in applog.lines if line.source == "drain"]
        assert "d.2" in overflow.text and overflow.text.startswith("Error L10")
        wait_for(lambda: any(m.startswith("Error L10") for *_, m in rsyslog.lines()), 30)
        # The last drain goes: the app's output is no longer followed.
        store.rows = []
        service.changed()
        wait_for(lambda: not service.followed() and not service.outlets(), 30)
    finally:
        service.close()
        scheduler.remove(app.id)
        https.close()
        hole.close()


TICKING_WEB = (
    b"web: sh -c 'httpd -p $PORT -h /; i=0; "
    b'while true; do echo "tick $i"; i=$((i+1)); sleep 0.2; done\'\n'
)


def test_empire_server_drains_a_deployed_apps_output(
    tmp_path: Path, rsyslog: Rsyslog, busybox_image: Any, docker_client: Any
) -> None:
    """`empire server` on the Docker engine: a drain added through the API gets the deployed
    app's output, with the app's name and the process slot, until it is removed."""
    network = f"empire-drains-{uuid.uuid4().hex[:8]}"
    server = EmpireServer(
        tmp_path / "empire",
        env=docker_env(
            network,
            EMPIRE_RECONCILE_INTERVAL="10",  # the defaults: this test needs no faster round
            EMPIRE_DRAIN_SECONDS="2",
            EMPIRE_STOP_TIMEOUT="2",
            EMPIRE_DRAINS_ALLOW_LOCAL="true",
        ),
    )
    server.data_dir.mkdir(parents=True)
    token = server.create_user("alice")
    server.start()
    api = httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"})
    image = busybox_image(workdir="/app", procfile=TICKING_WEB)
    app = image.tag.split(":")[0]
    try:
        with api.stream("POST", "/deploys", json={"image": image.tag}, timeout=120) as response:
            assert response.status_code == 200
            last = [line for line in response.iter_lines() if line][-1]
        assert "succeeded" in last, last
        url = f"syslog://127.0.0.1:{rsyslog.port}"
        added = api.post(f"/apps/{app}/log-drains", json={"url": url})
        assert added.status_code == 201, added.text
        token = added.json()["token"]
        ticks = lambda: [f for f in rsyslog.lines() if f[3].startswith("tick ")]  # noqa: E731
        wait_for(lambda: len(ticks()) >= 3, 60, "the app's ticks at rsyslogd")
        assert ticks()[0][:3] == [token, app, "web.1"]
        assert api.delete(f"/apps/{app}/log-drains/{token}").status_code == 200
        assert api.get(f"/apps/{app}/log-drains").json() == []
    finally:
        api.delete(f"/apps/{app}", timeout=60)
        api.close()
        server.stop()
        remove_network(docker_client, network)
