"""Units: the scale grammar, Go durations, dotenv."""

from __future__ import annotations

import pytest

from emp import dotenv
from emp.parsing import ParseError, ScaleArg, normalize_size, parse_duration, parse_scale_arg


@pytest.mark.parametrize(
    ("arg", "parsed"),
    [
        ("web=2", ScaleArg("web", 2, None)),
        ("web=-1", ScaleArg("web", -1, None)),
        ("web=1X", ScaleArg("web", None, "1X")),
        ("web=2x", ScaleArg("web", None, "2X")),
        ("web=px", ScaleArg("web", None, "PX")),
        ("web=2:1X", ScaleArg("web", 2, "1X")),
        ("web=:2X", ScaleArg("web", None, "2X")),  # no quantity: the server keeps it
        ("web=2:", ScaleArg("web", 2, None)),
        ("web=3:256:2gb", ScaleArg("web", 3, "256:2GB")),
        ("web=1:512:1024mb", ScaleArg("web", 1, "512:1024MB")),
        ("worker=1:256:1gb:nproc=64", ScaleArg("worker", 1, "256:1GB:nproc=64")),
        ("worker=:256:1GB:NPROC=64", ScaleArg("worker", None, "256:1GB:nproc=64")),
    ],
)
def test_scale_arg(arg: str, parsed: ScaleArg) -> None:
    assert parse_scale_arg(arg) == parsed


@pytest.mark.parametrize(
    "arg", ["web", "web=", "=2", "web =2", "web= 2", "web=1X:5", "web=two", "web=:", "web=1.5"]
)
def test_invalid_scale_arg(arg: str) -> None:
    with pytest.raises(ParseError):
        parse_scale_arg(arg)


def test_normalize_size() -> None:
    assert normalize_size("2x") == "2X"
    assert normalize_size("512:1gb:nproc=100") == "512:1GB:nproc=100"


@pytest.mark.parametrize(
    ("text", "ns"),
    [
        ("0", 0),
        ("10m", 600_000_000_000),
        ("1h30m", 5_400_000_000_000),
        ("1.5s", 1_500_000_000),
        ("300ms", 300_000_000),
        ("2h45m30s", 9_930_000_000_000),
    ],
)
def test_parse_duration(text: str, ns: int) -> None:
    assert parse_duration(text) == ns


@pytest.mark.parametrize("text", ["", "10", "m", "10 m", "1d", "ten minutes"])
def test_invalid_duration(text: str) -> None:
    with pytest.raises(ParseError):
        parse_duration(text)


def test_dotenv_parse() -> None:
    text = (
        "# comment\n"
        "\n"
        "export A=1\n"
        "B = two words # comment\n"
        "HASH=a#b\n"
        'C="multi\n'
        'line \\"q\\" \\\\ \\u00e9"\n'
        "D='single \\n # kept'\n"
        "E: yaml\n"
        "F=\n"
        'G=""  # empty\n'
        "FOO.BAR=dotted\n"
    )
    assert dotenv.parse(text) == {
        "A": "1",
        "B": "two words",
        "HASH": "a#b",
        "C": 'multi\nline "q" \\ é',
        "D": "single \n # kept",
        "E": "yaml",
        "F": "",
        "G": "",
        "FOO.BAR": "dotted",
    }


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("lol$wut\n", "f.env:1: expected KEY=value, got 'lol$wut'"),
        ("A=1\n\nB='open\n", "f.env:3: unterminated ' quoted value"),
        ('A="x" y\n', "f.env:1: unexpected 'y' after the closing quote"),
    ],
)
def test_dotenv_errors(text: str, message: str) -> None:
    with pytest.raises(ParseError, match=message.replace("$", r"\$")):
        dotenv.parse(text, "f.env")


def test_dotenv_write_round_trips() -> None:
    values = {"B": 'x\ny "z"\\', "A": "é\u200b\t", "C": ""}
    written = dotenv.write(values)
    assert written == 'A="é\\u200b\\t"\nB="x\\ny \\"z\\"\\\\"\nC=""\n'
    assert dotenv.parse(written) == values
