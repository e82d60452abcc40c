"""Units: tabwriter tables, prettyTime, prettyDuration, quoting."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from emp.output import abbrev, go_quote, maybe_quote, pretty_duration, pretty_time, table, tabwrite

NOW = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)


def test_table_pads_each_column_to_its_widest_cell_plus_two() -> None:
    assert table([["a", "bb", "c"], ["aaa", "", "cc"]]) == "a    bb  c\naaa      cc\n"


def test_table_last_column_is_not_padded() -> None:
    assert table([["x", "long last"], ["yy", "z"]]) == "x   long last\nyy  z\n"


def test_tabwriter_column_blocks_break_on_shorter_lines() -> None:
    # Go's tabwriter aligns a column only over consecutive lines that have a cell in it.
    assert tabwrite("a\tb\nccc\nd\te\n") == "a  b\nccc\nd  e\n"
    assert tabwrite("a\tb\tc\naaaa\tb\nx\n") == "a     b  c\naaaa  b\nx\n"


def test_table_counts_characters_not_bytes() -> None:
    assert table([["café", "x"], ["ab", "y"]]) == "café  x\nab    y\n"


@pytest.mark.parametrize(
    ("when", "text"),
    [
        (NOW, "Nov 26 10:00"),
        (datetime(2026, 1, 2, 3, 4, tzinfo=UTC), "Jan  2 03:04"),
        (NOW - timedelta(days=359), "Dec  2 10:00"),
        (NOW - timedelta(days=361), "Nov 30  2025"),
    ],
)
def test_pretty_time(when: datetime, text: str) -> None:
    assert pretty_time(when, NOW) == text


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, " 0s"),
        (5, " 5s"),
        (62, "62s"),
        (120, "120s"),
        (121, " 2m"),
        (150, " 2m"),  # Go's roundDur: (d + unit/2 - 1ns) / unit
        (151, " 3m"),
        (7200, "120m"),
        (7201, " 2h"),
        (2 * 86400, "48h"),
        (2 * 86400 + 1, " 2d"),
        (40 * 86400, "40d"),
    ],
)
def test_pretty_duration(seconds: int, text: str) -> None:
    assert pretty_duration(timedelta(seconds=seconds)) == text


def test_maybe_quote() -> None:
    assert maybe_quote("bash") == "bash"
    assert maybe_quote("web_1-x") == "web_1-x"
    assert maybe_quote("./bin/web") == '"./bin/web"'
    # Go's json.Marshal wrote & < > as \u0026 \u003c \u003e: unreadable, so not here
    assert maybe_quote('a "b" <c>&') == '"a \\"b\\" <c>&"'
    assert maybe_quote("x && y > /tmp/z") == '"x && y > /tmp/z"'
    assert maybe_quote("a\x1b[2Jb\x9bc\x7f") == '"a\\u001b[2Jb\\u009bc\\u007f"'


def test_go_quote() -> None:
    assert go_quote('a"b\\c\n\t') == '"a\\"b\\\\c\\n\\t"'
    assert go_quote("café \x01 \u200b") == '"café \\x01 \\u200b"'


def test_abbrev() -> None:
    assert abbrev("alice", 10) == "alice"
    assert abbrev("bartholomew", 10) == "bartholom…"
