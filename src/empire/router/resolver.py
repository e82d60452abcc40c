"""The resolver behind discovery and routing: a small DNS server Empire updates.

It runs inside the router container, beside Caddy, in the same network namespace, so it
lives, restarts and moves with the router, on every backend, whether Empire runs or not.
Every container Empire starts uses it as its DNS server (through the engine's embedded DNS,
which answers container names itself and forwards the rest here), and Caddy asks it where to
send each request. What it answers comes from one JSON document Empire writes
(`records.json`, reloaded when it changes):

    {"generation": 7,
     "router": {"address": "172.22.0.2", "name": "empire-router"},
     "sentinels": {"absent": 8404, "down": 8503},
     "apps": {"acme": {"web": [["empire-acme-web-1-v3-1a2b", 80]], "worker": []}},
     "hosts": {"www.acme.test": "acme", "*.shop.test": "shop"}}

- `acme.` and `worker.acme.` (an app, and a process of it that has ports) are the router's
  address: every internal request goes through the router, which keeps connections alive
  and retries, so no release, scale or restart loses one (`http://<app>/` reaches web).
- `<host>._public._empire.` and `<host>._internal._empire.` are SRV records: where the
  router sends a request for that Host (the public domains; the internal names). Only the
  instances of the current release that are healthy are listed; an instance leaves before it
  is stopped. A Host no app has gets the router's own "absent" server (404), an app without a
  healthy instance its "down" server (503). Wildcard domains match, the most specific first.
- `generation._empire.` (TXT) says which document it serves.
- Every other name is forwarded to the upstream resolver (the engine's embedded DNS), as the
  container would have asked it.

Run: `python3 resolver.py --records FILE --listen ADDR:PORT --upstream ADDR:PORT
[--control SOCKET]`. The control socket answers `generation` with the generation it serves.
This module imports nothing of Empire (it is copied alone into the router image).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import json
import logging
import os
import socket
import struct
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset

ZONE = "_empire"
PUBLIC = f"._public.{ZONE}"
INTERNAL = f"._internal.{ZONE}"
GENERATION = f"generation.{ZONE}"
RELOAD_EVERY = 0.05  # seconds between looks at the records file
UPSTREAM_TIMEOUT = 3.0
log = logging.getLogger("empire.resolver")

Target = tuple[str, int]  # (a name the router resolves, a port)


class Records:
    """One records document, and the answers it gives."""

    def __init__(self, document: Mapping[str, Any] | None = None) -> None:
        document = document or {}
        self.generation = int(document.get("generation") or 0)
        router = document.get("router") or {}
        self.address = str(router.get("address") or "")
        # The router's address on each network it serves (apps isolated on networks of their
        # own): a container is answered with the address on its own network.
        self.networks = [
            (ipaddress.ip_network(str(n["subnet"]), strict=False), str(n["address"]))
            for n in document.get("networks") or []
        ]
        self.router = str(router.get("name") or "")
        sentinels = document.get("sentinels") or {}
        self.absent: Target = (self.router, int(sentinels.get("absent") or 8404))
        self.down: Target = (self.router, int(sentinels.get("down") or 8503))
        self.apps: dict[str, dict[str, list[Target]]] = {
            str(app).lower(): {
                str(process).lower(): [(str(t[0]), int(t[1])) for t in targets]
                for process, targets in (processes or {}).items()
            }
            for app, processes in (document.get("apps") or {}).items()
        }
        self.hosts = {
            str(h).lower(): str(a).lower() for h, a in (document.get("hosts") or {}).items()
        }

    def address_for(self, source: str | None) -> str:
        """The router's address as the container at `source` reaches it."""
        if source and self.networks:
            try:
                client = ipaddress.ip_address(source)
            except ValueError:
                return self.address
            for network, address in self.networks:
                if client in network:
                    return address
        return self.address

    def internal_name(self, name: str) -> bool:
        """Whether `name` is an app (with a web process) or `<process>.<app>`."""
        first, _, rest = name.partition(".")
        if not rest:
            return "web" in self.apps.get(first, {})
        return "." not in rest and first in self.apps.get(rest, {})

    def public(self, host: str) -> list[Target]:
        """Where a request for a public Host goes."""
        app = self.hosts.get(host)
        labels = host.split(".")
        for i in range(1, len(labels)):  # the most specific wildcard first
            if app is not None:
                break
            app = self.hosts.get("*." + ".".join(labels[i:]))
        if app is None:
            return [self.absent]
        return self.apps.get(app, {}).get("web") or [self.down]

    def internal(self, host: str) -> list[Target]:
        """Where a request for an internal Host (`<app>`, `<process>.<app>`) goes."""
        first, _, rest = host.partition(".")
        app, process = (rest, first) if rest else (first, "web")
        targets = self.apps.get(app, {}).get(process)
        if targets is None:
            return [self.absent]
        return targets or [self.down]


