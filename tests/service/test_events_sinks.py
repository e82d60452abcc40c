"""Where events go: the store (with the webhook outbox, in one transaction) and stdout; and
what they never contain: config values."""

from __future__ import annotations

import contextvars
import io
import json
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from empire.audit import StoreSink
from empire.errors import EmpireError
from empire.events import REQUEST_ID, Event, FanOut, MemorySink, event_json
from empire.model import Page
from empire.settings import Settings
from empire.store import tables as t
from empire.store.sql import SqlTransaction
from empire.wiring import build_event_sink
from support.stack import FROZEN, Stack, make_stack

HOOKS = "https://hooks.example.com/empire,http://127.0.0.1:9/audit"
CANARY = "s3cr3t-canary-value"
CANARY_URL = f"postgres://app:{CANARY}-pw@db.internal/app"


def webhook_stack(tmp_path: Path, hooks: str = HOOKS) -> Stack:
    return make_stack(tmp_path, env={"EMPIRE_WEBHOOKS": hooks})


@contextmanager
def request_id(value: str) -> Iterator[None]:
    """Serve as if in request `value` (the gate sets it per request; tests must unset it)."""
    bound = REQUEST_ID.set(value)
    try:
        yield
    finally:
        REQUEST_ID.reset(bound)


def rows(stack: Stack, table: Any) -> list[dict[str, Any]]:
    with stack.store.engine.connect() as conn:
        return [dict(row._mapping) for row in conn.execute(select(table))]


def count(stack: Stack, table: Any) -> int:
    with stack.store.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def test_each_stored_event_gets_one_pending_delivery_per_webhook_url(tmp_path: Path) -> None:
    stack = webhook_stack(tmp_path)
    stack.empire.create("acme", by=stack.user, message="first")
    stack.empire.set_config("acme", {"FOO": "bar"}, by=stack.user)
    events = rows(stack, t.events)
    deliveries = rows(stack, t.deliveries)
    assert [e["kind"] for e in events] == ["create", "set"]
    assert len(deliveries) == 4
    for event in events:
        mine = [d for d in deliveries if d["event_seq"] == event["seq"]]
        assert sorted(d["url"] for d in mine) == sorted(HOOKS.split(","))
        assert {d["state"] for d in mine} == {"pending"}
        assert {d["attempts"] for d in mine} == {0}
        body = json.loads(mine[0]["body"])
        assert mine[0]["body"] == mine[1]["body"]  # one document, signed per attempt
        assert body["seq"] == event["seq"]
        assert (body["kind"], body["user"], body["app"]) == (event["kind"], "alice", "acme")
        assert body["at"] == "2026-11-26T10:00:00Z"
    first = json.loads(next(d["body"] for d in deliveries if d["event_seq"] == events[0]["seq"]))
    assert first["message"] == "first"
    assert first["text"] == "alice created acme"


def test_without_webhooks_no_delivery_is_recorded(tmp_path: Path) -> None:
    stack = make_stack(tmp_path)
    stack.empire.create("acme", by=stack.user)
    assert (count(stack, t.events), count(stack, t.deliveries)) == (1, 0)


