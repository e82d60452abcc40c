"""The app log: platform lines kept, escaped, listened to, merged with process output."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from empire.applog import API, ROUTER, LogLine
from empire.applogs import merge, text
from empire.applogs.memory import MemoryAppLog
from empire.applogs.sentences import AppLogSink, sentence
from empire.events import Event
from empire.scheduler import LogQuery

T0 = datetime(2026, 11, 26, 10, 0, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def line(source: str, words: str, seconds: float = 0, app_id: str = "id-1") -> LogLine:
    return LogLine(app_id, "acme", source, words, at(seconds))


# -- text ---------------------------------------------------------------------------------------


def test_control_characters_are_escaped_and_a_line_stays_one_line() -> None:
    assert text.escape("a\nb\rc\x1b[2J\x00d\te\x7f\x85\u2028") == (
        "a\\x0ab\\x0dc\\x1b[2J\\x00d\te\\x7f\\x85\\u2028"
    )


def test_a_quoted_field_escapes_quotes_and_backslashes_then_controls() -> None:
    assert text.quoted('/a"b\\c\nd') == '"/a\\"b\\\\c\\x0ad"'
    assert text.quoted("x" * 3000) == '"' + "x" * 2000 + '..."'


def test_a_line_is_bounded_in_bytes_without_splitting_a_character() -> None:
    kept = text.bounded("é" * 10_000)
    assert len(kept.encode()) == 10_000 and set(kept) == {"é"}
    assert len(text.clean("\n" * 100_000).encode()) == text.MAX_LINE


# -- the memory log -----------------------------------------------------------------------------


def test_history_is_bounded_per_app_in_lines_and_bytes() -> None:
    applog = MemoryAppLog(lines=3, max_bytes=25)
    for n in range(5):
        applog.write(line(API, f"line {n}", n))
    applog.write(line(API, "other app", app_id="id-2"))
    assert [x.text for x in applog.history("id-1")] == ["line 2", "line 3", "line 4"]
    applog.write(line(API, "x" * 20, 9))
    assert [x.text for x in applog.history("id-1")] == ["x" * 20]
    assert [x.text for x in applog.history("id-2")] == ["other app"]


def test_lines_are_kept_escaped_and_cut() -> None:
    applog = MemoryAppLog()
    applog.write(line("web.1\n", "a\nb" + "c" * 20_000))
    [kept] = applog.history("id-1")
    assert kept.source == "web.1\\x0a"
    assert kept.text.startswith("a\\x0abccc") and len(kept.text.encode()) == text.MAX_LINE
    assert "\n" not in str(kept)


def test_a_failing_listener_neither_stops_the_others_nor_the_writer() -> None:
    applog = MemoryAppLog()
    seen: list[str] = []

    def broken(_: LogLine) -> None:
        raise RuntimeError("boom")

    applog.listen(broken)
    stop = applog.listen(lambda x: seen.append(x.text))
    applog.write(line(API, "one"))
    stop()
    applog.write(line(API, "two"))
    assert seen == ["one"]
    assert [x.text for x in applog.history("id-1")] == ["one", "two"]


def test_follow_gives_history_then_only_newer_lines_of_its_app() -> None:
    applog = MemoryAppLog()
    applog.write(line(API, "before"))
    seen: list[str] = []
    history, stop = applog.follow("id-1", lambda x: seen.append(x.text))
    applog.write(line(API, "after"))
    applog.write(line(API, "elsewhere", app_id="id-2"))
    stop()
    applog.write(line(API, "stopped"))
    assert [x.text for x in history] == ["before"]
    assert seen == ["after"]


def test_forget_drops_an_app_s_history() -> None:
    applog = MemoryAppLog()
    applog.write(line(API, "x"))
    applog.forget("id-1")
    assert applog.history("id-1") == []


def test_a_destroyed_apps_late_lines_start_no_new_history() -> None:
    """Its containers' last events and late router lines come after the destroy."""
    applog = MemoryAppLog()
    applog.forget("id-1")
    applog.write(line(API, "State changed from up to down"))
    assert applog.history("id-1") == []
    assert applog._apps == {}


# -- api lines ----------------------------------------------------------------------------------


def event(kind: str, text_: str, data: dict[str, object] | None = None, **kw: object) -> Event:
    options: dict[str, object] = {"message": None, "app": "acme", "app_id": "id-1", **kw}
    return Event(
        kind,
        "alice",
        options["app"],  # type: ignore[arg-type]
        text_,
        options["message"],  # type: ignore[arg-type]
        T0,
        dict(data or {}),
        app_id=options["app_id"],  # type: ignore[arg-type]
    )