def answer(
    records: Records, query: dns.message.Message, source: str | None = None
) -> dns.message.Message | None:
    """The answer to a query in Empire's names (from the client at `source`), or None when it
    is to be forwarded."""
    if len(query.question) != 1:
        return None
    question = query.question[0]
    name = question.name.to_text(omit_final_dot=True).lower()
    kind = question.rdtype
    response = dns.message.make_response(query)
    response.flags |= dns.flags.AA
    if name == ZONE or name.endswith("." + ZONE):
        if name == GENERATION and kind == dns.rdatatype.TXT:
            response.answer.append(_rrset(question.name, "TXT", [f'"{records.generation}"']))
        elif name.endswith(PUBLIC) or name.endswith(INTERNAL):
            if kind == dns.rdatatype.SRV:
                if name.endswith(PUBLIC):
                    targets = records.public(name[: -len(PUBLIC)])
                else:
                    targets = records.internal(name[: -len(INTERNAL)])
                rdatas = [f"0 1 {port} {target}." for target, port in targets]
                response.answer.append(_rrset(question.name, "SRV", rdatas))
        else:
            response.set_rcode(dns.rcode.NXDOMAIN)
        return response
    if records.internal_name(name):
        address = records.address_for(source)
        if kind == dns.rdatatype.A and address:
            response.answer.append(_rrset(question.name, "A", [address]))
        return response  # AAAA and the rest: the name exists, with no such record
    return None


def _rrset(name: dns.name.Name, kind: str, rdatas: list[str]) -> dns.rrset.RRset:
    return dns.rrset.from_text_list(name, 0, dns.rdataclass.IN, kind, rdatas)


class Resolver:
    """Serves the records over UDP and TCP; forwards the rest upstream."""

    def __init__(self, path: Path, upstream: tuple[str, int]) -> None:
        self.path = path
        self.upstream = upstream
        self.records = Records()
        self._stamp: tuple[int, int] | None = None

    def reload(self) -> bool:
        """Read the document again when it changed; keep the last good one when it is bad."""
        try:
            stat = self.path.stat()
        except OSError:
            return False
        stamp = (stat.st_mtime_ns, stat.st_size)
        if stamp == self._stamp:
            return False
        try:
            self.records = Records(json.loads(self.path.read_bytes()))
        except (OSError, ValueError, TypeError, AttributeError, IndexError) as e:
            log.error("records %s not loaded: %s", self.path, e)
            return False
        finally:
            self._stamp = stamp
        return True

    async def resolve(
        self, wire: bytes, *, tcp: bool = False, source: str | None = None
    ) -> bytes | None:
        """The answer to one query's wire form (None: nothing can be said)."""
        try:
            query = dns.message.from_wire(wire)
        except Exception:
            return None
        try:
            response = answer(self.records, query, source)
        except Exception:
            log.exception("answering %s", query.question)
            response = dns.message.make_response(query)
            response.set_rcode(dns.rcode.SERVFAIL)
        if response is not None:
            return _wire(response, query, tcp=tcp)
        return await self.forward(wire, query, tcp=tcp)

    async def forward(self, wire: bytes, query: dns.message.Message, *, tcp: bool) -> bytes:
        try:
            if tcp:
                return await asyncio.wait_for(_tcp(self.upstream, wire), UPSTREAM_TIMEOUT)
            return await asyncio.wait_for(_udp(self.upstream, wire), UPSTREAM_TIMEOUT)
        except (OSError, TimeoutError, asyncio.IncompleteReadError, struct.error):
            failed = dns.message.make_response(query)
            failed.set_rcode(dns.rcode.SERVFAIL)
            return failed.to_wire()


