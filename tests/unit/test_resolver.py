"""The resolver's answers and the routing table's records, pure (no sockets, no engine)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype

from empire.router import Certificate, Endpoint, Route, table
from empire.router.caddy import ABSENT_PORT, DOWN_PORT
from empire.router.resolver import Records, Resolver, answer

ACME = Route(
    "id-acme",
    "acme",
    hostnames=("www.acme.test", "*.shop.test"),
    processes=(
        ("web", (Endpoint("c-web-1", 80), Endpoint("c-web-2", 80))),
        ("api", (Endpoint("c-api-1", 8080),)),
        ("admin", ()),
    ),
)
DEEP = Route("id-deep", "deep", ("*.eu.shop.test",), (("web", (Endpoint("c-deep-1", 80),)),))
QUIET = Route("id-quiet", "quiet", ("quiet.test",))  # public, no process with ports


def records(*routes: Route) -> Records:
    return Records(table.records(routes, generation=7, address="10.9.0.2", name="rt"))


def ask(recs: Records, name: str, kind: str) -> dns.message.Message | None:
    return answer(recs, dns.message.make_query(name, kind))


def srv(recs: Records, name: str) -> list[tuple[str, int]]:
    response = ask(recs, name, "SRV")
    assert response is not None and response.rcode() == dns.rcode.NOERROR
    assert response.flags & dns.flags.AA
    [rrset] = response.answer
    return sorted((r.target.to_text(), r.port) for r in rrset)


def test_internal_names_are_the_routers_address_and_only_for_processes_with_ports() -> None:
    recs = records(ACME)
    for name in ("acme.", "web.acme.", "api.acme.", "admin.acme.", "ACME."):
        response = ask(recs, name, "A")
        assert response is not None, name
        assert [r.address for r in response.answer[0]] == ["10.9.0.2"]
    aaaa = ask(recs, "acme.", "AAAA")
    assert aaaa is not None and aaaa.answer == [] and aaaa.rcode() == dns.rcode.NOERROR
    # Everything else is the upstream's business (forwarded): other processes, other names.
    for name in ("worker.acme.", "acme.com.", "x.web.acme.", "github.com.", "nope."):
        assert ask(recs, name, "A") is None, name


def test_internal_hosts_go_to_the_instances_of_their_process() -> None:
    recs = records(ACME)
    assert srv(recs, "acme._internal._empire.") == [("c-web-1.", 80), ("c-web-2.", 80)]
    assert srv(recs, "web.acme._internal._empire.") == [("c-web-1.", 80), ("c-web-2.", 80)]
    assert srv(recs, "api.acme._internal._empire.") == [("c-api-1.", 8080)]
    assert srv(recs, "admin.acme._internal._empire.") == [("rt.", DOWN_PORT)]  # none healthy
    assert srv(recs, "nope._internal._empire.") == [("rt.", ABSENT_PORT)]
    assert srv(recs, "worker.acme._internal._empire.") == [("rt.", ABSENT_PORT)]


def test_public_hosts_exact_then_the_most_specific_wildcard() -> None:
    recs = records(ACME, DEEP, QUIET)
    assert srv(recs, "www.acme.test._public._empire.") == [("c-web-1.", 80), ("c-web-2.", 80)]
    assert srv(recs, "WWW.Acme.Test._public._empire.") == [("c-web-1.", 80), ("c-web-2.", 80)]
    assert srv(recs, "a.shop.test._public._empire.") == [("c-web-1.", 80), ("c-web-2.", 80)]
    assert srv(recs, "x.eu.shop.test._public._empire.") == [("c-deep-1.", 80)]
    assert srv(recs, "shop.test._public._empire.") == [("rt.", ABSENT_PORT)]
    assert srv(recs, "quiet.test._public._empire.") == [("rt.", DOWN_PORT)]
    assert srv(recs, "acme._public._empire.") == [("rt.", ABSENT_PORT)]  # internal names only


def test_the_zone_answers_its_generation_and_nothing_else() -> None:
    recs = records(ACME)
    response = ask(recs, "generation._empire.", "TXT")
    assert response is not None and response.answer[0][0].strings == (b"7",)
    nothing = ask(recs, "other._empire.", "A")
    assert nothing is not None and nothing.rcode() == dns.rcode.NXDOMAIN


def test_a_table_survives_the_round_trip_through_its_records() -> None:
    cert = Certificate("CERT", "KEY")
    acme = Route(ACME.app_id, ACME.app_name, ACME.hostnames, ACME.processes, cert)
    document = json.loads(
        json.dumps(table.records([acme, DEEP], generation=3, address="a", name="r"))
    )
    back = {r.app_id: r for r in table.routes(document, {"id-acme": cert})}
    assert back["id-acme"] == Route(
        "id-acme", "acme", tuple(sorted(acme.hostnames)), acme.processes, cert
    )
    assert back["id-deep"] == DEEP
    assert table.generation(document) == 3
    assert table.routes({"apps": "nonsense"}, {}) == []


def test_a_bad_records_file_keeps_the_last_good_one(tmp_path: Path) -> None:
    path = tmp_path / "records.json"
    resolver = Resolver(path, ("127.0.0.1", 9))
    path.write_text(json.dumps(table.records([ACME], generation=1, address="a", name="r")))
    assert resolver.reload() and resolver.records.generation == 1
    path.write_text("{not json")
    assert not resolver.reload()
    assert resolver.records.generation == 1
    query = dns.message.make_query("acme._internal._empire.", "SRV")
    wire = asyncio.run(resolver.resolve(query.to_wire()))
    assert wire is not None
    assert dns.message.from_wire(wire).answer[0].rdtype == dns.rdatatype.SRV
    assert asyncio.run(resolver.resolve(b"\x00garbage")) is None


def test_a_large_answer_over_udp_is_truncated_for_the_client_to_ask_over_tcp(
    tmp_path: Path,
) -> None:
    many = Route(
        "id-big",
        "big",
        (),
        (("web", tuple(Endpoint(f"c-{n:03d}-" + "x" * 40, 80) for n in range(60))),),
    )
    path = tmp_path / "records.json"
    path.write_text(json.dumps(table.records([many], generation=1, address="a", name="r")))
    resolver = Resolver(path, ("127.0.0.1", 9))
    resolver.reload()
    query = dns.message.make_query("big._internal._empire.", "SRV").to_wire()
    udp = dns.message.from_wire(asyncio.run(resolver.resolve(query)) or b"")
    assert udp.flags & dns.flags.TC and not udp.answer
    tcp = dns.message.from_wire(asyncio.run(resolver.resolve(query, tcp=True)) or b"")
    assert len(tcp.answer[0]) == 60