def test_a_release_is_said_as_heroku_says_it() -> None:
    deploy = event("deploy", "...", {"release": 5, "summary": "Deploy acme/acme-inc:v2"})
    assert sentence(deploy) == "Release v5 created by alice: Deploy acme/acme-inc:v2"
    config = event("set", "...", {"release": 6, "summary": "Set A, B config vars"}, message="hi")
    assert sentence(config) == "Release v6 created by alice: Set A, B config vars ('hi')"
    scale = event("scale", "alice scaled `web` on acme from 1(1X) to 2(1X)", message="m" * 999)
    assert sentence(scale) == f"alice scaled `web` on acme from 1(1X) to 2(1X) ('{'m' * 200}...')"


def test_the_sink_writes_api_lines_and_forgets_destroyed_apps() -> None:
    applog = MemoryAppLog()
    sink = AppLogSink(applog)
    sink.publish(event("maintenance", "alice enabled maintenance mode on acme\n"))
    sink.publish(event("team", "alice created team x", app=None, app_id=None))
    [kept] = applog.history("id-1")
    assert str(kept) == (
        "2026-11-26T10:00:00.000000Z acme[api]: alice enabled maintenance mode on acme\\x0a"
    )
    sink.publish(event("destroy", "alice destroyed acme"))
    assert applog.history("id-1") == []


# -- merged with process output -----------------------------------------------------------------


def process_lines(lines: list[str]) -> merge.ProcessLines:
    def read(query: LogQuery) -> list[str] | object:
        return iter(lines)

    return read  # type: ignore[return-value]


PROCESS = [
    "2026-11-26T10:00:01Z acme[web.1]: one",
    "2026-11-26T10:00:03Z acme[web.1]: three",
    "acme[web.1]: no time here",
]


def test_history_merges_platform_and_process_lines_in_time_order() -> None:
    applog = MemoryAppLog()
    applog.write(line(API, "zero", 0))
    applog.write(line(ROUTER, "two", 2))
    applog.write(line("web.1", "State changed from starting to up", 2.5))
    applog.write(line(API, "four", 4))
    got = list(merge.read(applog, "id-1", LogQuery(), process_lines(PROCESS)))
    assert [x.rsplit(": ", 1)[1] for x in got] == [
        "zero",
        "one",
        "two",
        "State changed from starting to up",
        "three",
        "no time here",
        "four",
    ]
    last = merge.read(applog, "id-1", LogQuery(lines=2), process_lines(PROCESS))
    assert [x.rsplit(": ", 1)[1] for x in last] == ["no time here", "four"]


def test_a_process_filter_selects_platform_sources_too() -> None:
    applog = MemoryAppLog()
    applog.write(line(API, "api line"))
    applog.write(line(ROUTER, "router line"))
    applog.write(line("web.2", "State changed from up to crashed"))
    asked: list[LogQuery] = []

    def backend(query: LogQuery) -> object:
        asked.append(query)
        return iter(())

    def read(process: str) -> list[str]:
        got = merge.read(applog, "id-1", LogQuery(process=process), backend)  # type: ignore[arg-type]
        return [x.split(" ", 1)[1] for x in got]

    assert read("router") == ["acme[router]: router line"]
    assert read("api") == ["acme[api]: api line"]
    assert asked == []  # the backend is not asked for the platform's own sources
    assert read("web") == ["acme[web.2]: State changed from up to crashed"]
    assert read("web.1") == []


def test_since_applies_to_platform_lines() -> None:
    applog = MemoryAppLog()
    applog.write(line(API, "old", 0))
    applog.write(line(API, "new", 10))
    got = merge.read(applog, "id-1", LogQuery(since=at(5)), process_lines([]))
    assert [x.rsplit(": ", 1)[1] for x in got] == ["new"]


def test_a_follow_gives_history_then_live_lines_and_stops_its_listener() -> None:
    applog = MemoryAppLog()
    applog.write(line(API, "kept", 0))
    go_on = threading.Event()

    def backend(query: LogQuery) -> object:
        def lines() -> object:
            yield "2026-11-26T10:00:01Z acme[web.1]: history"
            go_on.wait(5)
            yield ""
            yield "2099-01-01T00:00:00Z acme[web.1]: live process line"

        return lines()

    follow = merge.read(applog, "id-1", LogQuery(follow=True), backend)  # type: ignore[arg-type]
    assert next(follow).endswith("acme[api]: kept")
    assert next(follow).endswith("acme[web.1]: history")
    applog.write(line(ROUTER, "live router line", 99))
    go_on.set()
    rest: list[str] = []
    while len([x for x in rest if x]) < 2:
        rest.append(next(follow))
    assert [x for x in rest if x] == [
        "2026-11-26T10:01:39.000000Z acme[router]: live router line",
        "2099-01-01T00:00:00Z acme[web.1]: live process line",
    ]
    follow.close()
    applog.write(line(API, "after the follow"))  # no listener left to take it
    assert applog._followers == {}