def _wire(response: dns.message.Message, query: dns.message.Message, *, tcp: bool) -> bytes:
    """The response's wire form; over UDP, truncated (TC) when it does not fit the client's
    buffer, so that the client asks again over TCP."""
    size = 65535 if tcp else max(512, query.payload if query.edns >= 0 else 512)
    try:
        return response.to_wire(max_size=size)
    except dns.exception.TooBig:
        response.answer.clear()
        response.flags |= dns.flags.TC
        return response.to_wire()


async def _udp(upstream: tuple[str, int], wire: bytes) -> bytes:
    loop = asyncio.get_running_loop()
    answered: asyncio.Future[bytes] = loop.create_future()

    class Client(asyncio.DatagramProtocol):
        def datagram_received(self, data: bytes, addr: object) -> None:
            if not answered.done():
                answered.set_result(data)

        def error_received(self, exc: Exception) -> None:
            if not answered.done():
                answered.set_exception(exc)

    transport, _ = await loop.create_datagram_endpoint(Client, remote_addr=upstream)
    try:
        transport.sendto(wire)
        return await answered
    finally:
        transport.close()


async def _tcp(upstream: tuple[str, int], wire: bytes) -> bytes:
    reader, writer = await asyncio.open_connection(*upstream)
    try:
        writer.write(struct.pack("!H", len(wire)) + wire)
        await writer.drain()
        size = struct.unpack("!H", await reader.readexactly(2))[0]
        return await reader.readexactly(size)
    finally:
        writer.close()


class _Udp(asyncio.DatagramProtocol):
    def __init__(self, resolver: Resolver) -> None:
        self.resolver = resolver
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: Any) -> None:
        asyncio.get_running_loop().create_task(self._reply(data, addr))

    async def _reply(self, data: bytes, addr: Any) -> None:
        reply = await self.resolver.resolve(data, source=str(addr[0]))
        if reply is not None and self.transport is not None:
            self.transport.sendto(reply, addr)


async def _serve_tcp(
    resolver: Resolver, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    peer = writer.get_extra_info("peername")
    source = str(peer[0]) if peer else None
    try:
        while True:
            size = struct.unpack("!H", await asyncio.wait_for(reader.readexactly(2), 10))[0]
            wire = await asyncio.wait_for(reader.readexactly(size), 10)
            reply = await resolver.resolve(wire, tcp=True, source=source)
            if reply is None:
                return
            writer.write(struct.pack("!H", len(reply)) + reply)
            await writer.drain()
    except (OSError, TimeoutError, asyncio.IncompleteReadError):
        return
    finally:
        writer.close()


async def _serve_control(
    resolver: Resolver, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    with contextlib.suppress(OSError, TimeoutError, asyncio.IncompleteReadError):
        line = await asyncio.wait_for(reader.readline(), 5)
        if line.strip() == b"generation":
            resolver.reload()
            writer.write(f"{resolver.records.generation}\n".encode())
            await writer.drain()
    writer.close()


async def serve(resolver: Resolver, listen: tuple[str, int], control: Path | None = None) -> None:
    """Serve until cancelled."""
    loop = asyncio.get_running_loop()
    resolver.reload()
    family = socket.AF_INET6 if ":" in listen[0] else socket.AF_INET
    await loop.create_datagram_endpoint(lambda: _Udp(resolver), local_addr=listen, family=family)
    tcp = await asyncio.start_server(lambda r, w: _serve_tcp(resolver, r, w), *listen)
    servers = [tcp]
    if control is not None:
        control.unlink(missing_ok=True)
        servers.append(
            await asyncio.start_unix_server(lambda r, w: _serve_control(resolver, r, w), control)
        )
        os.chmod(control, 0o600)
    log.info(
        "serving %s on %s:%d (generation %d)", resolver.path, *listen, resolver.records.generation
    )
    while True:
        await asyncio.sleep(RELOAD_EVERY)
        resolver.reload()


def _address(text: str, port: int) -> tuple[str, int]:
    host, sep, rest = text.rpartition(":")
    if not sep or "]" in rest:
        return text.strip("[]"), port
    return host.strip("[]"), int(rest)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Empire's resolver (see the module docstring)")
    parser.add_argument("--records", type=Path, required=True)
    parser.add_argument("--listen", default="0.0.0.0:53")
    parser.add_argument("--upstream", default="127.0.0.11:53")
    parser.add_argument("--control", type=Path)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="resolver: %(message)s")
    resolver = Resolver(args.records, _address(args.upstream, 53))
    asyncio.run(serve(resolver, _address(args.listen, 53), args.control))


if __name__ == "__main__":
    main()