def test_the_event_and_its_deliveries_commit_together_or_not_at_all(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The outbox is transactional: a failure while queueing the second URL's delivery
    leaves neither the event nor the first delivery behind."""
    stack = webhook_stack(tmp_path)
    stack.empire.create("acme", by=stack.user)
    assert (count(stack, t.events), count(stack, t.deliveries)) == (1, 2)
    original = SqlTransaction.insert_delivery
    calls: list[str] = []

    def flaky(self: SqlTransaction, delivery: Any) -> None:
        calls.append(delivery.url)
        if len(calls) == 2:
            raise RuntimeError("the database went away")
        original(self, delivery)

    monkeypatch.setattr(SqlTransaction, "insert_delivery", flaky)
    sink = StoreSink(stack.store, HOOKS.split(","))
    event = Event("restart", "alice", "acme", "alice restarted acme", None, FROZEN)
    with pytest.raises(RuntimeError):
        sink.publish(event)
    assert len(calls) == 2
    assert (count(stack, t.events), count(stack, t.deliveries)) == (1, 2)
    monkeypatch.setattr(SqlTransaction, "insert_delivery", original)
    sink.publish(event)
    assert (count(stack, t.events), count(stack, t.deliveries)) == (2, 4)


def test_events_go_to_stdout_as_json_lines(tmp_path: Path) -> None:
    stack = make_stack(tmp_path)
    out = io.StringIO()
    settings = Settings.from_env({"EMPIRE_DATA_DIR": str(tmp_path)})
    stack.empire.events = FanOut(stack.empire.events, build_event_sink(settings, out))
    with request_id("req-42"):
        stack.empire.create("acme", by=stack.user, message="hello")
        stack.empire.set_config("acme", {"FOO": "bar", "BAZ": "qux"}, by=stack.user)
    lines = out.getvalue().splitlines()
    assert [json.loads(line) for line in lines] == [
        {
            "kind": "create",
            "user": "alice",
            "app": "acme",
            "text": "alice created acme",
            "message": "hello",
            "request_id": "req-42",
            "at": "2026-11-26T10:00:00Z",
            "data": {},
        },
        {
            "kind": "set",
            "user": "alice",
            "app": "acme",
            "text": "alice changed environment variables on acme (BAZ, FOO)",
            "message": None,
            "request_id": "req-42",
            "at": "2026-11-26T10:00:00Z",
            "data": {},
        },
    ]


def test_stdout_can_be_turned_off(tmp_path: Path) -> None:
    settings = Settings.from_env(
        {"EMPIRE_DATA_DIR": str(tmp_path), "EMPIRE_EVENTS_STDOUT": "false"}
    )
    out = io.StringIO()
    sink = build_event_sink(settings, out)
    sink.publish(Event("create", "alice", "acme", "alice created acme", None, FROZEN))
    assert out.getvalue() == ""


def test_an_event_carries_the_request_id_into_threads(tmp_path: Path) -> None:
    """What the gate sets reaches events built in a thread started with a copy of the
    context (the deploy stream's thread, Starlette's threadpool)."""
    stack = make_stack(tmp_path)
    with request_id("req-in-thread"):
        context = contextvars.copy_context()
    thread = threading.Thread(
        target=context.run, args=(stack.empire.create, "acme"), kwargs={"by": stack.user}
    )
    thread.start()
    thread.join()
    stack.empire.create("other", by=stack.user)  # no request: no id
    assert [e.request_id for e in stack.events.events] == ["req-in-thread", None]
    assert [
        e.request_id for e in stack.empire.audit("acme", Page(field="created_at"), by=stack.user)
    ] == ["req-in-thread"]


def test_config_values_never_reach_events_stdout_webhooks_or_logs(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    stack = webhook_stack(tmp_path)
    out = io.StringIO()
    settings = Settings.from_env({"EMPIRE_DATA_DIR": str(tmp_path)})
    memory = MemorySink()
    stack.empire.events = FanOut(stack.empire.events, build_event_sink(settings, out), memory)
    empire, alice = stack.empire, stack.user
    empire.deploy("remind101/acme-inc:v1", by=alice)
    empire.set_config("acme-inc", {"API_TOKEN": CANARY, "DATABASE_URL": CANARY_URL}, by=alice)
    empire.set_config("acme-inc", {"API_TOKEN": None}, by=alice, message="rotate")
    empire.rollback("acme-inc", "v2", by=alice)
    empire.restart("acme-inc", by=alice)
    refusals = []
    for bad in ({"1BAD": CANARY}, {"bad-name": CANARY_URL}):
        with pytest.raises(EmpireError) as refused:
            empire.set_config("acme-inc", dict(bad), by=alice)
        refusals.append(refused.value.message)
    assert memory.events, "events were published"
    assert any(e.kind == "set" for e in memory.events)
    seen = {
        "events": [json.dumps(event_json(e)) for e in memory.events],
        "stdout": out.getvalue().splitlines(),
        "stored": [json.dumps(row, default=str) for row in rows(stack, t.events)],
        "webhooks": [d["body"] for d in rows(stack, t.deliveries)],
        "logs": [record.getMessage() for record in caplog.records],
        "errors": refusals,
    }
    assert seen["webhooks"] and seen["stdout"] and seen["stored"]
    for where, texts in seen.items():
        for text in texts:
            assert CANARY not in text, (where, text)
    set_events = [e for e in memory.events if e.kind == "set"]
    assert "API_TOKEN, DATABASE_URL" in set_events[0].text  # names, never values


def test_a_write_and_its_event_commit_together_and_notifications_follow_the_commit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Config changes, deploys, rollbacks and scales record their event in their own
    transaction: a failure recording it undoes the write, and stdout-like sinks hear of it
    only once it is committed."""
    stack = make_stack(tmp_path)
    stack.empire.deploy("acme/web:v1", by=stack.user)
    heard: list[tuple[str, dict[str, str]]] = []

    class Witness:
        def publish(self, event: Event) -> None:  # sees the committed state
            heard.append((event.kind, stack.empire.config("web", by=stack.user)))

    stack.empire.events = FanOut(StoreSink(stack.store), Witness())
    stack.empire.set_config("web", {"FOO": "bar"}, by=stack.user)
    assert heard == [("set", {"FOO": "bar"})]

    def broken(self: SqlTransaction, event: Event) -> None:
        raise RuntimeError("the events table is unwritable")

    monkeypatch.setattr(SqlTransaction, "insert_event", broken)
    every = Page(field="version", max=100)
    releases = len(stack.empire.releases("web", every, by=stack.user))
    with pytest.raises(RuntimeError):
        stack.empire.set_config("web", {"FOO": "lost"}, by=stack.user)
    assert stack.empire.config("web", by=stack.user) == {"FOO": "bar"}
    assert len(stack.empire.releases("web", every, by=stack.user)) == releases
    assert heard == [("set", {"FOO": "bar"})]
